"""Carry posts into Slack exactly once, and keep cards current.

Each post is claimed (pending -> posting) by a conditional UPDATE before
`chat.postMessage`, and the message carries the post id in its metadata. If the
answer is lost (timeout, crash) the post stays "posting" and `reconcile()` looks
for that metadata in the channel before ever posting it again.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.error import URLError
from uuid import uuid4

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import case as sql_case
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from bot.clock import utcnow
from bot.domain.states import SlackState
from bot.domain import lane
from bot.slack import blocks, lane_blocks, pacing
from storage import models as m
from storage.db import Database

log = logging.getLogger(__name__)
EVENT_TYPE = "socialdesk_post"
STUCK_AFTER = timedelta(seconds=60)
# Longer than one chat.update can take (15 s timeout, Retry-After waits): a lease this old was left by a dead
# process, and an edit Slack did not answer has landed (or never will) by the time it runs out.
CARD_LEASE = timedelta(seconds=60)
GONE = ("message_not_found", "channel_not_found", "cant_update_message", "is_archived")
MESSAGE_EVENT_TYPE = "socialdesk_message"
# Every UPDATE of a case bumps card_version (storage.models); the publisher's own bookkeeping says "same version".
_KEEP_VERSION = {"card_version": m.Case.card_version}
_PRIORITY_RANK = sql_case({"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=m.Case.priority, else_=4)
NOTE_RANK = 1  # a line in a card's thread (who did what) goes before normal new cards
LANE_RANK = 4  # the lane message goes after every card, low priority included
WAKE_AT_MOST_AFTER = 5.0  # a blocked queue is looked at again this soon at the latest
DRAIN_FOR = 30.0
ROUND_WAIT = 20.0  # a caller waits at most this long for the running pump's round  # a wake-up keeps sending at Slack's pace this long before handing over
ERROR_PAUSE = 5.0  # after an error other than 429, leave the channel alone this long


@dataclass(frozen=True)
class _Item:
    source: str  # post | message
    id: int
    channel: str
    rank: int
    at: datetime


def retry_after(headers) -> float:
    """Seconds Slack asked to wait (its Retry-After header), 1 s when it did not say."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, (list, tuple)) else value
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


def messages(method, **kwargs):
    """Every message of a history or thread: slack_sdk follows `next_cursor` page by page.

    Asks for 200 a page; Slack may give fewer (15 for apps outside the Marketplace since 2025).
    """
    for page in method(**kwargs, include_all_metadata=True, limit=200):
        yield from page.get("messages") or []


def _is_message(message: dict, message_id: int) -> bool:
    meta = message.get("metadata") or {}
    return meta.get("event_type") == MESSAGE_EVENT_TYPE and (meta.get("event_payload") or {}).get("message_id") == message_id


class Publisher:
    def __init__(self, client: WebClient, db: Database, *, rate: float = pacing.RATE, burst: int = pacing.BURST):
        self.client = client
        self.db = db
        self.rate, self.burst = rate, burst
        self.rate_limited = 0  # 429s Slack answered us (should stay near zero: we pace ourselves)
        self._pump_state = threading.Lock()
        self._round_done = threading.Condition(self._pump_state)
        self._asked = self._done = 0  # requests to deliver, and the last one a finished round covered
        self._pumping = self._closed = False
        self._timer: threading.Timer | None = None
        # kind -> build(session, row) -> {"text", "blocks", "thread_ts"} or None while its thread parent is not posted
        self.message_builders = {"note": _build_note, "lane": _build_lane}
        self.after_posted: dict = {"lane": _lane_posted}  # kind -> hook(session, row) once posted (e.g. remember an incident's ts)
        self.parent_finders: dict = {}  # kind -> (session, row) -> thread parent ts list, for reconcile

    # -- new posts and messages, paced ------------------------------------------

    def deliver_pending(self, batch: int = 100, max_wait: float = 0.0) -> int:
        """Post waiting cards, follow-ups and queued messages, most urgent first, paced per channel.

        One thread per process pumps. A caller that finds the pump running waits for
        its next round (which sees the caller's work) instead of sending in parallel.
        With `max_wait` the pump waits for Slack's budget instead of returning; work
        left over is picked up when the budget is back. Returns how many this call sent.
        """
        with self._pump_state:
            self._asked += 1
            if self._pumping:
                mine = self._asked
                self._round_done.notify_all()  # wakes a pump that sleeps until the budget is back
                self._round_done.wait_for(lambda: self._done >= mine or not self._pumping, timeout=ROUND_WAIT)
                return 0
            self._pumping = True
        deadline = time.monotonic() + max_wait
        posted, wait = 0, None
        try:
            sent, wait = self._pump(batch, deadline)
            posted += sent
        finally:
            with self._pump_state:
                self._pumping = False
                self._round_done.notify_all()
        if wait is not None:
            self._wake_later(wait)
        return posted

    def _pump(self, batch: int, deadline: float) -> tuple[int, float | None]:
        """Send in rounds until the queue is empty or out of budget; (sent, seconds until budget while work is left)."""
        posted, later = 0, set()
        while not self._closed:
            with self._pump_state:
                round_of = self._asked  # every request made so far is seen by this round's query
            items = self._queue(batch, later)
            blocked: dict[str, float] = {}
            progress = False
            for item in items:
                if item.channel in blocked:
                    continue
                outcome, wait = self._send(item)
                if outcome == "posted":
                    posted, progress = posted + 1, True
                elif outcome == "later":
                    later.add((item.source, item.id))
                    progress = True
                elif outcome == "wait":
                    blocked[item.channel] = wait
            if progress:
                continue
            with self._pump_state:
                self._done = max(self._done, round_of)
                self._round_done.notify_all()
                more = self._asked > round_of
            if more:
                continue
            if not blocked:
                return posted, None
            wait = min(blocked.values())
            if time.monotonic() + wait > deadline:
                return posted, wait
            with self._pump_state:
                if self._asked == round_of:
                    self._round_done.wait(timeout=wait)
        return posted, None

    def _wake_later(self, wait: float) -> None:
        """Work is left once the budget is back: come back for it then, without holding up the caller."""
        with self._pump_state:
            if self._closed or (self._timer is not None and self._timer.is_alive()):
                return
            self._timer = threading.Timer(min(max(wait, 0.05), WAKE_AT_MOST_AFTER), self._drain)
            self._timer.daemon = True
            self._timer.start()

    def _drain(self) -> None:
        with self._pump_state:
            self._timer = None
            if self._closed:
                return
        try:
            self.deliver_pending(max_wait=DRAIN_FOR)
        except Exception:  # noqa: BLE001 - the scheduled delivery job tries again
            log.exception("delivering queued Slack messages failed")

    def close(self) -> None:
        """Stop coming back for queued work (the queue stays in the database)."""
        with self._pump_state:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()

    def _queue(self, batch: int, later: set) -> list[_Item]:
        """The next posts and messages to send, most urgent first, then oldest first."""
        with self.db.session() as session:
            posts = session.execute(
                select(m.Post.id, m.Case.channel, _PRIORITY_RANK, m.Post.ingested_at)
                .join(m.Case, m.Post.case_id == m.Case.id)
                .where(m.Post.slack_state == SlackState.PENDING)
                .order_by(_PRIORITY_RANK, m.Post.id)
                .limit(batch + len(later))
            ).all()
            messages = session.execute(
                select(m.SlackMessage.id, m.SlackMessage.channel, m.SlackMessage.rank, m.SlackMessage.created_at)
                .where(m.SlackMessage.state == SlackState.PENDING)
                .order_by(m.SlackMessage.rank, m.SlackMessage.id)
                .limit(batch + len(later))
            ).all()
        items = [_Item("post", *row) for row in posts] + [_Item("message", *row) for row in messages]
        items = [i for i in items if (i.source, i.id) not in later]
        items.sort(key=lambda i: (i.rank, i.at, i.source != "post", i.id))
        return items[:batch]

    def _send(self, item: _Item) -> tuple[str, float]:
        """Claim, build, take budget, post: ("posted"|"taken"|"later"|"wait", seconds to wait)."""
        claim, release, built = (
            (self._claim, self._release, self._build_post) if item.source == "post"
            else (self._claim_message, self._release_message, self._build_message)
        )
        if not claim(item.id):
            return "taken", 0.0
        message = built(item.id)
        if message is None:
            release(item.id, None)
            return "later", 0.0
        wait = pacing.take(self.db, message["channel"], rate=self.rate, burst=self.burst)
        if wait:
            release(item.id, None)
            return "wait", wait
        try:
            response = self.client.chat_postMessage(**message, unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            # Slack answered: the message was not posted, so it is safe to try again later.
            error = exc.response.get("error", "error") if exc.response is not None else "error"
            release(item.id, f"Slack said {error}")
            if exc.response is not None and exc.response.status_code == 429:
                wait = retry_after(exc.response.headers)
                pacing.hold(self.db, message["channel"], wait)
                self.rate_limited += 1
                log.info("Slack asked to wait %ss before posting to %s again", wait, message["channel"])
                return "wait", wait
            log.warning("could not post %s %s to Slack: %s", item.source, item.id, error)
            return "wait", ERROR_PAUSE
        except (URLError, OSError) as exc:
            # No answer: it may have been posted; reconcile() decides later.
            log.warning("no answer from Slack posting %s %s (%s); will reconcile", item.source, item.id, type(exc).__name__)
            return "wait", ERROR_PAUSE
        if item.source == "post":
            self._mark_posted(item.id, response["ts"], message.get("thread_ts") is None,
                              shown=message["metadata"]["event_payload"].get("card_version"))
        else:
            self._mark_message_posted(item.id, response["ts"])
        return "posted", 0.0

    def _build_post(self, post_id: int) -> dict | None:
        """A card for a case's first post, a thread reply for a follow-up; None while the card is not in Slack."""
        with self.db.session() as session:
            post = session.get(m.Post, post_id)
            case = session.scalars(
                select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).where(m.Case.id == post.case_id)
            ).one()
            is_root = case.posts[0].id == post.id
            if not is_root and not case.card_ts:
                return None
            if is_root:
                text, body = blocks.card_fallback(case), blocks.case_card(case)
            else:
                text, body = blocks.follow_up_fallback(post), blocks.follow_up(post)
            payload = {"post_id": post_id, **({"card_version": case.card_version} if is_root else {})}
            return dict(
                channel=case.channel, text=text, blocks=body, thread_ts=None if is_root else case.card_ts,
                metadata={"event_type": EVENT_TYPE, "event_payload": payload},
            )

    def _claim(self, post_id: int) -> bool:
        with self.db.session() as session:
            return bool(
                session.execute(
                    update(m.Post)
                    .where(m.Post.id == post_id, m.Post.slack_state == SlackState.PENDING)
                    .values(slack_state=SlackState.POSTING, slack_claimed_at=utcnow())
                ).rowcount
            )

    def _release(self, post_id: int, error: str | None) -> None:
        with self.db.session() as session:
            session.execute(update(m.Post).where(m.Post.id == post_id).values(slack_state=SlackState.PENDING, slack_error=error))

    def _mark_posted(self, post_id: int, ts: str, is_root: bool, shown: int | None = None) -> None:
        """`shown`: the case version the posted card was rendered from (unknown when found by reconcile)."""
        with self.db.session() as session:
            post = session.get(m.Post, post_id)
            post.slack_state, post.slack_ts, post.slack_error = SlackState.POSTED, ts, None
            if is_root:
                values = {"card_ts": ts, **_KEEP_VERSION}
                if shown is not None:
                    values["card_shown"] = shown
                session.execute(update(m.Case).where(m.Case.id == post.case_id).values(**values).execution_options(synchronize_session=False))

    # -- queued messages (thread notes, incident messages) -----------------------

    def enqueue(self, channel: str, kind: str, ref_id: int, text: str = "", rank: int = 1) -> int:
        """Queue a message for Slack; it is built when sent (see `message_builders`)."""
        with self.db.session() as session:
            row = m.SlackMessage(channel=channel, kind=kind, ref_id=ref_id, text=text, rank=rank, state=SlackState.PENDING, created_at=utcnow())
            session.add(row)
            session.flush()
            return row.id

    def _claim_message(self, message_id: int) -> bool:
        with self.db.session() as session:
            return bool(
                session.execute(
                    update(m.SlackMessage)
                    .where(m.SlackMessage.id == message_id, m.SlackMessage.state == SlackState.PENDING)
                    .values(state=SlackState.POSTING, claimed_at=utcnow())
                ).rowcount
            )

    def _release_message(self, message_id: int, error: str | None) -> None:
        with self.db.session() as session:
            session.execute(update(m.SlackMessage).where(m.SlackMessage.id == message_id).values(state=SlackState.PENDING, error=error))

    def _mark_message_posted(self, message_id: int, ts: str) -> None:
        with self.db.session() as session:
            session.execute(update(m.SlackMessage).where(m.SlackMessage.id == message_id).values(state=SlackState.POSTED, ts=ts, error=None))
            row = session.get(m.SlackMessage, message_id)
            after = self.after_posted.get(row.kind)
            if after is not None:
                after(session, row)

    def _build_message(self, message_id: int) -> dict | None:
        with self.db.session() as session:
            row = session.get(m.SlackMessage, message_id)
            built = self.message_builders[row.kind](session, row)
            if built is None:
                return None
            return {**built, "channel": row.channel,
                    "metadata": {"event_type": MESSAGE_EVENT_TYPE, "event_payload": {"message_id": message_id}}}

    def reconcile_messages(self, now: datetime | None = None) -> int:
        """Settle queued messages whose posting outcome is unknown by looking for them in Slack."""
        now = now or utcnow()
        with self.db.session() as session:
            stuck = session.execute(
                select(m.SlackMessage.id, m.SlackMessage.channel, m.SlackMessage.claimed_at)
                .where(m.SlackMessage.state == SlackState.POSTING, m.SlackMessage.claimed_at < now - STUCK_AFTER)
            ).all()
        settled = 0
        for message_id, channel, claimed_at in stuck:
            try:
                found = self._find_message_in_slack(message_id, channel, claimed_at)
            except (SlackApiError, URLError, OSError) as exc:
                log.warning("cannot reconcile message %s yet: %s", message_id, exc)
                continue
            if found:
                self._mark_message_posted(message_id, found)
            else:
                self._release_message(message_id, "Slack did not confirm; posting again")
            settled += 1
        return settled

    def _find_message_in_slack(self, message_id: int, channel: str, claimed_at: datetime) -> str | None:
        """Top-level messages and the threads they started since the claim, every page."""
        oldest = str((claimed_at - timedelta(seconds=30)).timestamp())
        for message in messages(self.client.conversations_history, channel=channel, oldest=oldest):
            if _is_message(message, message_id):
                return message["ts"]
        with self.db.session() as session:
            parents = session.scalars(
                select(m.Case.card_ts).join(m.SlackMessage, m.SlackMessage.ref_id == m.Case.id)
                .where(m.SlackMessage.id == message_id, m.SlackMessage.kind == "note")
            ).all()
            parents += list(self.thread_parents(session, message_id))
        for ts in [p for p in parents if p]:
            for message in messages(self.client.conversations_replies, channel=channel, ts=ts, oldest=oldest):
                if _is_message(message, message_id):
                    return message["ts"]
        return None

    def thread_parents(self, session, message_id: int) -> list[str]:
        """Thread parents a queued message may have been posted under; incidents add theirs."""
        row = session.get(m.SlackMessage, message_id)
        finder = self.parent_finders.get(row.kind)
        return finder(session, row) if finder else []

    def reconcile(self, now: datetime | None = None) -> int:
        """Settle posts whose posting outcome is unknown by looking for them in Slack."""
        now = now or utcnow()
        with self.db.session() as session:
            stuck = session.execute(
                select(m.Post.id, m.Post.slack_claimed_at, m.Case.channel, m.Case.card_ts)
                .join(m.Case, m.Post.case_id == m.Case.id)
                .where(m.Post.slack_state == SlackState.POSTING, m.Post.slack_claimed_at < now - STUCK_AFTER)
            ).all()
        settled = 0
        for post_id, claimed_at, channel, card_ts in stuck:
            try:
                found = self._find_in_slack(post_id, channel, claimed_at, card_ts)
            except (SlackApiError, URLError, OSError) as exc:
                log.warning("cannot reconcile post %s yet: %s", post_id, exc)
                continue
            if found:
                self._mark_posted(post_id, found, is_root=card_ts is None)
            else:
                self._release(post_id, "Slack did not confirm; posting again")
            settled += 1
        return settled

    def _find_in_slack(self, post_id: int, channel: str, claimed_at: datetime, card_ts: str | None) -> str | None:
        """The message carrying this post's metadata, looked for on every page posted since the claim."""
        oldest = str((claimed_at - timedelta(seconds=30)).timestamp())
        pages = [messages(self.client.conversations_history, channel=channel, oldest=oldest)]
        if card_ts:
            pages.append(messages(self.client.conversations_replies, channel=channel, ts=card_ts))
        for page in pages:
            for message in page:
                meta = message.get("metadata") or {}
                if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("post_id") == post_id:
                    return message["ts"]
        return None

    # -- cards as cases move ---------------------------------------------------

    def refresh(self, case_id: int) -> None:
        """The case changed: its card is stale until an edit showing this version succeeds."""
        with self.db.session() as session:
            session.execute(update(m.Case).where(m.Case.id == case_id).values(card_version=m.Case.card_version + 1))
        self.sync(case_id)

    def sync(self, case_id: int, now: datetime | None = None) -> bool:
        """Edit the card until it shows the case's newest state; True once it does.

        One holder per card at a time (a lease in the database), and every edit is
        rendered from the database just before it is sent, so an older edit never
        lands after a newer one. A failed edit leaves the card stale for `sync_stale`.
        A change made while the holder was finishing found the lease taken and left
        its version to the holder: the holder looks once more after letting go.
        """
        for _ in range(3):
            if not self._sync_held(case_id, now):
                return False
            if not self._stale(case_id):
                return True
        return False

    def _stale(self, case_id: int) -> bool:
        with self.db.session() as session:
            return bool(session.scalar(select(m.Case.id).where(m.Case.id == case_id, m.Case.card_ts.is_not(None),
                                                                m.Case.card_shown < m.Case.card_version)))

    def _sync_held(self, case_id: int, now: datetime | None) -> bool:
        token = uuid4().hex
        keep_lease = False
        if not self._lease(case_id, token, now or utcnow()):
            return False  # another edit is under way; its holder (or sync_stale) catches this version
        try:
            for _ in range(5):
                with self.db.session() as session:
                    case = session.scalars(
                        select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).where(m.Case.id == case_id)
                    ).one_or_none()
                    if case is None or not case.card_ts or case.card_shown >= case.card_version:
                        return case is not None
                    version = case.card_version
                    channel, ts, text, body = case.channel, case.card_ts, blocks.card_fallback(case), blocks.case_card(case)
                try:
                    self.client.chat_update(channel=channel, ts=ts, text=text, blocks=body)
                except SlackApiError as exc:
                    error = (exc.response or {}).get("error")
                    if error in GONE:  # the card was deleted (or the channel): nothing left to bring up to date
                        log.warning("card of case %s cannot be edited any more (%s)", case_id, error)
                        with self.db.session() as session:
                            session.execute(update(m.Case).where(m.Case.id == case_id).values(card_shown=version, **_KEEP_VERSION))
                        return True
                    log.warning("could not update card of case %s: %s; retried later", case_id, error)
                    return False
                except (URLError, OSError) as exc:
                    # Slack may still apply that edit later: no newer edit until the lease runs out, so it cannot
                    # land after the newer one; then sync_stale edits the card again with the newest state.
                    log.warning("no answer from Slack updating card of case %s (%s); edited again in %ss", case_id,
                                type(exc).__name__, int(CARD_LEASE.total_seconds()))
                    keep_lease = True
                    with self.db.session() as session:
                        session.execute(update(m.Case).where(m.Case.id == case_id, m.Case.card_lease == token)
                                        .values(card_lease_until=utcnow() + CARD_LEASE, **_KEEP_VERSION))
                    return False
                with self.db.session() as session:
                    if session.scalar(select(m.Case.card_lease).where(m.Case.id == case_id)) != token:
                        # Our lease ran out mid-edit and another editor took it: this older edit may have landed
                        # after theirs, so the card is stale again and is edited once more.
                        session.execute(update(m.Case).where(m.Case.id == case_id).values(card_version=m.Case.card_version + 1))
                        return False
                    session.execute(update(m.Case).where(m.Case.id == case_id, m.Case.card_shown < version).values(card_shown=version, **_KEEP_VERSION))
            return False
        finally:
            if not keep_lease:
                with self.db.session() as session:
                    session.execute(update(m.Case).where(m.Case.id == case_id, m.Case.card_lease == token).values(card_lease=None, card_lease_until=None, **_KEEP_VERSION))

    def _lease(self, case_id: int, token: str, now: datetime) -> bool:
        with self.db.session() as session:
            return bool(session.execute(
                update(m.Case)
                .where(m.Case.id == case_id, or_(m.Case.card_lease.is_(None), m.Case.card_lease_until < now))
                .values(card_lease=token, card_lease_until=now + CARD_LEASE, **_KEEP_VERSION)
                .execution_options(synchronize_session=False)
            ).rowcount)

    def sync_stale(self, limit: int = 50) -> int:
        """Bring stale cards up to date (after Slack errors, crashes, or a lost race); returns how many now are."""
        with self.db.session() as session:
            ids = list(session.scalars(
                select(m.Case.id).where(m.Case.card_ts.is_not(None), m.Case.card_shown < m.Case.card_version).order_by(m.Case.id).limit(limit)
            ))
        return sum(1 for case_id in ids if self.sync(case_id))

    def note(self, case_id: int, text: str) -> None:
        """Add a line to the card's thread: the case history everyone can read (queued and paced)."""
        with self.db.session() as session:
            case = session.get(m.Case, case_id)
            if case.incident_id is not None and not case.card_ts:
                return  # a post inside an incident has no card; the incident message shows its progress
            channel = case.channel
        self.enqueue(channel, "note", case_id, text, rank=NOTE_RANK)
        self.deliver_pending()

    # -- the low-priority lane -----------------------------------------------------

    def refresh_lane(self, channel: str, *, shown: int = 10) -> bool:
        """Post the lane message once (queued and paced like any message), then edit it in place; True if Slack was called.

        One message per channel whatever the number of posts: a row in
        `notices` ("lane:<channel>") is claimed before the message is queued,
        and keeps its ts and the signature of what it shows, so it is edited
        only when its posts change.
        """
        if not channel:
            return False
        key = _lane_key(channel)
        with self.db.session() as session:
            view = lane.lane(session, shown=shown)
            row = session.get(m.Notice, key)
            state = None if row is None else (row.ts, row.text)
            text, body = lane_blocks.lane_message(view.total, view.posts, view.newest_id)
        if state is None:
            if view.total == 0:
                return False
            try:
                with self.db.session() as session:
                    session.add(m.Notice(key=key, channel=channel, text="", created_at=utcnow()))
            except IntegrityError:
                return False  # another process queued it
            self.enqueue(channel, "lane", shown, rank=LANE_RANK)
            self.deliver_pending()
            return True
        ts, posted = state
        if ts is None or posted == _lane_signature(view):
            return False  # still queued, or it already shows this
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=body)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else "error"
            log.warning("could not update the lane message: %s", error)
            if error in ("message_not_found", "cant_update_message"):
                with self.db.session() as session:  # someone deleted it: queue a fresh one next time
                    gone = session.get(m.Notice, key)
                    if gone is not None:
                        session.delete(gone)
            return True
        except (URLError, OSError) as exc:
            log.warning("no answer from Slack updating the lane message (%s)", type(exc).__name__)
            return True
        with self.db.session() as session:
            row = session.get(m.Notice, key)
            if row is not None:
                row.text = _lane_signature(view)
        return True


def _build_note(session, row: m.SlackMessage) -> dict | None:
    ts = session.scalar(select(m.Case.card_ts).where(m.Case.id == row.ref_id))
    if not ts:
        return None
    return {"text": row.text, "thread_ts": ts}


def _lane_key(channel: str) -> str:
    return f"lane:{channel}"


def _lane_signature(view: lane.LaneView) -> str:
    return f"{view.total}:" + ",".join(str(p.id) for p in view.posts)


def _build_lane(session, row: m.SlackMessage) -> dict:
    """The lane as it is when the message goes out (`ref_id` is how many posts it lists)."""
    view = lane.lane(session, shown=row.ref_id or 10)
    text, body = lane_blocks.lane_message(view.total, view.posts, view.newest_id)
    notice = session.get(m.Notice, _lane_key(row.channel))
    if notice is not None:
        notice.text = _lane_signature(view)
    return {"text": text, "blocks": body}


def _lane_posted(session, row: m.SlackMessage) -> None:
    notice = session.get(m.Notice, _lane_key(row.channel))
    if notice is not None:
        notice.ts = row.ts
