"""The team's corrections to triage, fed back into training."""
from __future__ import annotations

from sqlalchemy import select

from storage import models as m
from storage.db import Database

# A dismissal reason says what the post really was.
REASON_TO_CATEGORY = {"not_a_complaint": "other", "spam": "spam"}


def stored_corrections(db: Database) -> list[tuple[str, str]]:
    """(text, category) for every root post whose case the team dismissed as mis-triaged."""
    with db.session() as session:
        rows = session.execute(
            select(m.Post.text, m.Case.dismissed_reason)
            .join(m.Case, m.Post.case_id == m.Case.id)
            .where(m.Case.status == "dismissed", m.Case.dismissed_reason.in_(REASON_TO_CATEGORY))
        ).all()
    return [(text, REASON_TO_CATEGORY[reason]) for text, reason in rows if text]
