"""On-call policy: the rotation across hand-overs and DST, overrides and swaps, who may change them, the [oncall] checks."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.config import FileConfig, OncallConfig, RolesConfig
from bot.domain import oncall

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
    # `run` points this process's metrics at a shared directory; set here, it is undone after the test,
    # else every later in-process /metrics reads that directory instead (test_health failed after this test)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert main(["run", "--role", "worker"]) == 2
    assert "[oncall] members: the rotation has no members" in capsys.readouterr().err
