"""Carry posts into Slack exactly once, and keep cards current.

Each post is claimed (pending -> posting) by a conditional UPDATE before
`chat.postMessage`, and the message carries the post id in its metadata. If the
answer is lost (timeout, crash) the post stays "posting" and `reconcile()` looks
for that metadata in the channel before ever posting it again.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import case as sql_case
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from bot.clock import utcnow
from bot.domain.states import SlackState
from bot.slack import blocks
from storage import models as m
from storage.db import Database

log = logging.getLogger(__name__)
EVENT_TYPE = "socialdesk_post"
STUCK_AFTER = timedelta(seconds=60)
_PRIORITY_RANK = sql_case({"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=m.Case.priority, else_=4)


class Publisher:
    def __init__(self, client: WebClient, db: Database):
        self.client = client
        self.db = db

    # -- new posts -----------------------------------------------------------

    def deliver_pending(self, batch: int = 100) -> int:
        """Post waiting cards (most urgent first) and follow-ups; returns how many went out."""
        delivered, seen = 0, set()
        while True:
            with self.db.session() as session:
                ids = [
                    post_id
                    for post_id in session.scalars(
                        select(m.Post.id)
                        .join(m.Case, m.Post.case_id == m.Case.id)
                        .where(m.Post.slack_state == SlackState.PENDING, m.Post.id.not_in(seen) if seen else True)
                        .order_by(_PRIORITY_RANK, m.Post.id)
                        .limit(batch)
                    )
                ]
            if not ids:
                return delivered
            for post_id in ids:
                seen.add(post_id)
                outcome = self._deliver(post_id)
                if outcome == "stop":
                    return delivered
                delivered += outcome == "posted"

    def _claim(self, post_id: int) -> bool:
        with self.db.session() as session:
            return bool(
                session.execute(
                    update(m.Post)
                    .where(m.Post.id == post_id, m.Post.slack_state == SlackState.PENDING)
                    .values(slack_state=SlackState.POSTING, slack_claimed_at=utcnow())
                ).rowcount
            )

    def _deliver(self, post_id: int) -> str:
        with self.db.session() as session:
            post = session.get(m.Post, post_id)
            case = session.scalars(
                select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).where(m.Case.id == post.case_id)
            ).one()
            is_root = case.posts[0].id == post.id
            if not is_root and not case.card_ts:
                return "later"  # the card itself is not in Slack yet
            if is_root:
                text, body = blocks.card_fallback(case), blocks.case_card(case)
            else:
                text, body = blocks.follow_up_fallback(post), blocks.follow_up(post)
            channel, thread_ts = case.channel, None if is_root else case.card_ts
        if not self._claim(post_id):
            return "taken"
        try:
            response = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=body,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"post_id": post_id}},
            )
        except SlackApiError as exc:
            # Slack answered: the message was not posted, so it is safe to try again later.
            error = exc.response.get("error", "error") if exc.response is not None else "error"
            self._release(post_id, f"Slack said {error}")
            log.warning("could not post post %s to Slack: %s", post_id, error)
            return "stop"
        except (URLError, OSError) as exc:
            # No answer: it may have been posted; reconcile() decides later.
            log.warning("no answer from Slack posting post %s (%s); will reconcile", post_id, type(exc).__name__)
            return "stop"
        self._mark_posted(post_id, response["ts"], is_root)
        return "posted"

    def _release(self, post_id: int, error: str) -> None:
        with self.db.session() as session:
            session.execute(update(m.Post).where(m.Post.id == post_id).values(slack_state=SlackState.PENDING, slack_error=error))

    def _mark_posted(self, post_id: int, ts: str, is_root: bool) -> None:
        with self.db.session() as session:
            post = session.get(m.Post, post_id)
            post.slack_state, post.slack_ts, post.slack_error = SlackState.POSTED, ts, None
            if is_root:
                session.get(m.Case, post.case_id).card_ts = ts

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
        oldest = str((claimed_at - timedelta(seconds=30)).timestamp())
        messages = self.client.conversations_history(channel=channel, oldest=oldest, include_all_metadata=True, limit=200)["messages"]
        if card_ts:
            messages += self.client.conversations_replies(channel=channel, ts=card_ts, include_all_metadata=True, limit=200)["messages"]
        for message in messages:
            meta = message.get("metadata") or {}
            if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("post_id") == post_id:
                return message["ts"]
        return None

    # -- cards as cases move ---------------------------------------------------

    def refresh(self, case_id: int) -> None:
        """Edit the card in place to show the case as it is now."""
        with self.db.session() as session:
            case = session.scalars(
                select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).where(m.Case.id == case_id)
            ).one()
            if not case.card_ts:
                return
            channel, ts, text, body = case.channel, case.card_ts, blocks.card_fallback(case), blocks.case_card(case)
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=body)
        except SlackApiError as exc:
            log.warning("could not update card of case %s: %s", case_id, exc.response.get("error"))

    def note(self, case_id: int, text: str) -> None:
        """Add a line to the card's thread: the case history everyone can read."""
        with self.db.session() as session:
            case = session.get(m.Case, case_id)
            channel, ts = case.channel, case.card_ts
        if not ts:
            return
        try:
            self.client.chat_postMessage(channel=channel, thread_ts=ts, text=text, unfurl_links=False)
        except SlackApiError as exc:
            log.warning("could not add history to case %s: %s", case_id, exc.response.get("error"))
