"""SLA clocks: due times per network and priority, business hours across DST, the clock on the card, the record for stats."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.flows import escalation
from bot.config import ConfigError, FileConfig, OncallConfig, SlaConfig, load_file_config
from bot.domain import escalation as chain
from bot.domain import sla
from bot.emulators.stack import card_text
from bot.slack.ids import Action
from storage import models as m

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NORMAL = "@acme the app crashes every time I open it"  # triage: complaint, normal priority


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


def office(**sla_keys) -> FileConfig:
    return FileConfig(sla=SlaConfig(business_hours="09:00-17:00", timezone="Europe/London", **sla_keys))


# -- the policy ------------------------------------------------------------------


def test_due_time_per_network_and_priority():
    config = FileConfig(sla=SlaConfig(x="15m", facebook="1h", urgent={"x": "5m"}, low={"facebook": "4h"}))
    start = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    assert sla.due_at(config, "x", "normal", start) == start + timedelta(minutes=15)
    assert sla.due_at(config, "x", "urgent", start) == start + timedelta(minutes=5)
    assert sla.due_at(config, "facebook", "urgent", start) == start + timedelta(hours=1)  # no urgent target for facebook
    assert sla.due_at(config, "facebook", "low", start) == start + timedelta(hours=4)
    assert sla.due_at(FileConfig(), "x", "high", start) == start + timedelta(minutes=15)  # the defaults of DESIGN.md


def test_business_hours_pause_the_clock_overnight_and_at_the_weekend():
    config = office(x="15m", facebook="1h")
    friday_late = london(2026, 3, 6, 16, 50)
    assert sla.due_at(config, "x", "normal", friday_late) == london(2026, 3, 9, 9, 5)
    assert sla.due_at(config, "x", "normal", london(2026, 3, 7, 12, 0)) == london(2026, 3, 9, 9, 15)  # Saturday
    assert sla.due_at(config, "x", "normal", london(2026, 3, 9, 10, 0)) == london(2026, 3, 9, 10, 15)  # in hours: plain time
    assert sla.due_at(config, "facebook", "normal", london(2026, 3, 9, 6, 0)) == london(2026, 3, 9, 10, 0)  # before opening


def test_business_hours_across_the_dst_change_keep_local_opening_times():
    config = office(facebook="1h")
    # London springs forward on Sunday 29 March 2026: Friday opens at 09:00 GMT, Monday at 09:00 BST (08:00 UTC).
    due = sla.due_at(config, "facebook", "normal", london(2026, 3, 27, 16, 30))
    assert due == datetime(2026, 3, 30, 8, 30, tzinfo=UTC)
    assert due.astimezone(LONDON).hour == 9
    # ...and falls back on 25 October 2026.
    assert sla.due_at(config, "facebook", "normal", london(2026, 10, 23, 16, 30)) == datetime(2026, 10, 26, 9, 30, tzinfo=UTC)


def test_holidays_overnight_hours_and_business_time_elapsed():
    config = office(x="30m", holidays=[date(2026, 12, 25)])
    assert sla.due_at(config, "x", "normal", london(2026, 12, 24, 16, 45)) == london(2026, 12, 28, 9, 15)  # Fri 25th closed
    night = FileConfig(sla=SlaConfig(business_hours="22:00-06:00", business_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], timezone="UTC"))
    assert sla.due_at(night, "x", "normal", datetime(2026, 3, 9, 5, 50, tzinfo=UTC)) == datetime(2026, 3, 9, 22, 5, tzinfo=UTC)
    clock = sla.clock(config)
    assert clock.elapsed(london(2026, 3, 6, 16, 0), london(2026, 3, 9, 10, 0)) == timedelta(hours=2)
    assert clock.is_open(london(2026, 3, 9, 12, 0)) and not clock.is_open(london(2026, 3, 8, 12, 0))


def test_business_hours_default_to_the_oncall_timezone():
    config = FileConfig(sla=SlaConfig(business_hours="09:00-17:00"), oncall=OncallConfig(members=["U01AAA"], timezone="America/New_York"))
    start = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # 08:00 in New York
    assert sla.due_at(config, "x", "normal", start) == datetime(2026, 3, 9, 13, 15, tzinfo=UTC)


def test_the_nudge_comes_before_the_due_time_in_business_time():
    config = office(x="15m", nudge_before="12m")
    created = london(2026, 3, 6, 16, 50)
    due = sla.due_at(config, "x", "normal", created)
    assert due == london(2026, 3, 9, 9, 5)
    assert sla.nudge_at(config, created, due) == london(2026, 3, 6, 16, 53)  # 5 minutes on Monday, 7 on Friday
    early = config.model_copy(update={"sla": config.sla.model_copy(update={"nudge_before": timedelta(minutes=30)})})
    assert sla.nudge_at(early, created, due) == created  # never before the card exists
    assert sla.nudge_at(FileConfig(sla=SlaConfig(nudge_before="1h")), created, created + timedelta(minutes=15)) == created


@pytest.mark.parametrize(
    "seconds,text",
    [
        (12 * 60, "due in 12 min"),
        (11 * 60 + 30, "due in 12 min"),
        (30, "due now"),
        (-30, "due now"),
        (-5 * 60 - 20, "overdue by 5 min"),
        (95 * 60, "due in 1 h 35 min"),
        (-(2 * 3600 + 7 * 60), "overdue by 2 h 5 min"),
        (3 * 86400 + 4 * 3600 + 60, "due in 3 d 5 h"),
    ],
)
def test_clock_text(seconds, text):
    now = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    assert sla.clock_text(now + timedelta(seconds=seconds), now) == text


def test_a_full_sla_section_loads(tmp_path):
    path = tmp_path / "socialdesk.toml"
    path.write_text(
        '[sla]\nx = "15m"\nfacebook = "1h"\nbusiness_hours = "08:30-18:00"\nbusiness_days = ["mon", "tue", "wed", "thu", "fri", "sat"]\n'
        'holidays = [2026-12-25, "2026-12-26"]\ntimezone = "Europe/Berlin"\nnudge_before = "3m"\ncheck_every = "20s"\n\n'
        '[sla.urgent]\nx = "5m"\nfacebook = "15m"\n'
    )
    config = load_file_config(path)
    assert config.sla.target("x", "urgent") == timedelta(minutes=5) and config.sla.target("x", "normal") == timedelta(minutes=15)
    assert config.sla.holidays == [date(2026, 12, 25), date(2026, 12, 26)]


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
