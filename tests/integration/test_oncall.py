"""On-call in Slack: /socialdesk oncall (show, override, swap) and the hand-over summaries."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from bot.flows import escalation
from bot.domain import oncall
from bot.emulators.stack import card_text
from storage import models as m
from tests.helpers import dms, make_team
from tests.unit.domain.test_oncall import AAA, BBB, CCC, MGR, MONDAY, UTC, london, rotation


# -- the slash command -------------------------------------------------------------


@pytest.fixture
def team(make_stack, time_machine):
    people = {AAA: "alice", BBB: "bob", CCC: "carol", MGR: "maria"}
    return make_team(make_stack, time_machine, rotation(escalate_to=[MGR], quiet_hours="22:00-07:00"), people, MONDAY)


def reply_text(response) -> str:
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {"text": response.text}
    return body.get("text", "") + "\n" + "\n".join(card_text({"blocks": body.get("blocks") or []}).splitlines())


def test_oncall_shows_who_is_on_call_now_and_next(team):
    response = team.command(AAA, "oncall")
    assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
    text = reply_text(response)
    assert f"*On call now:* <@{BBB}>" in text and f"*Next:* <@{CCC}>" in text
    assert "weekly, hand-over on Mon at 09:00 Europe/London" in text and f"Escalates to <@{MGR}> 15 min" in text


def test_override_by_a_manager_and_the_incoming_person_gets_a_summary(team):
    response = team.command(MGR, f"oncall override <@{AAA}|alice> 4h")
    assert response.json()["response_type"] == "in_channel"
    text = reply_text(response)
    assert f"<@{MGR}> put <@{AAA}> on call" in text and f"*On call now:* <@{AAA}> (override by <@{MGR}>)" in text and f"*Next:* <@{BBB}>" in text
    [summary] = team.slack.wait_for(lambda: dms(team, AAA), what="hand-over summary")
    assert "You are on call now" in card_text(summary)
    escalation.handoffs(team.rt)
    assert len(dms(team, AAA)) == 1  # once


def test_anyone_on_the_rotation_takes_over_for_themselves_but_not_for_others(team):
    assert "took over on-call" in reply_text(team.command(CCC, "oncall override 2h"))
    refused = reply_text(team.command(AAA, f"oncall override <@{BBB}> 2h"))
    assert "Only managers" in refused
    assert "Pick the person from the" in reply_text(team.command(MGR, "oncall override @alice 2h"))
    with team.rt.db.session() as session:
        assert session.scalar(select(func.count()).select_from(m.OncallOverride)) == 1


def test_swap_hands_over_to_the_next_person(team):
    text = reply_text(team.command(BBB, "oncall swap"))
    assert f"<@{BBB}> handed on-call to <@{CCC}>" in text
    with team.rt.db.session() as session:
        now = oncall.on_call(session, team.rt.config, datetime.now(UTC))
    assert now.user == CCC and now.until == london(2026, 3, 23, 9, 0)  # the rest of BBB's week, then CCC's own
    with team.rt.db.session() as session:
        assert session.scalars(select(m.OncallOverride.ends_at)).one() == london(2026, 3, 16, 9, 0)
    team.slack.wait_for(lambda: dms(team, CCC), what="summary for the incoming person")
    assert "Only the person on call" in reply_text(team.command(AAA, "oncall swap"))


def test_a_person_who_left_cannot_be_put_on_call(team):
    team.slack.add_user("U01GONE", "gone", deleted=True)
    assert "cannot be put on call" in reply_text(team.command(MGR, "oncall override U01GONE 1h"))


def test_unknown_oncall_subcommand_says_how_to_use_it(team):
    assert "Usage: `/socialdesk oncall [override" in reply_text(team.command(AAA, "oncall dance"))


# -- hand-over summaries -----------------------------------------------------------


def test_at_the_handoff_the_incoming_person_gets_open_and_overdue_cases_once(team, time_machine):
    author = team.x.add_user(username="sam", followers=10)
    team.x.add_tweet("@acme the app crashes every time I open it", author)
    team.x.add_tweet("@acme where is my parcel? tracking says nothing", author)
    team.poll()
    time_machine.move_to(london(2026, 3, 16, 8, 59), tick=True)  # an hour before the next hand-over: both overdue
    assert escalation.handoffs(team.rt) is False  # BBB's hand-over was a week ago
    time_machine.move_to(london(2026, 3, 16, 9, 0, 30), tick=True)
    assert escalation.handoffs(team.rt) is True
    assert escalation.handoffs(team.rt) is False
    [summary] = dms(team, CCC)
    text = card_text(summary)
    assert "You are on call now" in text and "*2* open cases, *2* overdue" in text and "overdue by" in text
    assert "archives/" in text  # links to the cards
    assert dms(team, BBB) == []


def test_a_handoff_in_quiet_hours_is_summarised_when_they_end(make_stack, time_machine):
    time_machine.move_to(london(2026, 3, 9, 23, 0), tick=True)
    stack = make_stack(config=rotation(rotation="daily", handoff="23:30", quiet_hours="22:00-07:00"))
    for user in (AAA, BBB, CCC):
        stack.slack.add_user(user, user.lower())
    time_machine.move_to(london(2026, 3, 9, 23, 31), tick=True)
    assert escalation.handoffs(stack.rt) is False
    time_machine.move_to(london(2026, 3, 10, 7, 1), tick=True)
    assert escalation.handoffs(stack.rt) is True
    with stack.rt.db.session() as session:
        on = oncall.on_call(session, stack.rt.config, datetime.now(UTC))
    assert len(dms(stack, on.user)) == 1


def test_a_summary_for_someone_who_left_warns_the_channel(team, time_machine):
    team.slack.add_user(CCC, "carol", deleted=True)
    time_machine.move_to(london(2026, 3, 16, 9, 1), tick=True)
    assert escalation.handoffs(team.rt) is False
    warning = team.slack.wait_for(lambda: [c for c in team.cards() if "Could not page" in card_text(c)], what="warning")
    assert CCC in card_text(warning[0]) and "user_disabled" in card_text(warning[0])
