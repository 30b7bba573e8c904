"""Managers' numbers: hand-computed figures on a small fixed dataset, and the Slack surface end to end.

`StatsContract` holds the database tests; they run here on SQLite and in
test_stats_postgres.py on a real PostgreSQL, unchanged.
"""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from bot.flows import digest
from bot.config import ConfigError, DigestConfig, FileConfig, RolesConfig, load_file_config
from bot.domain import export, stats
from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL
from bot.slack import stats_blocks
from storage import models as m
from storage.db import Database

UTC = timezone.utc
NOW = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)  # a Wednesday
MANAGER, AGENT, OTHER_AGENT, STRANGER = "U0MGR", "U0AGENT", "U0AGENT2", "U0NOBODY"
MANAGERS = FileConfig(roles=RolesConfig(managers=[MANAGER]))


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, second, tzinfo=UTC)


def add_case(session, created: datetime, *, network: str = "x", category: str = "complaint", status: str | None = None,
             response: float | None = None, sla: timedelta | None = None, agent: str | None = None, topic: str = "general",
             private: bool = False, text: str = "my order never arrived", handle: str = "jordan_k", claimed_by: str | None = None) -> m.Case:
    """One case with its root post, and the replies an answered case has; a response means answered."""
    status = status or ("answered" if response is not None else "open")
    sla = sla if sla is not None else (timedelta(minutes=15) if network == "x" else timedelta(hours=1))
    first = created + timedelta(seconds=response) if response is not None else None
    case = m.Case(
        network=network, category=category, status=status, topic=topic, created_at=created, due_at=created + sla,
        first_response_at=first, resolved_at=first if status == "answered" else (created + timedelta(hours=1) if status == "dismissed" else None),
        sla_met=(first <= created + sla) if first else None, answered_by=agent if status == "answered" else None,
        claimed_by=claimed_by, dismissed_reason="spam" if status == "dismissed" else None,
    )
    session.add(case)
    session.flush()
    session.add(m.Post(network=network, external_id=uuid.uuid4().hex, case_id=case.id, text=text, author_handle=handle,
                       url=f"https://x.com/{handle}/status/{case.id}", created_at=created))
    if status == "answered":
        approval = str(uuid.uuid4())
        kinds = ["private", "public"] if private else ["public"]
        for kind in kinds:
            session.add(m.Reply(case_id=case.id, approval_id=approval, kind=kind, text="sorry", requested_by=agent,
                                status="sent", sent_at=first, created_at=first))
    return case


def seed_week(session) -> None:
    """The fixed dataset; the expected numbers in the tests below are worked out by hand from it.

    7d ending NOW (UTC): 9 May 00:00 - 15 May 12:00; the period before: 2 May 00:00 - 8 May 12:00.
    """
    # current period: response times 60, 120, 300, 1200, 7200 s
    add_case(session, at(14, 10), response=60, agent=AGENT, topic="refund")
    add_case(session, at(14, 11), response=120, agent=AGENT, topic="refund")
    add_case(session, at(13, 9), network="facebook", category="question", response=300, agent=OTHER_AGENT, private=True)
    add_case(session, at(12, 8), response=1200, agent=OTHER_AGENT, topic="delivery")                      # 20 min > 15 min SLA
    add_case(session, at(10, 12), network="facebook", response=7200, agent=AGENT, topic="delivery")      # 2 h > 1 h SLA
    add_case(session, at(11, 15), category="praise", status="dismissed")
    add_case(session, at(15, 11, 30), topic="refund", text="@acme <!channel> still waiting", handle="sam")  # open, overdue
    add_case(session, at(15, 11, 50), network="facebook", category="question")                            # open, not due yet
    add_case(session, at(9, 0), status="failed", topic="app", claimed_by=AGENT)                           # first instant of the period
    # the period before: 600 s (within SLA) and 1800 s (late)
    add_case(session, at(5, 10), response=600, agent=AGENT)
    add_case(session, at(6, 10), response=1800, agent=AGENT)
    # after the previous period's end (same time of day) and before this one: in neither, but still open
    add_case(session, at(8, 13), topic="refund")


@pytest.fixture
def sqlite_db(db):
    return db


class StatsContract:
    """Tests of the SQL; a subclass provides the `db` fixture (an upgraded, empty Database)."""

    def report(self, db, key="7d", tz="UTC", now=NOW, **kw) -> stats.Report:
        with db.session() as session:
            return stats.report(session, stats.period_ending_now(key, now, tz), now=now, slowest_limit=5, **kw)

    def test_the_week_by_hand(self, db):
        with db.session() as session:
            seed_week(session)
        r = self.report(db)
        cur = r.current
        assert cur.opened == 9
        assert cur.by_network == {"x": 6, "facebook": 3}
        assert cur.by_category == {"complaint": 6, "question": 2, "praise": 1}
        assert (cur.answered, cur.dismissed, cur.moved_to_dm, cur.unresolved) == (5, 1, 1, 3)
        # met: 60 s, 120 s, 300 s; missed: two late answers and two open cases past due
        assert (cur.sla_met, cur.sla_missed) == (3, 4)
        assert cur.sla_share == pytest.approx(3 / 7)
        # [60, 120, 300, 1200, 7200]: median 300; p90 at 3.6 -> 1200 + 0.6 * 6000
        assert cur.response == stats.Latency(5, 300.0, 4800.0)

    def test_the_previous_period_and_its_boundary(self, db):
        with db.session() as session:
            seed_week(session)
        prev = self.report(db).previous
        assert prev.opened == 2 and prev.by_network == {"x": 2}
        assert (prev.sla_met, prev.sla_missed) == (1, 1)
        # [600, 1800]: median 1200, p90 = 600 + 0.9 * 1200
        assert prev.response == stats.Latency(2, 1200.0, 1680.0)

    def test_agents_are_counted_with_their_own_median(self, db):
        with db.session() as session:
            seed_week(session)
        agents = self.report(db).agents
        # AGENT: 60, 120, 7200 -> 120; OTHER_AGENT: 300, 1200 -> 750
        assert agents == [stats.AgentLine(AGENT, 3, 120.0), stats.AgentLine(OTHER_AGENT, 2, 750.0)]

    def test_backlog_is_everything_unanswered_now_by_age(self, db):
        with db.session() as session:
            seed_week(session)
        backlog = self.report(db).backlog
        assert backlog.total == 4 and backlog.overdue == 3
        assert dict(backlog.by_age) == {"< 1 h": 2, "1–4 h": 0, "4–24 h": 0, "1–3 days": 0, "> 3 days": 2}
        assert backlog.oldest == at(8, 13)

    def test_replies_held_for_approval_or_being_sent_are_still_backlog(self, db):
        with db.session() as session:
            add_case(session, NOW - timedelta(minutes=10), status="pending_approval")
            add_case(session, NOW - timedelta(minutes=20), status="replying")  # past its 15 min: missed
            add_case(session, NOW - timedelta(minutes=30), status="dismissed")
        r = self.report(db)
        assert (r.backlog.total, r.backlog.overdue) == (2, 1)
        assert (r.current.unresolved, r.current.dismissed, r.current.sla_missed, r.current.sla_met) == (2, 1, 1, 0)

    def test_topics_and_slowest_open_cases(self, db):
        with db.session() as session:
            seed_week(session)
        r = self.report(db)
        assert r.topics == [("refund", 3), ("delivery", 2), ("app", 1)]
        assert [c.created_at for c in r.slowest] == [at(8, 13), at(9, 0), at(15, 11, 30), at(15, 11, 50)]
        assert r.slowest[2].author_handle == "sam" and "/status/" in r.slowest[2].url

    def test_daily_slots_for_the_chart(self, db):
        with db.session() as session:
            seed_week(session)
        slots = self.report(db).slots
        assert [s.start for s in slots] == [at(d, 0) for d in range(9, 16)]
        assert slots[-1].end == NOW
        assert [s.opened for s in slots] == [1, 1, 1, 1, 1, 2, 2]
        assert slots[5].response == stats.Latency(2, 90.0, 114.0)  # 14 May: 60 and 120 s
        assert slots[6].response == stats.Latency()  # nothing answered yet today: a gap, not a zero
        assert slots[1].by_network == {"facebook": 1}

    def test_an_empty_period_has_no_numbers_rather_than_zeros(self, db):
        r = self.report(db)
        assert r.current.opened == 0 and r.current.response == stats.Latency() and r.current.sla_share is None
        assert r.agents == [] and r.topics == [] and r.backlog.total == 0 and r.backlog.oldest is None
        assert len(r.slots) == 7 and all(s.opened == 0 for s in r.slots)

    def test_today_depends_on_the_managers_timezone(self, db):
        with db.session() as session:
            add_case(session, at(14, 14))  # 23:00 in Tokyo on the 14th
            add_case(session, at(15, 5))   # 22:00 in Los Angeles on the 14th
            add_case(session, at(15, 8))
        assert self.report(db, "today", "UTC").current.opened == 2
        assert self.report(db, "today", "America/Los_Angeles").current.opened == 1
        assert self.report(db, "today", "Asia/Tokyo").current.opened == 2  # 15 May 00:00 JST is 14 May 15:00 UTC
        hours = self.report(db, "today", "America/Los_Angeles").slots
        assert len(hours) == 5 and hours[1].opened == 1  # 00:00-05:00 PDT, the 08:00 UTC case at 01:00 PDT

    def test_export_has_one_row_per_case_with_the_columns_support_asks_for(self, db):
        with db.session() as session:
            seed_week(session)
        period = stats.period_ending_now("7d", NOW, "Europe/London")
        with db.session() as session:
            content, count = export.to_csv(session, period, now=NOW, names={AGENT: "Alice"})
            assert export.agents(session, period) == [AGENT, OTHER_AGENT]
        rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
        assert rows[0] == list(export.COLUMNS)
        assert count == len(rows) - 1 == 9
        first = dict(zip(rows[0], rows[1]))  # ordered by creation: the failed case at 9 May 00:00 UTC
        assert first["created"] == "2024-05-09T01:00:00+01:00" and first["status"] == "failed"
        assert first["sla_met"] == "no" and first["agent"] == "Alice" and first["first_response"] == ""
        late = next(dict(zip(rows[0], r)) for r in rows[1:] if r[4] == "2024-05-12T09:00:00+01:00")
        assert late["first_response"] == "2024-05-12T09:20:00+01:00" and late["sla_met"] == "no" and late["agent"] == OTHER_AGENT
        assert {r[7] for r in rows[1:]} == {"yes", "no", ""}
        assert all(r[1].startswith("https://x.com/") for r in rows[1:])


class TestStatsOnSqlite(StatsContract):
    @pytest.fixture
    def db(self, sqlite_db):
        return sqlite_db


# -- periods (no database) -------------------------------------------------------


def test_periods_are_whole_local_days_and_compare_with_the_same_time_of_day():
    period = stats.period_ending_now("7d", NOW, "Europe/London")
    assert period.start == datetime(2024, 5, 8, 23, 0, tzinfo=UTC)  # 9 May 00:00 BST
    assert period.previous_start == datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
    assert period.previous_end == NOW - timedelta(days=7)
    today = stats.period_ending_now("today", NOW, "UTC")
    assert (today.start, today.previous_start, today.previous_end) == (at(15, 0), at(14, 0), at(14, 12))
    assert len(today.edges) == 13 and today.unit == "hour"


def test_a_daylight_saving_day_has_23_hours():
    spring = datetime(2024, 3, 31, 22, 59, tzinfo=UTC)  # 23:59 BST on the day clocks went forward
    today = stats.period_ending_now("today", spring, "Europe/London")
    assert len(today.edges) - 1 == 23
    assert [today.local(e).hour for e in today.edges[:3]] == [0, 2, 3]  # there was no 01:00
    week = stats.period_ending_now("7d", datetime(2024, 4, 2, 12, 0, tzinfo=UTC), "Europe/London")
    lengths = [(b - a) for a, b in zip(week.edges, week.edges[1:-1])]
    assert lengths.count(timedelta(hours=23)) == 1 and lengths.count(timedelta(hours=24)) == 5


def test_the_digest_covers_the_last_full_week():
    monday_9am = datetime(2024, 5, 13, 8, 0, tzinfo=UTC)  # 09:00 BST
    week = stats.last_full_days(7, monday_9am, "Europe/London")
    assert week.start == datetime(2024, 5, 5, 23, 0, tzinfo=UTC) and week.end == datetime(2024, 5, 12, 23, 0, tzinfo=UTC)
    assert week.previous_end == week.start and len(week.edges) == 8
    assert week.label == "6 May – 12 May 2024"


@pytest.mark.parametrize("text", ["yesterday", "7", "1y"])
def test_an_unknown_period_is_a_clear_error(text):
    with pytest.raises(stats.StatsError, match="use `today`, `7d` or `30d`"):
        stats.parse_period(text)


def test_durations_read_like_a_person_would_say_them():
    assert [stats_blocks.duration(s) for s in (None, 42, 300, 3600, 7500, 86400 * 3 + 3600 * 4)] == ["—", "42 s", "5 min", "1 h", "2 h 5 min", "3 d 4 h"]


# -- configuration ---------------------------------------------------------------


def test_the_digest_section_has_defaults():
    config = FileConfig()
    assert config.digest == DigestConfig(channel="", day="mon", time="09:00", timezone="UTC", slowest=5, topics=5)


def test_a_digest_section_loads(tmp_path):
    path = tmp_path / "socialdesk.toml"
    path.write_text('[digest]\nchannel = "C0MGRS"\nday = "Fri"\ntime = "16:30"\ntimezone = "Europe/Paris"\n')
    config = load_file_config(path).digest
    assert (config.channel, config.day, config.hour_minute, config.timezone) == ("C0MGRS", "fri", (16, 30), "Europe/Paris")


# -- the Slack surface, end to end ----------------------------------------------


def seed_recent(stack, now: datetime) -> None:
    """A few cases from the last hour, so every period ending now contains them."""
    with stack.rt.db.session() as session:
        add_case(session, now - timedelta(minutes=50), response=120, agent=AGENT, topic="refund")
        add_case(session, now - timedelta(minutes=40), network="facebook", response=600, agent=OTHER_AGENT, private=True)
        add_case(session, now - timedelta(minutes=30), text="@acme <!here> nobody answers", handle="sam")


def command(stack, user_id: str, text: str, channel_id: str = CHANNEL):
    body = slack_client.slash_command(user_id, text=text, channel_id=channel_id, response_url=stack.slack.new_response_url())
    return stack.send_to_slack_endpoint(body)


def text_of(payload) -> str:
    """Every text in a message, view or block list, fields and context included."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                found.append(value) if key == "text" and isinstance(value, str) else walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload)
    return "\n".join(found)


@pytest.fixture
def manager_stack(make_stack):
    stack = make_stack(config=MANAGERS)
    stack.slack.add_user(MANAGER, "maria", "Maria Manager", tz="Europe/London")
    stack.slack.add_user(AGENT, "alice", "Alice Agent")
    return stack


def test_a_manager_gets_the_numbers_and_a_chart_through_the_three_upload_calls(manager_stack):
    stack = manager_stack
    seed_recent(stack, datetime.now(UTC))

    response = command(stack, MANAGER, "stats 7d")

    assert response.status_code == 200 and "Counting" in response.json()["text"]
    [numbers] = stack.slack.wait_for(lambda: stack.slack.responses, what="the numbers", timeout=20)
    text = text_of(numbers)
    assert numbers["response_type"] == "ephemeral"
    assert "Team numbers · last 7 days" in text and "Europe/London" in text and "your Slack timezone" in text
    assert "*Cases opened*\n3" in text and "*Moved to DM*\n1" in text
    assert "X *2* · Facebook *1*" in text and f"<@{AGENT}> · 1 answered · median 2 min" in text
    upload = stack.slack.wait_for(lambda: [u for u in stack.slack.uploads.values() if u.get("completed")], what="chart upload", timeout=20)[0]
    [get_url] = stack.slack.calls("files.getUploadURLExternal")
    assert get_url["filename"].endswith(".png") and int(get_url["length"]) == len(upload["content"])
    assert "cases opened" in get_url["alt_txt"].lower()
    assert len(stack.slack.received("upload")) == 1
    [complete] = stack.slack.calls("files.completeUploadExternal")
    assert complete["channel_id"] == CHANNEL and upload["channel_id"] == CHANNEL
    assert upload["content"].startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("config,expected", [(MANAGERS, "managers only"), (FileConfig(), "nobody is a manager yet")])
def test_non_managers_see_nothing(make_stack, config, expected):
    stack = make_stack(config=config)
    seed_recent(stack, datetime.now(UTC))
    for text in ("stats", "stats 30d", "export 30d"):
        response = command(stack, STRANGER, text)
        assert response.status_code == 200
        refusal = response.json()["text"]
        assert expected in refusal and "[roles]" in refusal and "managers" in refusal
        assert "Cases opened" not in response.text
    stack.rt.background.submit(lambda: None).result()
    assert stack.slack.responses == [] and stack.slack.uploads == {} and stack.slack.calls("users.info") == []


def test_help_lists_stats_and_export(stack):
    text = command(stack, STRANGER, "help").json()["text"]
    assert "`/socialdesk stats [today|7d|30d]`" in text and "`/socialdesk export [today|7d|30d]`" in text


def test_a_bad_period_is_explained_and_nothing_runs(manager_stack):
    response = command(manager_stack, MANAGER, "stats fortnight")
    assert "use `today`, `7d` or `30d`" in response.json()["text"]
    assert "takes one period" in command(manager_stack, MANAGER, "stats 7d 30d").json()["text"]
    manager_stack.rt.background.submit(lambda: None).result()
    assert manager_stack.slack.responses == [] and manager_stack.slack.uploads == {}


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel"])
def test_when_the_bot_is_not_in_the_channel_the_chart_goes_to_a_dm(manager_stack, error):
    stack = manager_stack
    if error == "channel_not_found":
        stack.slack.known_channels = {CHANNEL}
    else:
        stack.slack.fail("files.completeUploadExternal", status=200, body={"ok": False, "error": "not_in_channel"})

    command(stack, MANAGER, "stats today", channel_id="C0ELSEWHERE")

    note = stack.slack.wait_for(lambda: [r for r in stack.slack.responses if "I'm not in" in r.get("text", "")], what="fallback note", timeout=20)[0]
    assert "<#C0ELSEWHERE>" in note["text"] and "direct message" in note["text"]
    [upload] = [u for u in stack.slack.uploads.values() if u.get("completed")]
    assert upload["channel_id"].startswith("D")
    assert stack.slack.calls("conversations.open")[0]["users"] == MANAGER


def test_a_manager_without_a_known_timezone_gets_utc_and_is_told(make_stack):
    stack = make_stack(config=MANAGERS)  # the emulator has no such user, so users.info fails
    command(stack, MANAGER, "stats")
    [numbers] = stack.slack.wait_for(lambda: stack.slack.responses, what="the numbers", timeout=20)
    assert "times in *UTC* (your Slack timezone is unknown)" in text_of(numbers)
    assert "_No cases were opened in this period._" in text_of(numbers)


def test_export_uploads_a_csv_with_one_row_per_case(manager_stack):
    stack = manager_stack
    seed_recent(stack, datetime.now(UTC))

    command(stack, MANAGER, "export 30d")

    done = stack.slack.wait_for(lambda: [r for r in stack.slack.responses if "Exported" in r.get("text", "")], what="export done", timeout=20)[0]
    assert "Exported 3 cases" in done["text"]
    [upload] = [u for u in stack.slack.uploads.values() if u.get("completed")]
    assert upload["filename"].endswith(".csv") and upload["channel_id"] == CHANNEL
    rows = list(csv.DictReader(io.StringIO(upload["content"].decode("utf-8"))))
    assert len(rows) == 3 and list(rows[0]) == list(export.COLUMNS)
    assert [r["agent"] for r in rows] == ["alice", OTHER_AGENT, ""]  # names looked up once; unknown ids stay ids
    assert [r["status"] for r in rows] == ["answered", "answered", "open"]
    assert rows[0]["created"].endswith(("+00:00", "+01:00")) and rows[0]["sla_met"] == "yes"
    assert len(stack.slack.calls("files.getUploadURLExternal")) == 1 and len(stack.slack.calls("files.completeUploadExternal")) == 1


def test_export_to_a_channel_without_the_bot_goes_to_a_dm(manager_stack):
    stack = manager_stack
    stack.slack.known_channels = {CHANNEL}
    command(stack, MANAGER, "export", channel_id="C0ELSEWHERE")
    note = stack.slack.wait_for(lambda: [r for r in stack.slack.responses if "I'm not in" in r.get("text", "")], what="fallback", timeout=20)[0]
    assert "CSV" in note["text"]
    [upload] = [u for u in stack.slack.uploads.values() if u.get("completed")]
    assert upload["channel_id"].startswith("D") and upload["content"].startswith(b"network,link,")


def open_home(stack, user_id: str) -> dict:
    stack.send_to_slack_endpoint(slack_client.event_callback({"type": "app_home_opened", "user": user_id, "channel": "D0HOME", "tab": "home"}))
    return stack.slack.wait_for(lambda: stack.slack.home_views.get(user_id), what="home published", timeout=20)


def test_app_home_shows_a_manager_today_and_this_week(manager_stack):
    stack = manager_stack
    seed_recent(stack, datetime.now(UTC))
    text = text_of(open_home(stack, MANAGER))
    assert "Team numbers" in text and "Last 7 days" in text and "*Cases opened*\n3" in text
    assert "Open backlog now: *1*" in text and "Europe/London" in text
    stack.slack.add_user(AGENT, "alice")
    assert "Team numbers" not in text_of(open_home(stack, AGENT))


def digest_config(**extra) -> FileConfig:
    return FileConfig(roles=RolesConfig(managers=[MANAGER]), digest=DigestConfig(channel="C0MGRS", timezone="Europe/London", **extra))


def test_the_weekly_digest_posts_numbers_topics_and_slowest_cases_once(make_stack):
    stack = make_stack(config=digest_config())
    with stack.rt.db.session() as session:
        seed_week(session)
    monday = datetime(2024, 5, 20, 8, 0, tzinfo=UTC)  # 09:00 in London; the digest covers 13-19 May

    assert digest.post_digest(stack.rt, now=monday) is True

    [message] = [msg for msg in stack.slack.messages("C0MGRS") if msg.get("blocks")]
    text = text_of(message["blocks"])
    assert "Weekly digest · 13 May – 19 May 2024" in text and "Europe/London" in text
    assert "*Cases opened*\n5" in text  # 13-15 May: the cases at 13 May 09:00, 14 May 10:00/11:00, 15 May 11:30/11:50
    assert "*Top complaint topics*\n1. refund · *3*" in text
    assert "*Slowest open cases*" in text and "@sam" in text and "<!channel>" not in json.dumps(message["blocks"])
    assert "&lt;!channel&gt;" in text
    [chart] = [u for u in stack.slack.uploads.values() if u.get("completed")]
    assert chart["channel_id"] == "C0MGRS" and chart["thread_ts"] == message["ts"] and chart["content"].startswith(b"\x89PNG")
    assert digest.post_digest(stack.rt, now=monday + timedelta(minutes=1)) is False  # a second run posts nothing
    assert len([msg for msg in stack.slack.messages("C0MGRS") if msg.get("blocks")]) == 1


def test_a_digest_that_could_not_be_posted_is_tried_again_next_time(make_stack):
    stack = make_stack(config=digest_config())
    stack.slack.known_channels = {CHANNEL}  # the bot was not invited to C0MGRS
    monday = datetime(2024, 5, 20, 8, 0, tzinfo=UTC)
    assert digest.post_digest(stack.rt, now=monday) is False
    stack.slack.known_channels = None
    assert digest.post_digest(stack.rt, now=monday) is True


def test_the_digest_is_scheduled_from_the_toml_with_a_cron_trigger(make_stack):
    from apscheduler.triggers.cron import CronTrigger

    from bot.scheduler import all_jobs

    stack = make_stack(config=digest_config(day="mon", time="09:00"))
    [job] = [j for j in all_jobs(stack.rt) if j.id == "digest"]
    assert job.trigger == "cron"
    trigger = CronTrigger(**job.trigger_args)
    fire = trigger.get_next_fire_time(None, datetime(2024, 5, 15, 12, 0, tzinfo=UTC))
    assert fire == datetime(2024, 5, 20, 8, 0, tzinfo=UTC)  # Monday 09:00 BST
    assert digest.digest_jobs(SimpleNamespace(config=FileConfig())) == []  # no channel, no digest


def test_the_stats_blocks_fit_slack_limits_and_escape_customer_text():
    db = Database("sqlite://")
    db.upgrade()
    with db.session() as session:
        seed_week(session)
        for i in range(30):
            add_case(session, at(14, 12) + timedelta(minutes=i), response=30 + i, agent=f"U0A{i:03d}")
        report = stats.report(session, stats.period_ending_now("7d", NOW, "UTC"), now=NOW, slowest_limit=5)
    for built in (stats_blocks.stats_message(report, tz_note="your Slack timezone"), stats_blocks.digest_message(report)):
        assert len(built) <= 50
        for block in built:
            fields = block.get("fields", [])
            assert len(fields) <= 10 and all(len(f["text"]) <= 2000 for f in fields)
            assert len((block.get("text") or {}).get("text", "")) <= 3000
    text = text_of(stats_blocks.stats_message(report, tz_note="x"))
    assert "_and 17 more_" in text  # 32 agents, 15 shown
    assert "<!channel>" not in json.dumps(stats_blocks.digest_message(report))
