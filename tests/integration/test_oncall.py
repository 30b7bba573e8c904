"""On-call: the rotation across hand-overs and DST, overrides and swaps from the slash command, hand-over summaries."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.flows import escalation
from bot.config import ConfigError, FileConfig, OncallConfig, RolesConfig, load_file_config
from bot.domain import oncall
from bot.emulators.stack import card_text
from storage import models as m
from storage.db import Database
from tests.helpers import dms, make_team

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
AAA, BBB, CCC, MGR = "U01AAA", "U01BBB", "U01CCC", "U01MGR"
MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # a Monday, 10:00 in London (GMT)


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


def rotation(**keys) -> FileConfig:
    values = dict(members=[AAA, BBB, CCC], handoff="09:00", rotation="weekly", timezone="Europe/London", rotation_start=date(2026, 3, 2))
    values.update(keys)
    return FileConfig(oncall=OncallConfig(**values), roles=RolesConfig(managers=[MGR]))


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'oncall.db'}")
    database.upgrade()
    yield database
    database.dispose()


# -- the rotation ------------------------------------------------------------------


def test_weekly_rotation_hands_over_on_the_handoff_day_at_local_time():
    config = rotation().oncall
    assert oncall.rotation_shift(config, london(2026, 3, 2, 9, 0)).user == AAA  # rotation_start week
    assert oncall.rotation_shift(config, london(2026, 3, 9, 8, 59)).user == AAA
    shift = oncall.rotation_shift(config, london(2026, 3, 9, 9, 0))
    assert (shift.user, shift.start, shift.end) == (BBB, london(2026, 3, 9, 9, 0), london(2026, 3, 16, 9, 0))
    assert oncall.rotation_shift(config, london(2026, 3, 20, 23, 0)).user == CCC
    assert oncall.rotation_shift(config, london(2026, 3, 23, 9, 0)).user == AAA  # and round again
    assert oncall.rotation_shift(config, london(2026, 2, 27, 12, 0)).user == CCC  # before the anchor too


def test_daily_rotation_across_dst_keeps_the_local_handoff_time():
    config = rotation(rotation="daily", rotation_start=date(2026, 3, 27)).oncall
    # Clocks go forward on Sunday 29 March: the 09:00 hand-over moves from 09:00 UTC to 08:00 UTC.
    saturday = oncall.rotation_shift(config, datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert (saturday.user, saturday.start) == (BBB, datetime(2026, 3, 28, 9, 0, tzinfo=UTC))
    assert saturday.end == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)  # a 23-hour shift
    assert oncall.rotation_shift(config, datetime(2026, 3, 29, 8, 30, tzinfo=UTC)).user == CCC
    # ...and back on Sunday 25 October: a 25-hour shift.
    october = oncall.rotation_shift(config, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert october.end - october.start == timedelta(hours=25)


def test_overrides_take_over_and_hand_back(db):
    config = rotation()
    now = MONDAY + timedelta(hours=1)  # BBB's week
    with db.session() as session:
        assert oncall.on_call(session, config, now).user == BBB
        after = oncall.override(session, config, CCC, None, timedelta(hours=4), now)
        assert (after.user, after.since, after.until) == (CCC, now, now + timedelta(hours=4))
        assert oncall.next_on_call(session, config, after).user == BBB
        # A manager's newer override inside it wins for its hour, then CCC is back.
        oncall.override(session, config, MGR, AAA, timedelta(hours=1), now + timedelta(hours=1))
        inner = oncall.on_call(session, config, now + timedelta(hours=1, minutes=30))
        assert (inner.user, inner.until) == (AAA, now + timedelta(hours=2))
        back = oncall.on_call(session, config, now + timedelta(hours=3))
        assert (back.user, back.since, back.until) == (CCC, now + timedelta(hours=2), now + timedelta(hours=4))
        assert oncall.on_call(session, config, now + timedelta(hours=5)).user == BBB
        # An override past the end of the shift: on call until it ends, not until the shift boundary.
        late = london(2026, 3, 15, 20, 0)
        long = oncall.override(session, config, MGR, AAA, timedelta(days=2), late)
        assert (long.user, long.until) == (AAA, late + timedelta(days=2))
        assert oncall.on_call(session, config, london(2026, 3, 16, 12, 0)).since == london(2026, 3, 16, 9, 0)  # a new shift: a hand-over
    alone = rotation(members=[AAA])
    with db.session() as session:
        assert oncall.on_call(session, alone, MONDAY).user == AAA  # a one-person rotation ends somewhere, never loops


def test_who_may_change_the_rotation(db):
    config = rotation()
    with db.session() as session:
        with pytest.raises(oncall.OncallError, match="Only managers"):
            oncall.override(session, config, AAA, CCC, timedelta(hours=1), MONDAY)
        with pytest.raises(oncall.OncallError, match="not on the on-call rotation"):
            oncall.override(session, config, "U0STRANGER", None, timedelta(hours=1), MONDAY)
        with pytest.raises(oncall.OncallError, match="Only the person on call"):
            oncall.swap(session, config, AAA, None, MONDAY)
        before, after = oncall.swap(session, config, BBB, None, MONDAY)
        assert (before.user, after.user, after.until) == (BBB, CCC, london(2026, 3, 23, 9, 0))  # straight into CCC's own week
    no_managers = rotation().model_copy(update={"roles": RolesConfig()})
    with db.session() as session:
        with pytest.raises(oncall.OncallError, match="Only managers"):
            oncall.override(session, no_managers, MGR, AAA, timedelta(hours=1), MONDAY)


@pytest.mark.parametrize(
    "args,user,duration",
    [
        (["<@U01BBB>", "4h"], BBB, timedelta(hours=4)),
        (["<@U01BBB|bob>", "90m"], BBB, timedelta(minutes=90)),
        (["2d", "U01BBB"], BBB, timedelta(days=2)),
        (["4h"], None, timedelta(hours=4)),
        ([], None, None),
    ],
)
def test_override_arguments(args, user, duration):
    assert oncall.parse_override_args(args) == (user, duration)


@pytest.mark.parametrize(
    "args,message",
    [(["@bob", "4h"], "Pick the person from the"), (["<@U01BBB>", "soon"], "neither a person nor a duration"), (["30d"], "between 1 minute and 14 days")],
)
def test_bad_override_arguments_get_a_hint(args, message):
    with pytest.raises(oncall.OncallError, match=message):
        oncall.parse_override_args(args)


def test_socialdesk_run_refuses_a_rotation_without_members(tmp_path, monkeypatch, capsys):
    from bot.cli import main

    path = tmp_path / "socialdesk.toml"
    path.write_text('[oncall]\nhandoff = "09:00"\ntimezone = "Europe/London"\n')
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    assert main(["run", "--role", "worker"]) == 2
    assert "[oncall] members: the rotation has no members" in capsys.readouterr().err


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
