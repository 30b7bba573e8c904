"""Cases: ingest posts into cases, and the state changes a case goes through.

Pure domain over a database session: no Slack, no HTTP. Every change that must
happen once (a card, a reply) is a conditional UPDATE that only one caller can win.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Iterable
from uuid import uuid4

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.config import FileConfig
from bot.domain import sla
from bot.domain.posts import Post
from bot.triage import Triage, classify, suggest_reply
from storage import models as m

OPEN_STATUSES = ("open", "failed")
ANSWERABLE = ("open", "failed")
FOLLOW_UP_WINDOW = timedelta(days=7)
PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


@dataclass
class IngestResult:
    new_cases: list[int] = field(default_factory=list)
    follow_ups: list[int] = field(default_factory=list)
    duplicates: int = 0
    dropped: int = 0


class CaseError(Exception):
    """An action on a case that cannot happen; the message is for the person who tried."""


def audit(session: Session, case_id: int | None, actor: str, action: str, **detail) -> None:
    session.add(m.AuditEvent(case_id=case_id, actor=actor, action=action, detail=detail, created_at=utcnow()))


def bump_counter(session: Session, name: str, now: datetime) -> None:
    day = now.date().isoformat()
    counter = session.get(m.Counter, (day, name))
    if counter is None:
        session.add(m.Counter(day=day, name=name, value=1))
    else:
        counter.value += 1


def _existing_case_for(session: Session, post: Post) -> m.Case | None:
    """A follow-up: same author, same thread (or answering a post already in a case), recently."""
    if not post.author.external_id:
        return None
    in_case = select(m.Post.case_id).where(
        m.Post.network == post.network, m.Post.external_id == post.in_reply_to_id, m.Post.case_id.is_not(None)
    )
    thread_match = [m.Case.id.in_(in_case)] if post.in_reply_to_id else []
    if post.conversation_id:
        thread_match.append(m.Case.conversation_id == post.conversation_id)
    if not thread_match:
        return None
    return session.scalars(
        select(m.Case)
        .where(
            m.Case.network == post.network,
            m.Case.author_external_id == post.author.external_id,
            m.Case.created_at >= post.created_at - FOLLOW_UP_WINDOW,
            or_(*thread_match),
        )
        .order_by(m.Case.id.desc())
        .limit(1)
    ).first()


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']{3,}", text.lower()) if w not in _STOP}


_STOP = {"the", "and", "for", "you", "your", "our", "this", "that", "with", "have", "has", "was", "are", "but", "not", "all", "can", "just", "its"}


def similar_reply(session: Session, network: str, topic: str, text: str, *, min_overlap: float = 0.2) -> str | None:
    """What the team sent for the most similar answered case on the same topic, if any is close enough."""
    words = _words(text)
    if not words:
        return None
    rows = session.execute(
        select(m.Post.text, m.Reply.text)
        .join(m.Case, m.Post.case_id == m.Case.id)
        .join(m.Reply, m.Reply.case_id == m.Case.id)
        .where(m.Case.network == network, m.Case.topic == topic, m.Case.status == "answered", m.Reply.kind == "public", m.Reply.status == "sent")
        .order_by(m.Reply.id.desc())
        .limit(200)
    ).all()
    best, best_score = None, min_overlap
    for post_text, reply_text in rows:
        other = _words(post_text)
        score = len(words & other) / len(words | other) if other else 0.0
        if score > best_score:
            best, best_score = reply_text, score
    return best


def _prior_complaints(session: Session, post: Post) -> int:
    return session.scalar(
        select(func.count(m.Case.id)).where(
            m.Case.network == post.network,
            m.Case.author_external_id == post.author.external_id,
            m.Case.category == "complaint",
        )
    ) or 0


def ingest(session: Session, posts: Iterable[Post], *, own_ids: set[str], config: FileConfig, channel: str, now: datetime | None = None) -> IngestResult:
    """Store each post once, triage it, and attach it to a new or existing case."""
    now = now or utcnow()
    result = IngestResult()
    for post in posts:
        if post.author.external_id in own_ids:
            bump_counter(session, "own_post", now)
            result.dropped += 1
            continue
        exists = session.scalar(
            select(m.Post.id).where(m.Post.network == post.network, m.Post.external_id == post.external_id)
        )
        if exists:
            result.duplicates += 1
            continue
        row = m.Post(
            network=post.network,
            external_id=post.external_id,
            kind=post.kind,
            text=post.text,
            url=post.url,
            author_external_id=post.author.external_id,
            author_handle=post.author.handle,
            author_name=post.author.name,
            author_followers=post.author.followers,
            conversation_id=post.conversation_id,
            in_reply_to_id=post.in_reply_to_id,
            engagement=post.engagement,
            context=post.context,
            created_at=post.created_at,
            ingested_at=now,
        )
        case = _existing_case_for(session, post)
        triage = classify(
            post.text,
            followers=post.author.followers,
            engagement=post.engagement,
            prior_complaints=0 if case else _prior_complaints(session, post),
        )
        if post.verdict == "negative" and triage.category != "complaint":
            # The author said so themselves: a "does not recommend" review needs an answer.
            triage = replace(triage, category="complaint", priority="normal" if triage.priority == "low" else triage.priority,
                             reasons=("complaint", "negative review"))
        elif post.verdict == "negative" and "negative review" not in triage.reasons:
            triage = replace(triage, reasons=(*triage.reasons, "negative review"))
        row.category = triage.category
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            # Another process stored the same post between our check and insert.
            result.duplicates += 1
            continue
        if case is not None:
            row.case_id = case.id
            row.slack_state = "pending"
            result.follow_ups.append(row.id)
            audit(session, case.id, "system", "follow_up", post_id=row.id)
            continue
        if triage.category not in config.routing.card:
            row.slack_state = "skipped"
            bump_counter(session, triage.category, now)
            result.dropped += 1
            continue
        case = m.Case(
            network=post.network,
            conversation_id=post.conversation_id or post.external_id,
            author_external_id=post.author.external_id,
            status="open",
            category=triage.category,
            priority=triage.priority,
            severity=triage.severity,
            sentiment=triage.sentiment,
            topic=triage.topic,
            reasons=list(triage.reasons),
            suggested_reply=suggest_reply(triage, name=post.author.name, handle=post.author.handle, network=post.network),
            channel=channel,
            created_at=now,
            due_at=sla.due_at(config, post.network, triage.priority, now),
        )
        case.alternative_reply = similar_reply(session, post.network, triage.topic, post.text)
        session.add(case)
        session.flush()
        row.case_id = case.id
        row.slack_state = "pending"
        result.new_cases.append(case.id)
        audit(session, case.id, "system", "opened", post_id=row.id, category=triage.category, priority=triage.priority)
    session.flush()
    return result


# -- replies (the outbox) ------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    case_id: int
    approval_id: str
    reply_ids: tuple[int, ...]
    held: bool = False  # waiting for an approver; nothing is sent yet


def approve(
    session: Session, case_id: int, user_id: str, replies: dict[str, str], *, hold: bool = False, approver: bool = False, now: datetime | None = None
) -> Approval:
    """Queue the replies of one approval. Only one approval per case can win at a time.

    `replies` maps kind ("public", "private") to text. The winner moves the case to
    "replying" (or "pending_approval" when `hold`, and nothing is queued to send);
    a second click, a retried request or a second person gets CaseError. An
    approver may also replace a draft that waits for approval (edit-then-approve).
    """
    now = now or utcnow()
    texts = {kind: text.strip() for kind, text in replies.items()}
    if not texts or any(not text for text in texts.values()):
        raise CaseError("The reply is empty: write something before sending.")
    allowed = ANSWERABLE + (("pending_approval",) if approver else ())
    won = session.execute(
        update(m.Case)
        .where(m.Case.id == case_id, m.Case.status.in_(allowed))
        .values(status="pending_approval" if hold else "replying", last_error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise _lost_race(session, case_id)
    session.execute(
        update(m.Reply).where(m.Reply.case_id == case_id, m.Reply.status == "awaiting").values(status="superseded")
    )
    approval_id = str(uuid4())
    rows = [
        m.Reply(
            case_id=case_id, approval_id=approval_id, kind=kind, text=text, requested_by=user_id,
            approved_by=None if hold else user_id, status="awaiting" if hold else "queued", created_at=now, next_attempt_at=now,
        )
        for kind, text in sorted(texts.items(), key=lambda kv: kv[0] != "private")
    ]
    session.add_all(rows)
    session.flush()
    audit(session, case_id, user_id, "submitted_for_approval" if hold else "approved", approval_id=approval_id, replies={r.kind: r.text for r in rows})
    return Approval(case_id, approval_id, tuple(r.id for r in rows), held=hold)


def release(session: Session, case_id: int, approver_id: str, now: datetime | None = None) -> Approval:
    """An approver lets a held draft go out; only one approver's click can win."""
    now = now or utcnow()
    won = session.execute(
        update(m.Case)
        .where(m.Case.id == case_id, m.Case.status == "pending_approval")
        .values(status="replying", updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise _lost_race(session, case_id)
    rows = list(session.scalars(select(m.Reply).where(m.Reply.case_id == case_id, m.Reply.status == "awaiting").order_by(m.Reply.id)))
    for row in rows:
        row.status, row.approved_by, row.next_attempt_at = "queued", approver_id, now
    audit(session, case_id, approver_id, "approved", approval_id=rows[0].approval_id if rows else None)
    return Approval(case_id, rows[0].approval_id if rows else "", tuple(r.id for r in rows))


def reject(session: Session, case_id: int, approver_id: str, now: datetime | None = None) -> None:
    """Send the held draft back: nothing goes out and the case is open again."""
    now = now or utcnow()
    won = session.execute(
        update(m.Case).where(m.Case.id == case_id, m.Case.status == "pending_approval").values(status="open", updated_at=now)
    ).rowcount
    if not won:
        raise CaseError("There is no draft waiting for approval on this case.")
    session.execute(update(m.Reply).where(m.Reply.case_id == case_id, m.Reply.status == "awaiting").values(status="rejected"))
    audit(session, case_id, approver_id, "rejected")


def _lost_race(session: Session, case_id: int) -> CaseError:
    """The error for whoever lost a conditional update: what state the case is in now."""
    case = session.get(m.Case, case_id)
    if case is None:
        return CaseError("This case no longer exists.")
    session.refresh(case)
    return CaseError(_why_not_answerable(case))


def get_answerable(session: Session, case_id: int, *, approver: bool = False) -> m.Case:
    """The case, if a reply can be written for it now; CaseError says why not."""
    case = session.get(m.Case, case_id)
    if case is None:
        raise CaseError("This case no longer exists.")
    if case.status not in ANSWERABLE + (("pending_approval",) if approver else ()):
        raise CaseError(_why_not_answerable(case))
    return case


def _why_not_answerable(case: m.Case) -> str:
    if case.status == "replying":
        return "A reply to this case is already being sent."
    if case.status == "pending_approval":
        return "A draft for this case is waiting for an approver."
    if case.status == "answered":
        who = f" by <@{case.answered_by}>" if case.answered_by else ""
        return f"This case was already answered{who}."
    if case.status == "dismissed":
        return "This case was dismissed, so nothing was sent."
    return f"This case is {case.status} and cannot be answered now."


def take_reply(session: Session, reply_id: int, now: datetime | None = None) -> m.Reply | None:
    """Claim a queued reply for sending; None if someone else has it or it is not due."""
    now = now or utcnow()
    won = session.execute(
        update(m.Reply)
        .where(m.Reply.id == reply_id, m.Reply.status == "queued", m.Reply.next_attempt_at <= now)
        .values(status="sending", attempts=m.Reply.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return None
    reply = session.get(m.Reply, reply_id)
    session.refresh(reply)
    return reply


def record_sent(session: Session, reply: m.Reply, external_id: str, url: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    reply.status, reply.external_id, reply.url, reply.sent_at, reply.error = "sent", external_id, url, now, None
    case = reply.case
    if case.first_response_at is None:
        case.first_response_at = now
        case.sla_met = case.due_at is None or now <= case.due_at
    audit(session, case.id, reply.requested_by, "sent", reply_id=reply.id, kind=reply.kind, url=url)
    settle(session, case, now)


MAX_ATTEMPTS = 5
WAITED_FOR_DM = "not sent because the private message failed"  # a public "we've DMed you" must not go out alone


def record_failure(session: Session, reply: m.Reply, message: str, *, transient: bool, retry_after: float | None = None, now: datetime | None = None) -> bool:
    """Note a failed attempt. Transient ones are requeued with backoff; returns True if requeued."""
    now = now or utcnow()
    reply.error = message
    if transient and reply.attempts < MAX_ATTEMPTS:
        delay = retry_after if retry_after is not None else min(300, 5 * 2 ** (reply.attempts - 1))
        reply.status = "queued"
        reply.next_attempt_at = now + timedelta(seconds=delay)
        audit(session, reply.case_id, "system", "send_delayed", reply_id=reply.id, error=message, retry_in=delay)
        return True
    reply.status = "failed"
    audit(session, reply.case_id, "system", "send_failed", reply_id=reply.id, kind=reply.kind, error=message)
    settle(session, reply.case, now)
    return False


def settle(session: Session, case: m.Case, now: datetime) -> None:
    """Once every reply of the latest approval is done, the case is answered or failed."""
    session.flush()
    live = [r for r in case.replies if r.status not in ("superseded", "rejected")]
    latest = live[-1].approval_id
    batch = [r for r in live if r.approval_id == latest]
    if any(r.status in ("queued", "sending") for r in batch):
        return
    if any(r.status == "sent" for r in batch):
        case.status = "answered"
        case.answered_by = batch[0].requested_by
        case.resolved_at = now
        failed = [r for r in batch if r.status == "failed"]
        case.last_error = f"{failed[0].kind} reply failed: {failed[0].error}" if failed else None
    else:
        case.status = "failed"
        case.last_error = batch[0].error


def due_replies(session: Session, now: datetime | None = None, limit: int = 50) -> list[int]:
    now = now or utcnow()
    return list(
        session.scalars(
            select(m.Reply.id).where(m.Reply.status == "queued", m.Reply.next_attempt_at <= now).order_by(m.Reply.id).limit(limit)
        )
    )


def dismiss(session: Session, case_id: int, user_id: str, reason: str, now: datetime | None = None) -> m.Case:
    now = now or utcnow()
    won = session.execute(
        update(m.Case)
        .where(m.Case.id == case_id, m.Case.status.in_(OPEN_STATUSES))
        .values(status="dismissed", dismissed_reason=reason, resolved_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise _lost_race(session, case_id)
    audit(session, case_id, user_id, "dismissed", reason=reason)
    case = session.get(m.Case, case_id)
    session.refresh(case)
    return case


# What the team can re-file a case as; spam and "not a complaint" are a dismissal (the Dismiss… menu).
RECATEGORIZABLE = ("complaint", "question", "praise")
_CATEGORY_WORDS = frozenset(("complaint", "question", "praise", "spam", "other"))


def recategorize(session: Session, case_id: int, user_id: str, category: str, *, config: FileConfig, now: datetime | None = None) -> m.Case:
    """Re-file an open case as another category because triage got it wrong.

    The case then looks as if triage had said so: the category leads the reasons,
    praise is low priority and a complaint at least normal, the SLA clock is
    recomputed from when the case opened, and the suggested reply is written for
    the new category. `corrected_category` keeps the team's word for training
    (`corrections.stored_corrections`). Escalation reads `category`, so praise
    stops paging anyone from here on.

    Only open (or failed) cases can be re-filed, and re-filing as the category it
    already has is refused (CaseError), so a double click changes nothing twice.
    The change is a compare-and-set on status and category: of two people
    re-filing at once, one wins and the other is told what happened.
    """
    now = now or utcnow()
    if category not in RECATEGORIZABLE:
        raise CaseError(f"A case can be re-filed as {', '.join(RECATEGORIZABLE[:-1])} or {RECATEGORIZABLE[-1]}; use Dismiss… for spam or not a complaint.")
    case = session.get(m.Case, case_id)
    if case is None:
        raise CaseError("This case no longer exists.")
    if case.status not in OPEN_STATUSES:
        raise CaseError(_why_not_refiled(case))
    if case.category == category:
        raise CaseError(f"It is already filed as {_a(category)}.")
    before = case.category
    priority = case.priority
    if category == "praise":
        priority = "low"
    elif category == "complaint" and priority == "low":
        priority = "normal"
    reasons = [category, *(r for r in (case.reasons or []) if r not in _CATEGORY_WORDS)]
    root = case.root
    triage = Triage(
        category=category, sentiment=case.sentiment, severity=case.severity, priority=priority,
        score=1.0 if category == "complaint" else 0.0, reasons=tuple(reasons), topic=case.topic,
    )
    values = dict(
        category=category,
        corrected_category=category,
        priority=priority,
        reasons=reasons,
        due_at=sla.due_at(config, case.network, priority, case.created_at),
        suggested_reply=suggest_reply(triage, name=root.author_name, handle=root.author_handle, network=case.network),
        updated_at=now,
    )
    if case.first_response_at is None:
        values["sla_met"] = None  # judged again against the new due time (escalation.mark_missed)
    won = session.execute(
        update(m.Case)
        .where(m.Case.id == case_id, m.Case.status.in_(OPEN_STATUSES), m.Case.category == before)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(case)
    if not won:
        if case.status not in OPEN_STATUSES:
            raise CaseError(_why_not_refiled(case))
        if case.category == category:
            raise CaseError(f"It is already filed as {_a(category)}.")
        raise CaseError(f"Someone just re-filed this case as {_a(case.category)}; check the card and try again.")
    audit(session, case_id, user_id, "recategorized", **{"from": before, "to": category, "priority": priority})
    return case


def _a(category: str) -> str:
    """The category as a message says it: a complaint, a question, but just praise."""
    return f"a {category}" if category in ("complaint", "question") else category


def _why_not_refiled(case: m.Case) -> str:
    """Why an answered, dismissed or in-flight case keeps its category."""
    return _why_not_answerable(case) + " Only a case waiting for an answer can be re-filed."


def claim(session: Session, case_id: int, user_id: str, now: datetime | None = None) -> m.Case:
    now = now or utcnow()
    case = session.get(m.Case, case_id)
    if case is None:
        raise CaseError("This case no longer exists.")
    if case.status not in OPEN_STATUSES:
        raise CaseError(_why_not_answerable(case))
    if case.claimed_by and case.claimed_by != user_id:
        raise CaseError(f"<@{case.claimed_by}> is already on this case.")
    case.claimed_by, case.claimed_at = user_id, now
    audit(session, case_id, user_id, "claimed")
    return case
