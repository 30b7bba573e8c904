"""SLA clocks in motion: the clock on the card, kept current, and the record the stats read."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.flows import escalation
from bot.config import FileConfig, SlaConfig
from bot.domain import escalation as chain
from bot.domain import sla
from bot.emulators.stack import card_text
from bot.slack.ids import Action
from storage import models as m
from tests.unit.domain.test_sla import NORMAL, UTC


# -- the card and the record -------------------------------------------------------


def _case(stack) -> m.Case:
    with stack.rt.db.session() as session:
        return session.scalars(select(m.Case)).one()


def _clock_on_card(stack) -> str:
    [card] = stack.cards()
    return card_text(card)


def test_the_card_shows_the_clock_and_a_job_keeps_it_current(stack, clock):
    author = stack.x.add_user(username="sam", followers=10)
    stack.x.add_tweet(NORMAL, author)
    stack.poll()
    assert "due in 15 min" in _clock_on_card(stack)
    keeper = escalation.ClockKeeper(stack.rt)
    keeper.run()
    updates = len(stack.slack.calls("chat.update"))
    keeper.run()
    assert len(stack.slack.calls("chat.update")) == updates  # nothing changed, nothing redrawn
    clock.shift(20 * 60 + 5)
    keeper.run()
    text = _clock_on_card(stack)
    assert "overdue by 5 min" in text and "due in" not in text


def test_per_priority_sla_reaches_the_card(make_stack):
    stack = make_stack(config=FileConfig(sla=SlaConfig(x="1h", urgent={"x": "10m"})))
    big = stack.x.add_user(username="jordan_k", name="Jordan K", followers=48_200)
    stack.x.add_tweet("@acme my order never arrived and nobody answers my emails. I want a refund", big)
    stack.poll()
    case = _case(stack)
    assert case.priority == "urgent"
    assert case.due_at - case.created_at == timedelta(minutes=10)
    assert "due in 10 min" in _clock_on_card(stack)


def test_first_response_time_and_sla_met_are_recorded(stack, clock):
    author = stack.x.add_user(username="sam", followers=10)
    fast = stack.x.add_tweet(NORMAL, author)
    stack.poll()
    case = _case(stack)
    clock.shift(7 * 60)
    stack.click("U0AGENT", Action.APPROVE, case.id)
    stack.x.wait_for(lambda: stack.x.replies_to(fast), what="the reply")
    stack.slack.wait_for(lambda: _case(stack).status == "answered", what="answered")
    answered = _case(stack)
    assert answered.sla_met is True
    assert timedelta(minutes=7) <= answered.first_response_at - answered.created_at < timedelta(minutes=8)
    stack.slack.wait_for(lambda: "first response in 7 min (within the SLA)" in _clock_on_card(stack), what="card shows the response time")


def test_a_case_past_due_without_an_answer_is_recorded_as_missed(stack, clock):
    author = stack.x.add_user(username="sam", followers=10)
    tweet = stack.x.add_tweet(NORMAL, author)
    stack.poll()
    escalation.check(stack.rt)
    assert _case(stack).sla_met is None
    clock.shift(16 * 60)
    with stack.rt.db.session() as session:
        assert chain.mark_missed(session, datetime.now(UTC)) == 1
    assert _case(stack).sla_met is False
    stack.click("U0AGENT", Action.APPROVE, _case(stack).id)
    stack.x.wait_for(lambda: stack.x.replies_to(tweet))
    stack.slack.wait_for(lambda: _case(stack).status == "answered", what="answered")
    assert _case(stack).sla_met is False and _case(stack).first_response_at is not None
