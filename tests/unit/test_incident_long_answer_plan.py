"""The plan for an answer too long to post: by DM where every post of that network can take one, refused (with the numbers) where not."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.domain import incidents
from bot.domain.outbox import DM_PUBLIC_DEFAULT
from bot.domain.replylength import weighted_length
from storage import models as m
from tests.unit.test_incident_preview import LIMITS, PRICE, _incident

LONG = ("We are so sorry about checkout. " * 10).strip()  # 319 weighted characters
OPEN_DMS = {"x": lambda post: None}


def test_too_long_for_x_goes_by_dm_when_x_can_carry_it_and_each_post_gets_a_dm_and_a_short_public_reply(db):
    with db.session() as session:
        incident_id = _incident(session, ("x", "ann", "mention", "open"), ("x", "bo", "message", "open"), ("facebook", "Sam", "comment", "open"))
        plan = incidents.plan_answer(session, incident_id, LONG, LIMITS, OPEN_DMS)
        assert (plan.too_long, plan.via_dm) == ({}, {"x": 1})  # the X message was private anyway
        [fb, x], _ = incidents.preview_answer(session, incident_id, LONG, LIMITS, PRICE, OPEN_DMS)
        assert x.fits and x.via_dm == 1 and (x.length, x.limit) == (weighted_length("@ann " + LONG), 280)
        assert x.cost == pytest.approx(0.015 + 0.010 + 0.015)  # ann: DM + short reply; bo: the DM it gets anyway
        assert fb.fits and not fb.via_dm
        incidents.answer_all(session, incident_id, LONG, "U0AGENT", LIMITS, private=OPEN_DMS)
        replies = session.execute(select(m.Case.network, m.Post.author_handle, m.Reply.kind, m.Reply.text)
                                  .join(m.Case, m.Reply.case_id == m.Case.id).join(m.Post, m.Post.case_id == m.Case.id).order_by(m.Reply.id)).all()
    assert [tuple(r) for r in replies] == [
        ("x", "ann", "private", LONG), ("x", "ann", "public", f"@ann {DM_PUBLIC_DEFAULT}"),
        ("x", "bo", "private", LONG), ("facebook", "Sam", "public", LONG)]


@pytest.mark.parametrize("private", [{}, {"x": lambda post: "this person takes no direct messages"}], ids=["no DMs", "one post cannot"])
def test_too_long_where_no_dm_can_carry_it_is_refused_saying_the_weighted_length_and_the_limit(db, private):
    with db.session() as session:
        incident_id = _incident(session, ("x", "ann", "mention", "open"), ("x", "bo", "mention", "open"))
        plan = incidents.plan_answer(session, incident_id, LONG, LIMITS, private)
        assert plan.too_long == {"x": weighted_length("@ann " + LONG)} and plan.via_dm == {}
        [x], _ = incidents.preview_answer(session, incident_id, LONG, LIMITS, PRICE, private)
        assert not x.fits
        with pytest.raises(incidents.IncidentError) as refused:
            incidents.answer_all(session, incident_id, LONG, "U0AGENT", LIMITS, private=private)
        assert f"{weighted_length('@ann ' + LONG)}/280" in str(refused.value) and "direct message cannot carry it" in str(refused.value)
        assert session.scalar(select(m.Reply.id)) is None


def test_a_failed_dm_and_its_public_half_go_again_together_on_retry(db):
    with db.session() as session:
        incident_id = _incident(session, ("x", "ann", "mention", "open"))
        incidents.answer_all(session, incident_id, LONG, "U0AGENT", LIMITS, private=OPEN_DMS)
        for reply in session.scalars(select(m.Reply)):
            reply.status = "failed"
        session.execute(m.Case.__table__.update().values(status="failed"))
        assert incidents.retry_failed(session, incident_id, "U0AGENT") == 1
        assert incidents.retry_failed(session, incident_id, "U0AGENT") == 0  # once
        queued = session.execute(select(m.Reply.kind, m.Reply.text).where(m.Reply.status == "queued").order_by(m.Reply.id)).all()
    assert [tuple(r) for r in queued] == [("private", LONG), ("public", f"@ann {DM_PUBLIC_DEFAULT}")]
