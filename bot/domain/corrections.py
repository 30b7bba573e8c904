"""The team's corrections to triage, fed back into training."""
from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from bot.domain.states import CaseStatus
from storage import models as m
from storage.db import Database

# A dismissal reason says what the post really was.
REASON_TO_CATEGORY = {"not_a_complaint": "other", "spam": "spam"}


def stored_corrections(db: Database) -> list[tuple[str, str]]:
    """(text, category) of the root post of every case the team said triage got wrong, one row per case.

    Two kinds of correction count: a case dismissed as "not a complaint" or
    "spam" (labelled "other" / "spam"), and a case re-filed as another category
    (`Case.corrected_category`, whatever its status is now). When a case was
    re-filed and later dismissed as not a complaint or spam, the dismissal is
    the team's last word and wins. Follow-ups are not labelled: only the post
    that opened the case was triaged. Cases dismissed for other reasons
    ("already handled") say nothing about triage and are left out.
    """
    root_id = select(func.min(m.Post.id)).where(m.Post.case_id == m.Case.id).correlate(m.Case).scalar_subquery()
    with db.session() as session:
        rows = session.execute(
            select(m.Post.text, m.Case.status, m.Case.dismissed_reason, m.Case.corrected_category)
            .join(m.Case, m.Post.case_id == m.Case.id)
            .where(
                m.Post.id == root_id,
                or_(
                    m.Case.corrected_category.is_not(None),
                    and_(m.Case.status == CaseStatus.DISMISSED, m.Case.dismissed_reason.in_(REASON_TO_CATEGORY)),
                ),
            )
            .order_by(m.Case.id)
        ).all()
    corrections = []
    for text, status, reason, corrected in rows:
        if not text:
            continue
        if status == CaseStatus.DISMISSED and reason in REASON_TO_CATEGORY:
            corrections.append((text, REASON_TO_CATEGORY[reason]))
        elif corrected:
            corrections.append((text, corrected))
    return corrections

