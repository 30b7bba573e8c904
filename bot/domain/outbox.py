"""The outbox: an approval queues replies in the database before they are sent, and each is sent at most once.

Pure domain over a database session: no Slack, no HTTP. Every change that must
happen once is a conditional UPDATE that only one caller can win; a reply whose
send was cut off is never resent on our own.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.domain.cases import ANSWERABLE, CaseError, audit, lost_race, reply_blocker
from bot.domain.states import CaseStatus, ReplyStatus, RETIRED_REPLIES
from storage import models as m

DM_PUBLIC_DEFAULT = "Sorry about this. We've sent you a direct message so we can sort it out."  # Move to DM's public half


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
    blocked = reply_blocker(session, case_id)
    if blocked:
        raise CaseError(f"{blocked}. Nothing was sent.")
    allowed = ANSWERABLE + ((CaseStatus.PENDING_APPROVAL,) if approver else ())
    won = session.execute(
        update(m.Case)
        .where(m.Case.id == case_id, m.Case.status.in_(allowed))
        .values(status=CaseStatus.PENDING_APPROVAL if hold else CaseStatus.REPLYING, last_error=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise lost_race(session, case_id)
    session.execute(
        update(m.Reply).where(m.Reply.case_id == case_id, m.Reply.status == ReplyStatus.AWAITING).values(status=ReplyStatus.SUPERSEDED)
    )
    approval_id = str(uuid4())
    rows = [
        m.Reply(
            case_id=case_id, approval_id=approval_id, kind=kind, text=text, requested_by=user_id,
            approved_by=None if hold else user_id, status=ReplyStatus.AWAITING if hold else ReplyStatus.QUEUED, created_at=now, next_attempt_at=now,
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
        .where(m.Case.id == case_id, m.Case.status == CaseStatus.PENDING_APPROVAL)
        .values(status=CaseStatus.REPLYING, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise lost_race(session, case_id)
    rows = list(session.scalars(select(m.Reply).where(m.Reply.case_id == case_id, m.Reply.status == ReplyStatus.AWAITING).order_by(m.Reply.id)))
    for row in rows:
        row.status, row.approved_by, row.next_attempt_at = ReplyStatus.QUEUED, approver_id, now
    audit(session, case_id, approver_id, "approved", approval_id=rows[0].approval_id if rows else None)
    return Approval(case_id, rows[0].approval_id if rows else "", tuple(r.id for r in rows))


def reject(session: Session, case_id: int, approver_id: str, now: datetime | None = None) -> None:
    """Send the held draft back: nothing goes out and the case is open again."""
    now = now or utcnow()
    won = session.execute(
        update(m.Case).where(m.Case.id == case_id, m.Case.status == CaseStatus.PENDING_APPROVAL).values(status=CaseStatus.OPEN, updated_at=now)
    ).rowcount
    if not won:
        raise CaseError("There is no draft waiting for approval on this case.")
    session.execute(update(m.Reply).where(m.Reply.case_id == case_id, m.Reply.status == ReplyStatus.AWAITING).values(status=ReplyStatus.REJECTED))
    audit(session, case_id, approver_id, "rejected")


def current_draft(case: m.Case) -> str:
    """The text the editor opens with: a draft held for approval, else the last public reply that failed, else the suggestion."""
    held = [r.text for r in case.replies if r.status == ReplyStatus.AWAITING and r.kind == "public"]
    failed = [r.text for r in case.replies if r.status == ReplyStatus.FAILED and r.kind == "public" and r.error != WAITED_FOR_DM]
    return (held or failed or [case.suggested_reply])[-1]


def take_reply(session: Session, reply_id: int, now: datetime | None = None) -> m.Reply | None:
    """Claim a queued reply for sending; None if someone else has it or it is not due."""
    now = now or utcnow()
    won = session.execute(
        update(m.Reply)
        .where(m.Reply.id == reply_id, m.Reply.status == ReplyStatus.QUEUED, m.Reply.next_attempt_at <= now)
        .values(status=ReplyStatus.SENDING, attempts=m.Reply.attempts + 1, next_attempt_at=now)  # when sending began
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return None
    reply = session.get(m.Reply, reply_id)
    session.refresh(reply)
    return reply


def record_sent(session: Session, reply: m.Reply, external_id: str, url: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    reply.status, reply.external_id, reply.url, reply.sent_at, reply.error = ReplyStatus.SENT, external_id, url, now, None
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
        reply.status = ReplyStatus.QUEUED
        reply.next_attempt_at = now + timedelta(seconds=delay)
        audit(session, reply.case_id, "system", "send_delayed", reply_id=reply.id, error=message, retry_in=delay)
        return True
    reply.status = ReplyStatus.FAILED
    audit(session, reply.case_id, "system", "send_failed", reply_id=reply.id, kind=reply.kind, error=message)
    settle(session, reply.case, now)
    return False


def settle(session: Session, case: m.Case, now: datetime) -> None:
    """Once every reply of the latest approval is done, the case is answered or failed."""
    session.flush()
    live = [r for r in case.replies if r.status not in RETIRED_REPLIES]
    latest = live[-1].approval_id
    batch = [r for r in live if r.approval_id == latest]
    if any(r.status in (ReplyStatus.QUEUED, ReplyStatus.SENDING) for r in batch):
        return
    if any(r.status == ReplyStatus.SENT for r in batch):
        case.status = CaseStatus.ANSWERED
        case.answered_by = batch[0].requested_by
        case.resolved_at = now
        failed = [r for r in batch if r.status == ReplyStatus.FAILED]
        case.last_error = f"{failed[0].kind} reply failed: {failed[0].error}" if failed else None
    else:
        case.status = CaseStatus.FAILED
        case.last_error = batch[0].error


def record_uncertain(session: Session, reply: m.Reply, message: str, now: datetime | None = None) -> None:
    """The network may or may not have taken it: failed, never resent on its own, looked up before any resend."""
    now = now or utcnow()
    reply.uncertain = True
    record_failure(session, reply, message, transient=False, now=now)


def uncertain_since(session: Session, reply: m.Reply) -> datetime | None:
    """When the earliest reply of this kind on this case whose outcome is unknown was approved, if there is one."""
    return session.scalar(
        select(m.Reply.created_at)
        .where(m.Reply.case_id == reply.case_id, m.Reply.kind == reply.kind, m.Reply.uncertain.is_(True), m.Reply.id != reply.id)
        .order_by(m.Reply.id).limit(1)
    )


def resolve_uncertain(session: Session, reply: m.Reply, checked: str) -> None:
    """The lookup settled whether the earlier attempts of this kind went out: they no longer hold anything back."""
    for earlier in session.scalars(select(m.Reply).where(
            m.Reply.case_id == reply.case_id, m.Reply.kind == reply.kind, m.Reply.uncertain.is_(True), m.Reply.id != reply.id)):
        earlier.uncertain, earlier.checked = False, checked


def record_found(session: Session, reply: m.Reply, external_id: str, url: str, checked: str, now: datetime | None = None) -> None:
    """The reply is already on the network (an earlier attempt went out): recorded as sent, never posted again."""
    now = now or utcnow()
    reply.checked = checked
    reply.uncertain = False
    resolve_uncertain(session, reply, checked)
    audit(session, reply.case_id, "system", "found_sent", reply_id=reply.id, kind=reply.kind, url=url)
    record_sent(session, reply, external_id, url, now)


def note_checked(session: Session, reply: m.Reply, checked: str) -> None:
    reply.checked = checked


def hold_network(session: Session, network: str, until: datetime) -> int:
    """The network said "too many" until `until`: every queued reply to it waits that long, instead of one 429 each.

    Shared through the database like Slack's pace, so every process and the bulk answer of an
    incident (hundreds of replies queued at once) see the hold. Returns how many were held back.
    """
    return session.execute(
        update(m.Reply)
        .where(m.Reply.status == ReplyStatus.QUEUED, m.Reply.next_attempt_at < until,
               m.Reply.case_id.in_(select(m.Case.id).where(m.Case.network == network)))
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    ).rowcount


def due_replies(session: Session, now: datetime | None = None, limit: int = 50) -> list[int]:
    now = now or utcnow()
    return list(
        session.scalars(
            select(m.Reply.id).where(m.Reply.status == ReplyStatus.QUEUED, m.Reply.next_attempt_at <= now).order_by(m.Reply.id).limit(limit)
        )
    )
