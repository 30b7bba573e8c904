"""Posts deleted or hidden on their network: the case follows, so no card is left asking for an answer to nothing.

Pure domain over a database session: no Slack, no HTTP. Applying the same change
twice (webhooks are retried) changes nothing the second time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.domain.cases import audit
from bot.domain.states import CaseStatus, ReplyStatus, WAITING_STATUSES
from storage import models as m

STATES = ("visible", "hidden", "removed")
CLOSABLE = WAITING_STATUSES  # nothing went out yet, and now nothing can


@dataclass(frozen=True)
class Touched:
    case_id: int
    post_id: int
    state: str
    is_root: bool
    closed: bool  # the case was dismissed because its post is gone


def apply(session: Session, network: str, external_id: str, state: str, *, cascade: bool = False,
          now: datetime | None = None) -> list[Touched]:
    """Record that a post is now visible, hidden or removed; `cascade` also covers what was posted under it."""
    if state not in STATES:
        raise ValueError(f"unknown visibility {state!r}")
    now = now or utcnow()
    match = [m.Post.external_id == external_id]
    if cascade and state == "removed":
        match.append(m.Post.conversation_id == external_id)  # comments under a deleted post go with it
    touched = []
    for post in session.scalars(select(m.Post).where(m.Post.network == network, or_(*match)).order_by(m.Post.id)):
        if post.visibility == state:
            continue
        post.visibility = state
        if post.case_id is None:
            continue
        case = session.get(m.Case, post.case_id)
        is_root = case.posts[0].id == post.id
        closed = False
        if state == "removed" and is_root:
            closed = bool(session.execute(
                update(m.Case)
                .where(m.Case.id == case.id, m.Case.status.in_(CLOSABLE))
                .values(status=CaseStatus.DISMISSED, dismissed_reason="deleted", resolved_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount)
            if closed:
                session.execute(update(m.Reply).where(m.Reply.case_id == case.id, m.Reply.status == ReplyStatus.AWAITING)
                                .values(status=ReplyStatus.SUPERSEDED))
                session.refresh(case)
        audit(session, case.id, "system", f"post_{state}", post_id=post.id, closed=closed)
        touched.append(Touched(case.id, post.id, state, is_root, closed))
    session.flush()
    return touched
