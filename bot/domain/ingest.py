"""Ingest in two stages, so a crash or one bad post never loses or blocks the others.

Stage 1, `store`: what a poll or a webhook delivered is written untriaged, in the
caller's transaction (a poll's cursor moves in the same one; a webhook is
acknowledged only after it commits). Stage 2: `claim` takes a batch of stored
posts, triage runs outside any transaction, and `settle` opens or joins cases in
one short write. Only the holder of a claim may settle a post, and a claim left
by a crashed process is taken over once it is stale, so every post is triaged
once. A post that triage cannot handle still reaches a person, with the reason.

Pure domain over a database session: no Slack, no HTTP. The same post arriving
twice (poll and webhook, or after a restart) is stored once. Where a post is
shown is decided in `settle` (`bot.domain.routing`): its own case and card, the
low-priority lane, or hidden (spam, the brand's own posts); every post is
stored, so nothing is lost and the hidden ones can be reviewed and re-filed.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Callable, Iterable, Mapping, Sequence

from sqlalchemy import Row, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

import bot.triage as triage_package
from bot.clock import utcnow
from bot.config import FileConfig
from bot.domain import routing, sla
from bot.domain.posts import Post
from bot.domain.saved_replies import suggestion_in_language
from bot.domain.similar import AnsweredCases
from bot.domain.states import CaseStatus, SlackState
from bot.triage import Triage, classify, suggest_reply
from storage import models as m

log = logging.getLogger(__name__)

NEW, CLAIMED, DONE, SET_ASIDE = "new", "claimed", "done", "set_aside"
# A claim older than this belongs to a process that died (a batch takes well under a second). Taking over a
# live but slow claim only wastes work: its holder can no longer settle (`settle` checks the claim).
CLAIM_STALE = timedelta(seconds=10)
FOLLOW_UP_WINDOW = timedelta(days=7)


@dataclass
class IngestResult:
    stored: list[int] = field(default_factory=list)  # post ids written by stage 1
    new_cases: list[int] = field(default_factory=list)
    follow_ups: list[int] = field(default_factory=list)
    duplicates: int = 0
    dropped: int = 0    # hidden: spam, the brand's own posts, quiet search hits (stored, counted, reviewable)
    lane: int = 0       # listed in the low-priority lane
    set_aside: int = 0  # triage or its case failed: carded as not triaged, or put in the lane (triage_error says why)
    # `settle` only, not summed by `add`: the posts it left claimed, in order, and the complaint cases it
    # opened per (network, author), for the caller to count once they are committed.
    unsettled: list[int] = field(default_factory=list)
    complaints_opened: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, other: IngestResult) -> IngestResult:
        self.stored += other.stored
        self.new_cases += other.new_cases
        self.follow_ups += other.follow_ups
        self.duplicates += other.duplicates
        self.dropped += other.dropped
        self.lane += other.lane
        self.set_aside += other.set_aside
        return self


def bump_counter(session: Session, name: str, now: datetime, by: int = 1) -> None:
    """One upsert: the day's first count inserts the row, later ones add to it (no read, and no
    primary-key clash when two processes count the day's first at once)."""
    table = m.Counter.__table__
    stmt = _upsert_insert(session)(table).values(day=now.date().isoformat(), name=name, value=by)
    session.execute(stmt.on_conflict_do_update(index_elements=["day", "name"], set_={"value": table.c.value + stmt.excluded.value}))


# -- stage 1: store --------------------------------------------------------------


def clean(text: str | None, limit: int | None = None) -> str:
    """Text any database accepts: lone surrogates become U+FFFD, NUL goes (SQLite and PostgreSQL refuse them)."""
    text = text or ""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = text.replace("\x00", "")
    return text[:limit] if limit else text


def _bounded(value) -> int:
    try:
        return max(0, min(int(value or 0), 2**31 - 1))
    except (TypeError, ValueError, OverflowError):
        return 0


def _values(post: Post, now: datetime, *, own: bool) -> dict:
    author = post.author
    return dict(
        network=post.network,
        external_id=clean(post.external_id),
        kind=clean(post.kind, 20),
        text=clean(post.text),
        url=clean(post.url),
        author_external_id=clean(author.external_id, 64),
        author_handle=clean(author.handle, 128),
        author_name=clean(author.name, 256),
        author_followers=_bounded(author.followers),
        conversation_id=clean(post.conversation_id, 128),
        in_reply_to_id=clean(post.in_reply_to_id, 128),
        engagement=_bounded(post.engagement),
        context=clean(post.context),
        verdict=clean(post.verdict, 10),
        reply_blocker=clean(post.reply_blocker) or None,
        created_at=post.created_at,
        ingested_at=now,
        visibility="visible",
        # The brand's own posts are never triaged nor answered, but kept: counted, listed by `/socialdesk review own`.
        category="own" if own else "other",
        slack_state=SlackState.HIDDEN if own else SlackState.PENDING,
        triage_state=DONE if own else NEW,
    )


def _insert_new(session: Session):
    """INSERT ... ON CONFLICT DO NOTHING: a post another process stored meanwhile is skipped, not an error.

    No savepoint: with the sqlite3 driver, a SAVEPOINT opened before any write starts
    its own transaction and its release commits it, which would store the posts before
    the poll's cursor moves.
    """
    table = m.Post.__table__
    return _upsert_insert(session)(table).on_conflict_do_nothing(index_elements=["network", "external_id"]).returning(table.c.id, table.c.triage_state)


def _upsert_insert(session: Session):
    """The database's own INSERT construct, which has ON CONFLICT."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the two databases socialdesk supports
        raise RuntimeError(f"no conflict-free insert for {dialect}")
    return insert


def store(session: Session, posts: Iterable[Post], *, own_ids: set[str], now: datetime | None = None) -> IngestResult:
    """Stage 1: write each post once, untriaged, in the caller's transaction (one bulk INSERT).

    The brand's own posts are stored hidden (counted, reviewable), never triaged. A
    post already stored (by a poll, a webhook, or another process) is a duplicate.
    """
    now = now or utcnow()
    result = IngestResult()
    fresh: dict[tuple[str, str], Post] = {}
    for post in posts:
        key = (post.network, clean(post.external_id))
        if key in fresh:
            result.duplicates += 1
        else:
            fresh[key] = post
    if not fresh:
        return result
    rows = [_values(post, now, own=post.author.external_id in own_ids) for post in fresh.values()]
    inserted = session.execute(_insert_new(session), rows).all()
    result.duplicates += len(rows) - len(inserted)
    own = sum(1 for _, state in inserted if state == DONE)
    if own:
        bump_counter(session, "own_post", now, own)
        result.dropped += own
    result.stored = sorted(post_id for post_id, state in inserted if state == NEW)
    return result


# -- stage 2: triage ---------------------------------------------------------------


def _claimable(now: datetime, stale_after: timedelta):
    return or_(m.Post.triage_state == NEW, and_(m.Post.triage_state == CLAIMED, m.Post.triage_claimed_at < now - stale_after))


def claim(session: Session, token: str, *, limit: int = 64, now: datetime | None = None, stale_after: timedelta = CLAIM_STALE) -> list[int]:
    """Claim up to `limit` stored posts for triage, oldest first; returns the ids this token now holds.

    One conditional UPDATE picks and takes them, so two processes never hold the same
    post; if another process took every candidate first, it looks again.
    """
    now = now or utcnow()
    for _ in range(5):
        candidates = select(m.Post.id).where(_claimable(now, stale_after)).order_by(m.Post.id).limit(limit)
        taken = list(session.scalars(
            update(m.Post)
            .where(m.Post.id.in_(candidates.scalar_subquery()), _claimable(now, stale_after))
            .values(triage_state=CLAIMED, triage_claim=token, triage_claimed_at=now)
            .returning(m.Post.id)
            .execution_options(synchronize_session=False)
        ))
        if taken:
            return sorted(taken)
        if session.scalar(select(func.count(m.Post.id)).where(_claimable(now, stale_after))) == 0:
            return []
    return []


@dataclass(frozen=True)
class ToTriage:
    """What triage needs of one claimed post."""

    post_id: int
    text: str
    followers: int
    engagement: int
    prior_complaints: int


def to_triage(session: Session, post_ids: Sequence[int]) -> list[ToTriage]:
    rows = session.execute(
        select(m.Post.id, m.Post.text, m.Post.author_followers, m.Post.engagement, m.Post.network, m.Post.author_external_id)
        .where(m.Post.id.in_(post_ids)).order_by(m.Post.id)
    ).all()
    authors = {r.author_external_id for r in rows if r.author_external_id}
    prior: dict[tuple[str, str], int] = {}
    if authors:
        for network, author, n in session.execute(
            select(m.Case.network, m.Case.author_external_id, func.count(m.Case.id))
            .where(m.Case.author_external_id.in_(authors), m.Case.category == "complaint")
            .group_by(m.Case.network, m.Case.author_external_id)
        ):
            prior[(network, author)] = n
    return [ToTriage(r.id, r.text, r.author_followers, r.engagement, prior.get((r.network, r.author_external_id), 0)) for r in rows]


Classifier = Callable[[Sequence[ToTriage]], list["Triage | Exception"]]


def classify_each(items: Sequence[ToTriage]) -> list[Triage | Exception]:
    """Triage one post at a time; a post that makes triage raise gets its exception, the others their triage."""
    out: list[Triage | Exception] = []
    for item in items:
        try:
            out.append(classify(item.text, followers=item.followers, engagement=item.engagement, prior_complaints=item.prior_complaints))
        except Exception as exc:  # noqa: BLE001 - one bad post must not stop the batch
            out.append(exc)
    return out


def classify_all(items: Sequence[ToTriage]) -> list[Triage | Exception]:
    """Batched triage (`classify_batch`), the same results as one by one; a batch that raises
    is redone one by one, so only the bad post fails."""
    if len(items) > 1:
        try:
            return list(triage_package.classify_batch([{"text": i.text, "followers": i.followers, "engagement": i.engagement,
                                                        "prior_complaints": i.prior_complaints} for i in items]))
        except Exception as exc:  # noqa: BLE001 - find the post that makes it raise
            log.warning("batched triage of %d posts failed (%s); triaging them one by one", len(items), type(exc).__name__)
    return classify_each(items)


def _reason(exc: BaseException) -> str:
    return clean(f"{type(exc).__name__}: {exc}", 300)


def not_triaged(exc: BaseException) -> Triage:
    """What a post that triage could not read is filed as: a card for a person, saying why."""
    return Triage(category="other", sentiment=0.0, severity=0, priority="normal", score=0.0,
                  reasons=("not triaged", f"triage failed ({type(exc).__name__})"), topic="general")


#: The columns settle reads of a post (its triage came with the outcome).
_SETTLE_READS = (m.Post.id, m.Post.network, m.Post.external_id, m.Post.kind, m.Post.text, m.Post.verdict, m.Post.created_at,
                 m.Post.author_external_id, m.Post.author_name, m.Post.author_handle, m.Post.conversation_id,
                 m.Post.in_reply_to_id)


@dataclass(eq=False)  # two new cases are never the same case, whatever their values
class _NewCase:
    """A case this batch opens: its row's values until the batch's INSERT gives it an id."""

    values: dict
    id: int | None = None


class _Threads:
    """The cases a batch's posts may follow up on, read once per batch and kept current as the batch opens cases.

    The same rule as one post at a time: same network and author, a case opened within
    FOLLOW_UP_WINDOW of the post, in the same conversation or answering a post already
    in a case; the newest such case wins.
    """

    def __init__(self, session: Session, posts: Sequence[Row]):
        self.cases: dict[tuple[str, str], list[tuple[int | _NewCase, str, datetime]]] = defaultdict(list)
        self.parents: dict[tuple[str, str], int | _NewCase] = {}
        authors = {p.author_external_id for p in posts if p.author_external_id}
        if not authors:
            return
        since = min(p.created_at for p in posts) - FOLLOW_UP_WINDOW
        for case_id, network, author, conversation, created in session.execute(
            select(m.Case.id, m.Case.network, m.Case.author_external_id, m.Case.conversation_id, m.Case.created_at)
            .where(m.Case.author_external_id.in_(authors), m.Case.created_at >= since).order_by(m.Case.id)
        ):
            self.cases[(network, author)].append((case_id, conversation, created))
        replied = {(p.network, p.in_reply_to_id) for p in posts if p.in_reply_to_id and p.author_external_id}
        for network in {n for n, _ in replied}:
            ids = [i for n, i in replied if n == network]
            for external_id, case_id in session.execute(
                select(m.Post.external_id, m.Post.case_id).where(m.Post.network == network, m.Post.external_id.in_(ids), m.Post.case_id.is_not(None))
            ):
                self.parents[(network, external_id)] = case_id

    def case_for(self, post: Row) -> int | _NewCase | None:
        """The case id (or a case this batch opened) the post follows up on, or None."""
        if not post.author_external_id or not (post.conversation_id or post.in_reply_to_id):
            return None
        parent = self.parents.get((post.network, post.in_reply_to_id)) if post.in_reply_to_id else None
        since = post.created_at - FOLLOW_UP_WINDOW
        for case, conversation, created in reversed(self.cases.get((post.network, post.author_external_id), ())):
            if created >= since and ((post.conversation_id and conversation == post.conversation_id) or
                                     (parent is not None and case == parent)):
                return case
        return None

    def opened(self, post: Row, case: _NewCase) -> None:
        self.cases[(post.network, post.author_external_id)].append((case, case.values["conversation_id"], case.values["created_at"]))
        self.joined(post, case)

    def joined(self, post: Row, case: int | _NewCase) -> None:
        self.parents[(post.network, post.external_id)] = case


def _counting(triage: Triage, opened_in_batch: int) -> Triage:
    if not opened_in_batch or triage.inputs is None:
        return triage
    return triage.counting(triage.inputs.prior_complaints + opened_in_batch)


def _with_verdict(triage: Triage, verdict: str) -> Triage:
    if verdict != "negative":
        return triage
    if triage.category != "complaint":
        # The author said so themselves: a "does not recommend" review needs an answer.
        return replace(triage, category="complaint", priority="normal" if triage.priority == "low" else triage.priority,
                       reasons=("complaint", "negative review"))
    if "negative review" not in triage.reasons:
        return replace(triage, reasons=(*triage.reasons, "negative review"))
    return triage


def settle(
    session: Session, token: str, outcomes: dict[int, Triage | Exception], *, config: FileConfig, channel: str, now: datetime | None = None,
    complained: Mapping[tuple[str, str], int] | None = None, answered: AnsweredCases | None = None,
    stop_early: Callable[[], bool] | None = None,
) -> IngestResult:
    """Open or join a case for each claimed post, in id order; posts whose claim was taken over are left alone.

    Routing decides card, lane or hidden exactly as for a post triaged alone; a post
    whose triage raised is carded as "not triaged", with the reason.

    A post whose author got a complaint case earlier in the same triage batch was
    triaged without counting it: `complained` counts those cases per (network,
    author) that earlier calls committed, `complaints_opened` those of this call, and
    the post's priority is derived again with them counted (`Triage.counting`), as
    if it had been triaged after them.

    `answered` keeps the answered cases a card's "sent for a similar case" is picked
    from, read once for all the calls of one backlog drain (a new one per call when
    not given).

    `stop_early` is asked between posts: when it says yes (a webhook waits for the
    write lock), settle stops the same way after the posts it has placed, so the
    wait is one post's work and the commit, not the whole batch's.
    """
    now = now or utcnow()
    result = IngestResult()
    complained = complained or {}
    # Only the holder of the claim settles a post: one UPDATE takes them all, and says which are still ours.
    ours = set(session.scalars(
        update(m.Post)
        .where(m.Post.id.in_(list(outcomes)), m.Post.triage_claim == token, m.Post.triage_state == CLAIMED)
        .values(triage_state=DONE, triage_claim=None)
        .returning(m.Post.id)
        .execution_options(synchronize_session=False)
    ))
    # What settle reads of each post, as plain rows; what it decides is written back at the end (`_write`).
    # Nothing here is an ORM object, so nothing waits in the session to be flushed: the new cases go in once, below.
    rows = {p.id: p for p in session.execute(select(*_SETTLE_READS).where(m.Post.id.in_(ours)))} if ours else {}
    changes: dict[int, dict] = {post_id: {} for post_id in rows}
    threads = _Threads(session, list(rows.values()))
    answered = answered or AnsweredCases()
    placed: list[tuple[Row, int | _NewCase, Triage | None]] = []  # in post order: (post, its case, the triage if it opened it)
    new: list[_NewCase] = []
    counted: dict[str, int] = defaultdict(int)  # counters bumped once per batch, not once per post
    order = sorted(ours)
    for index, post_id in enumerate(order):
        post, change = rows[post_id], changes[post_id]
        outcome = outcomes[post_id]
        failed = isinstance(outcome, Exception)
        if index and stop_early is not None and stop_early():
            result.unsettled = order[index:]
            break
        if failed:
            log.warning("post %s could not be triaged (%s); it is carded as not triaged", post_id, type(outcome).__name__)
            change.update(triage_state=SET_ASIDE, triage_error=_reason(outcome))
            counted["set_aside"] += 1
            result.set_aside += 1
            triage = not_triaged(outcome)
        else:
            author = (post.network, post.author_external_id)
            triage = _with_verdict(_counting(outcome, complained.get(author, 0) + result.complaints_opened[author]), post.verdict)
        case = threads.case_for(post)
        change["category"] = triage.category
        if case is not None:
            threads.joined(post, case)
            placed.append((post, case, None))
            continue
        route = "card" if failed else routing.decide(triage, kind=post.kind, routing=config.routing)
        if route != "card":
            change["slack_state"] = SlackState.LANE if route == "lane" else SlackState.HIDDEN
            counted[triage.category] += 1
            if route == "lane":
                result.lane += 1
            else:
                result.dropped += 1
            continue
        suggestion = suggest_reply(triage, name=post.author_name, handle=post.author_handle, network=post.network)
        if not suggestion and not triage.language_trained:
            suggestion = suggestion_in_language(config.saved_replies, triage.language, triage.category,
                                                name=post.author_name, handle=post.author_handle)
        case = _NewCase(dict(
            network=post.network,
            conversation_id=post.conversation_id or post.external_id,
            author_external_id=post.author_external_id,
            status=CaseStatus.OPEN,
            category=triage.category,
            priority=triage.priority,
            reasons=list(triage.reasons),
            severity=triage.severity,
            sentiment=triage.sentiment,
            topic=triage.topic,
            suggested_reply=suggestion,
            channel=channel,
            created_at=now,
            due_at=sla.due_at(config, post.network, triage.priority, now),
            alternative_reply=answered.reply_for(session, post.network, triage.topic, post.text),
        ))
        new.append(case)
        threads.opened(post, case)
        if triage.category == "complaint":
            result.complaints_opened[(post.network, post.author_external_id)] += 1
        placed.append((post, case, triage))
    if result.unsettled:  # still claimed by this token (and alive): the caller settles them next
        session.execute(update(m.Post).where(m.Post.id.in_(result.unsettled))
                        .values(triage_state=CLAIMED, triage_claim=token, triage_claimed_at=now)
                        .execution_options(synchronize_session=False))
    for name, n in counted.items():
        bump_counter(session, name, now, n)
    if new:  # the batch's new cases in one multi-row INSERT, with no ORM object per case: now they have ids
        cases = m.Case.__table__
        ids = session.execute(insert(cases).returning(cases.c.id, sort_by_parameter_order=True), [c.values for c in new]).scalars().all()
        for case, case_id in zip(new, ids, strict=True):
            case.id = case_id
    events = []
    for post, case, opened in placed:
        case_id = changes[post.id]["case_id"] = case if isinstance(case, int) else case.id
        if opened is None:
            result.follow_ups.append(post.id)
            detail = {"post_id": post.id}
        else:
            result.new_cases.append(case_id)
            detail = {"post_id": post.id, "category": opened.category, "priority": opened.priority}
        events.append({"case_id": case_id, "actor": "system", "action": "follow_up" if opened is None else "opened",
                       "detail": detail, "created_at": now})
    if events:  # one multi-row INSERT, with no ORM object per event (nothing reads them back here)
        session.execute(insert(m.AuditEvent.__table__), events)
    _write(session, changes)
    return result


def _write(session: Session, changes: Mapping[int, dict]) -> None:
    """Each post's changed columns, by primary key: one executemany per set of columns changed.

    Core statements, not the ORM's bulk UPDATE, which ran one statement per row: 3.6 ms for
    64 posts against 0.8 ms (the posts were read as rows; no ORM object waits for these values).
    """
    posts = m.Post.__table__
    by_columns: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for post_id, change in changes.items():
        if change:
            by_columns[tuple(sorted(change))].append({"post_id": post_id, **change})
    for columns, params in by_columns.items():
        session.execute(update(posts).where(posts.c.id == bindparam("post_id")).values({c: bindparam(c) for c in columns}), params)


def set_aside(session: Session, token: str, post_id: int, exc: BaseException, now: datetime | None = None) -> bool:
    """A post no case could be written for: kept in the lane (a person sees it), counted, with the reason; never retried blindly."""
    now = now or utcnow()
    won = session.execute(
        update(m.Post)
        .where(m.Post.id == post_id, m.Post.triage_claim == token, m.Post.triage_state == CLAIMED)
        .values(triage_state=SET_ASIDE, triage_claim=None, triage_error=_reason(exc), slack_state=SlackState.LANE)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won:
        bump_counter(session, "set_aside", now)
    return bool(won)


def set_aside_summary(session: Session) -> dict:
    """How many posts wait for triage or were set aside, and the latest reason (for /healthz)."""
    count = session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state == SET_ASIDE)) or 0
    latest = session.execute(
        select(m.Post.id, m.Post.triage_error).where(m.Post.triage_state == SET_ASIDE).order_by(m.Post.id.desc()).limit(1)
    ).first()
    waiting = session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state.in_((NEW, CLAIMED)))) or 0
    return {"set_aside": count, "latest_reason": latest.triage_error if latest else None, "waiting_for_triage": waiting}
