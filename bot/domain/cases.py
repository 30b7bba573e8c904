"""Cases: the state changes a case goes through (claim, dismiss, re-file) and why one cannot happen.

Pure domain over a database session: no Slack, no HTTP. Every change that must
happen once is a conditional UPDATE that only one caller can win. Ingest lives in
`bot.domain.ingest`, the replies' outbox in `bot.domain.outbox`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from bot.clock import utcnow
from bot.config import FileConfig
from bot.domain import sla
from bot.domain.errors import UserFacingError
from bot.domain.states import CaseStatus, OPEN_STATUSES
from bot.triage import Triage, suggest_reply
from storage import models as m

ANSWERABLE = OPEN_STATUSES


class CaseError(UserFacingError):
    """An action on a case that cannot happen; the message is for the person who tried."""


def audit(session: Session, case_id: int | None, actor: str, action: str, **detail) -> None:
    session.add(m.AuditEvent(case_id=case_id, actor=actor, action=action, detail=detail, created_at=utcnow()))


def find(session: Session, case_id: int) -> m.Case | None:
    """The case with its posts loaded (builders read them after the session closes), or None."""
    return session.scalars(select(m.Case).options(selectinload(m.Case.posts)).where(m.Case.id == case_id)).first()


def get_case(session: Session, case_id: int) -> m.Case:
    case = find(session, case_id)
    if case is None:
        raise CaseError("This case no longer exists.")
    return case


@dataclass
class HomeLists:
    """What App Home shows a person: their claimed cases, unclaimed ones waiting, and the team's counts."""

    mine: list[m.Case]
    waiting: list[m.Case]
    numbers: dict[str, int]


def home_lists(session: Session, user_id: str, *, waiting_limit: int = 15) -> HomeLists:
    open_cases = select(m.Case).options(selectinload(m.Case.posts)).where(m.Case.status.in_(OPEN_STATUSES))
    mine = list(session.scalars(open_cases.where(m.Case.claimed_by == user_id).order_by(m.Case.created_at)))
    waiting = list(session.scalars(open_cases.where(m.Case.claimed_by.is_(None)).order_by(m.Case.created_at).limit(waiting_limit)))
    counts = dict(session.execute(select(m.Case.status, func.count()).group_by(m.Case.status)).all())
    numbers = {
        "open": counts.get(CaseStatus.OPEN, 0) + counts.get(CaseStatus.FAILED, 0),
        "answered": counts.get(CaseStatus.ANSWERED, 0),
        "dismissed": counts.get(CaseStatus.DISMISSED, 0),
    }
    return HomeLists(mine, waiting, numbers)


def lost_race(session: Session, case_id: int) -> CaseError:
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
    if case.status not in ANSWERABLE + ((CaseStatus.PENDING_APPROVAL,) if approver else ()):
        raise CaseError(_why_not_answerable(case))
    return case


def _why_not_answerable(case: m.Case) -> str:
    if case.status == CaseStatus.REPLYING:
        return "A reply to this case is already being sent."
    if case.status == CaseStatus.PENDING_APPROVAL:
        return "A draft for this case is waiting for an approver."
    if case.status == CaseStatus.ANSWERED:
        who = f" by <@{case.answered_by}>" if case.answered_by else ""
        return f"This case was already answered{who}."
    if case.status == CaseStatus.DISMISSED:
        return "This case was dismissed, so nothing was sent."
    return f"This case is {case.status} and cannot be answered now."


def dismiss(session: Session, case_id: int, user_id: str, reason: str, now: datetime | None = None) -> m.Case:
    now = now or utcnow()
    case = _close_open(session, case_id, status=CaseStatus.DISMISSED, dismissed_reason=reason, resolved_at=now, updated_at=now)
    audit(session, case_id, user_id, "dismissed", reason=reason)
    return case


def _close_open(session: Session, case_id: int, **values) -> m.Case:
    """Close a case only if it is still open (one compare-and-set, so two clicks cannot both win)."""
    won = session.execute(
        update(m.Case)
        .where(m.Case.id == case_id, m.Case.status.in_(OPEN_STATUSES))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        raise lost_race(session, case_id)
    case = session.get(m.Case, case_id)
    session.refresh(case)
    return case


def reply_blocker(session: Session, case_id: int) -> str | None:
    """Why the network takes no reply to this case's first post through its API, if it says so."""
    return session.scalar(select(m.Post.reply_blocker).where(m.Post.case_id == case_id).order_by(m.Post.id).limit(1))


def mark_replied(session: Session, case_id: int, user_id: str, now: datetime | None = None) -> m.Case:
    """Someone answered on the network itself (it takes no API reply there): the first response counts as now."""
    now = now or utcnow()
    case = _close_open(session, case_id, status=CaseStatus.ANSWERED, answered_by=user_id, resolved_at=now, updated_at=now)
    if case.first_response_at is None:
        case.first_response_at = now
        case.sla_met = case.due_at is None or now <= case.due_at
    audit(session, case_id, user_id, "replied_on_network")
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
