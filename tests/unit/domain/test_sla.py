"""SLA policy: due times per network and priority, business hours across DST, the clock's words, the [sla] section."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.config import FileConfig, OncallConfig, SlaConfig, load_file_config
from bot.domain import sla

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
