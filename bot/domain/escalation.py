"""Escalation when nobody acts on a case: nudge in the thread, page the on-call person, escalate.

Pure domain over a database session: no Slack, no HTTP. Each step is claimed
by inserting a row unique on (case, step) before anything is sent, so a step
happens once per case however many schedulers run and however often they restart.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from bot.config import FileConfig
from bot.domain import oncall, sla
from bot.domain.errors import UserFacingError
from bot.domain.states import CaseStatus, OPEN_STATUSES
from storage import models as m

NUDGE, PAGE, ESCALATE = "nudge", "page", "escalate"
STUCK_AFTER = timedelta(minutes=5)  # a step claimed this long ago and never finished was cut off by a crash


class AcknowledgeError(UserFacingError):
    """An Acknowledge that cannot count; the message is for the person who clicked."""


def chain(config: FileConfig) -> tuple[str, ...]:
    """The steps this configuration takes; escalation only when someone is named to escalate to."""
    return (NUDGE, PAGE, ESCALATE) if config.oncall.escalate_to else (NUDGE, PAGE)


def waiting(case: m.Case) -> bool:
    """Nobody has acted: open, unclaimed, unanswered and unacknowledged (and not
    re-filed as praise since it was picked, which never pages)."""
    return (
        case.status == CaseStatus.OPEN
        and case.category != "praise"
        and not case.claimed_by
        and case.first_response_at is None
        and case.acknowledged_at is None
    )


def candidates(session: Session, config: FileConfig, now: datetime, limit: int = 500) -> list[int]:
    """One query: cases nobody has acted on whose first step is due and whose chain is not finished.

    Praise keeps its SLA clock on the card but never pages anyone.
    """
    horizon = sla.clock(config).add(now, config.sla.nudge_before)
    last = chain(config)[-1]
    finished = exists().where(m.EscalationStep.case_id == m.Case.id, m.EscalationStep.step == last)
    return list(
        session.scalars(
            select(m.Case.id)
            .where(
                m.Case.status == CaseStatus.OPEN,
                m.Case.category != "praise",  # thanks can wait; nobody is woken up for it
                m.Case.claimed_by.is_(None),
                m.Case.first_response_at.is_(None),
                m.Case.acknowledged_at.is_(None),
                m.Case.card_ts.is_not(None),
                m.Case.due_at.is_not(None),
                m.Case.due_at <= horizon,
                ~finished,
            )
            .order_by(m.Case.due_at)
            .limit(limit)
        )
    )


def steps_of(session: Session, case_id: int) -> dict[str, m.EscalationStep]:
    return {s.step: s for s in session.scalars(select(m.EscalationStep).where(m.EscalationStep.case_id == case_id))}


def next_step(config: FileConfig, case: m.Case, steps: dict[str, m.EscalationStep], now: datetime) -> str | None:
    """The step to take now for this case, if any (in order; pages wait out quiet hours)."""
    if not waiting(case) or case.due_at is None:
        return None
    clock = sla.clock(config)
    if NUDGE not in steps:
        return NUDGE if now >= sla.nudge_at(config, case.created_at, case.due_at) else None
    if PAGE not in steps:
        if now < clock.add(case.due_at, config.oncall.page_after) or not oncall.may_page(config.oncall, case.priority, now):
            return None
        return PAGE
    if ESCALATE in chain(config) and ESCALATE not in steps:
        page = steps[PAGE]
        if page.status == "claimed" and now - page.claimed_at < STUCK_AFTER:
            return None  # still being sent; after a crash the chain goes on without it
        paged_at = page.done_at or page.claimed_at
        # Nobody could be paged: the chain moves on at once.
        wait = timedelta(0) if page.status == "skipped" else config.oncall.escalate_after
        if now < clock.add(paged_at, wait) or not oncall.may_page(config.oncall, case.priority, now):
            return None
        return ESCALATE
    return None


def claim(session_factory, case_id: int, step: str, now: datetime) -> bool:
    """Insert the step's row in its own transaction; only one caller anywhere can win."""
    try:
        with session_factory() as session:
            session.add(m.EscalationStep(case_id=case_id, step=step, status="claimed", claimed_at=now))
        return True
    except IntegrityError:
        return False


def finish(session: Session, case_id: int, step: str, status: str, now: datetime, *, targets: list[str] | None = None, detail: str | None = None) -> None:
    session.execute(
        update(m.EscalationStep)
        .where(m.EscalationStep.case_id == case_id, m.EscalationStep.step == step)
        .values(status=status, done_at=now, targets=list(targets or []), detail=detail)
    )


def release(session: Session, case_id: int, step: str) -> None:
    """Give a step back when Slack said it was not sent, so the next check tries again."""
    session.query(m.EscalationStep).filter(
        m.EscalationStep.case_id == case_id, m.EscalationStep.step == step, m.EscalationStep.status == "claimed"
    ).delete(synchronize_session=False)


def mark_missed(session: Session, now: datetime) -> int:
    """Cases past due with no response (and not dismissed) have missed the SLA; a late answer keeps it missed."""
    return session.execute(
        update(m.Case)
        .where(m.Case.status != CaseStatus.DISMISSED, m.Case.first_response_at.is_(None), m.Case.sla_met.is_(None), m.Case.due_at < now)
        .values(sla_met=False)
        .execution_options(synchronize_session=False)
    ).rowcount


@dataclass(frozen=True)
class Acknowledged:
    case_id: int
    claimed: bool  # the case became this person's


def acknowledge(session: Session, case_id: int, user_id: str, now: datetime) -> Acknowledged:
    """Stop the chain: the first Acknowledge counts, and an unclaimed open case becomes the acknowledger's."""
    case = session.get(m.Case, case_id)
    if case is None:
        raise AcknowledgeError("This case no longer exists.")
    won = session.execute(
        update(m.Case)
        .where(m.Case.id == case_id, m.Case.acknowledged_at.is_(None))
        .values(acknowledged_by=user_id, acknowledged_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(case)
    if not won:
        if case.acknowledged_by == user_id:
            raise AcknowledgeError("You already acknowledged this case.")
        raise AcknowledgeError(f"<@{case.acknowledged_by}> already acknowledged this case.")
    claimed = bool(
        session.execute(
            update(m.Case)
            .where(m.Case.id == case_id, m.Case.status == CaseStatus.OPEN, m.Case.claimed_by.is_(None))
            .values(claimed_by=user_id, claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
    session.add(m.AuditEvent(case_id=case_id, actor=user_id, action="acknowledged", detail={"claimed": claimed}, created_at=now))
    session.refresh(case)
    return Acknowledged(case_id, claimed)


def open_cases(session: Session, now: datetime, limit: int = 10) -> tuple[list[m.Case], int, int]:
    """For a hand-over summary: the most pressing open cases, how many are open, how many overdue."""
    base = select(m.Case).where(m.Case.status.in_(OPEN_STATUSES))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    overdue = session.scalar(select(func.count()).select_from(base.where(m.Case.due_at < now).subquery())) or 0
    top = list(session.scalars(base.options(selectinload(m.Case.posts)).order_by(m.Case.due_at.is_(None), m.Case.due_at).limit(limit)))
    return top, total, overdue
