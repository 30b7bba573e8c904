"""Escalation when nobody acts: nudge, page the on-call person, escalate; once per step, whatever runs it."""
from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlalchemy import select, update

from bot.flows import escalation
from bot.config import FileConfig, OncallConfig, RolesConfig, Settings, SlaConfig
from bot.emulators.stack import CHANNEL, card_text
from bot.runtime import build_runtime
from bot.scheduler import all_jobs
from bot.slack.ids import Action
from storage import models as m
from tests.helpers import ROOT, dms, make_team

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
AAA, BBB, CCC, MGR = "U01AAA", "U01BBB", "U01CCC", "U01MGR"
MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # BBB's week on this rotation
NORMAL = "@acme the app crashes every time I open it"  # triage: complaint, normal priority
URGENT = "@acme my order never arrived and nobody answers my emails. I want a refund"  # urgent from a big account


def config(**oncall_keys) -> FileConfig:
    values = dict(
        members=[AAA, BBB, CCC], handoff="09:00", rotation="weekly", timezone="Europe/London",
        rotation_start=date(2026, 3, 2), escalate_to=[MGR], escalate_after="15m",
    )
    values.update(oncall_keys)
    return FileConfig(sla=SlaConfig(x="15m", nudge_before="5m"), oncall=OncallConfig(**values), roles=RolesConfig(managers=[MGR]))


@pytest.fixture
def team(make_stack, time_machine):
    return make_team(make_stack, time_machine, config(), {AAA: "alice", BBB: "bob", CCC: "carol", MGR: "maria"}, MONDAY)


def pages(stack, user: str) -> list[dict]:
    """Page DMs (not hand-over summaries) a person got."""
    return [msg for msg in dms(stack, user) if any(b["type"] == "actions" for b in msg.get("blocks", [])) or "Acknowledged" in msg.get("text", "")]


def thread(stack, case_id: int) -> list[str]:
    with stack.rt.db.session() as session:
        ts = session.get(m.Case, case_id).card_ts
    return [card_text(msg) for msg in stack.slack.thread(CHANNEL, ts) if msg["ts"] != ts]


def new_case(stack, text: str = NORMAL, followers: int = 10) -> int:
    author = stack.x.add_user(username=f"user{followers}{len(text)}{time.monotonic_ns() % 10000}", followers=followers)
    stack.x.add_tweet(text, author)
    result = stack.poll()
    [case_id] = result.new_cases
    return case_id


def case(stack, case_id: int) -> m.Case:
    with stack.rt.db.session() as session:
        return session.get(m.Case, case_id)


def test_nudge_then_page_at_the_due_time_then_escalate_each_once(team, time_machine):
    case_id = new_case(team)
    assert escalation.check(team.rt) == 0
    time_machine.shift(timedelta(minutes=9))
    assert escalation.check(team.rt) == 0 and thread(team, case_id) == []
    time_machine.shift(timedelta(minutes=1, seconds=5))
    assert escalation.check(team.rt) == 1
    [nudge] = thread(team, case_id)
    assert "due in 5 min and nobody has picked it up" in nudge
    assert pages(team, BBB) == []

    time_machine.shift(timedelta(minutes=5))  # just past the due time
    assert escalation.check(team.rt) == 1
    [page] = pages(team, BBB)
    text = card_text(page)
    assert "You are on call" in text and "crashes every time" in text
    assert f"archives/{CHANNEL}/p" in text  # the link to the card
    [button] = [e for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Acknowledge" and button["action_id"] == Action.ACKNOWLEDGE
    assert "Paged bob" in thread(team, case_id)[-1]
    assert all(pages(team, user) == [] for user in (AAA, CCC, MGR))

    time_machine.shift(timedelta(minutes=14))
    assert escalation.check(team.rt) == 0
    time_machine.shift(timedelta(minutes=1, seconds=5))
    assert escalation.check(team.rt) == 1
    [escalated] = pages(team, MGR)
    assert "Escalated" in card_text(escalated) and "bob was paged" in card_text(escalated)

    team.restart()
    for _ in range(3):
        time_machine.shift(timedelta(minutes=30))
        assert escalation.check(team.rt) == 0
    assert len(pages(team, BBB)) == 1 and len(pages(team, MGR)) == 1 and len(thread(team, case_id)) == 3
    with team.rt.db.session() as session:
        steps = {s.step: s for s in session.scalars(select(m.EscalationStep).where(m.EscalationStep.case_id == case_id))}
    assert {k: s.status for k, s in steps.items()} == {"nudge": "done", "page": "done", "escalate": "done"}
    assert steps["page"].targets[0]["user"] == BBB


def test_acknowledge_stops_the_chain(team, time_machine):
    case_id = new_case(team)
    time_machine.shift(timedelta(minutes=15, seconds=5))
    escalation.check(team.rt)
    [page] = pages(team, BBB)
    response = team.click(BBB, Action.ACKNOWLEDGE, case_id, channel=dms_channel(team, BBB), message_ts=page["ts"])
    assert response.status_code == 200
    team.slack.wait_for(lambda: "Acknowledged by" in card_text(pages(team, BBB)[0]), what="the DM turns into 'acknowledged'")
    assert not any(b["type"] == "actions" for b in pages(team, BBB)[0]["blocks"])
    assert case(team, case_id).acknowledged_by == BBB and case(team, case_id).claimed_by == BBB
    team.slack.wait_for(lambda: any("is on it" in card_text(c) for c in team.cards()), what="the card says who is on it")
    time_machine.shift(timedelta(hours=1))
    assert escalation.check(team.rt) == 0
    assert pages(team, MGR) == []
    # A second click (or someone else's) changes nothing and says why.
    team.click(AAA, Action.ACKNOWLEDGE, case_id, channel=dms_channel(team, BBB), message_ts=page["ts"])
    team.slack.wait_for(lambda: any("already acknowledged" in e["text"] for e in team.slack.ephemerals), what="the second click is told")


def dms_channel(stack, user: str) -> str:
    return WebClient(token=stack.slack.token, base_url=stack.slack.api_url).conversations_open(users=user)["channel"]["id"]


def test_no_ping_at_all_for_a_case_answered_in_time(team, time_machine):
    case_id = new_case(team)
    time_machine.shift(timedelta(minutes=3))
    team.click("U0AGENT", Action.APPROVE, case_id)
    team.slack.wait_for(lambda: case(team, case_id).status == "answered", what="answered")
    for _ in range(4):
        time_machine.shift(timedelta(minutes=20))
        escalation.check(team.rt)
    assert not any("nobody has picked it up" in line for line in thread(team, case_id))
    assert all(pages(team, user) == [] for user in (AAA, BBB, CCC, MGR))
    assert case(team, case_id).sla_met is True


def test_a_claimed_case_is_not_escalated(team, time_machine):
    case_id = new_case(team)
    team.click(CCC, Action.CLAIM, case_id)
    team.slack.wait_for(lambda: case(team, case_id).claimed_by == CCC, what="claimed")
    time_machine.shift(timedelta(hours=1))
    assert escalation.check(team.rt) == 0
    assert all(pages(team, user) == [] for user in (AAA, BBB, CCC, MGR))


def test_praise_keeps_its_clock_but_never_pages_anyone(team, time_machine):
    case_id = new_case(team, "@acme thank you so much, the staff were wonderful today!")
    assert case(team, case_id).category == "praise"
    time_machine.shift(timedelta(hours=2))
    assert escalation.check(team.rt) == 0
    assert all(pages(team, user) == [] for user in (AAA, BBB, CCC, MGR))


def test_quiet_hours_hold_pages_until_morning_except_urgent(make_stack, time_machine):
    time_machine.move_to(datetime(2026, 3, 9, 21, 55, tzinfo=LONDON), tick=True)
    stack = make_stack(config=config(quiet_hours="22:00-07:00"))
    for user in (AAA, BBB, CCC, MGR):
        stack.slack.add_user(user, user.lower())
    normal = new_case(stack)
    urgent = new_case(stack, URGENT, followers=48_200)
    assert case(stack, urgent).priority == "urgent"
    time_machine.shift(timedelta(minutes=16))  # 22:11, in quiet hours, both overdue
    escalation.check(stack.rt)
    assert len(pages(stack, BBB)) == 1  # only the urgent one
    assert "crashes" not in card_text(pages(stack, BBB)[0])
    assert any("nobody has picked it up" in line for line in thread(stack, normal))  # the nudge is not a ping
    time_machine.move_to(datetime(2026, 3, 10, 6, 59, tzinfo=LONDON), tick=True)
    escalation.check(stack.rt)
    assert len(pages(stack, BBB)) == 1 and len(pages(stack, MGR)) == 1  # the urgent one escalated at night
    time_machine.move_to(datetime(2026, 3, 10, 7, 0, 5, tzinfo=LONDON), tick=True)
    escalation.check(stack.rt)
    assert len(pages(stack, BBB)) == 2 and "crashes" in card_text(pages(stack, BBB)[1])


def test_someone_who_left_is_skipped_with_a_warning_and_the_next_person_is_paged(team, time_machine):
    team.slack.add_user(BBB, "bob", deleted=True)
    first = new_case(team)
    second = new_case(team, "@acme where is my parcel? tracking says nothing")
    time_machine.shift(timedelta(minutes=15, seconds=5))
    assert escalation.check(team.rt) == 4
    assert len(pages(team, CCC)) == 2
    warnings = [c for c in team.cards() if "Could not page" in card_text(c)]
    assert len(warnings) == 1  # one warning per person, not per case
    assert BBB in card_text(warnings[0]) and "Paged carol instead" in card_text(warnings[0])
    assert "Paged carol" in thread(team, first)[-1] and "Paged carol" in thread(team, second)[-1]


@pytest.mark.parametrize(
    "method,error",
    [("users.info", "user_not_found"), ("conversations.open", "user_not_found"), ("conversations.open", "user_disabled"), ("chat.postMessage", "user_disabled")],
)
def test_every_way_slack_says_someone_left_moves_the_chain_on(team, time_machine, method, error):
    case_id = new_case(team)
    time_machine.shift(timedelta(minutes=10, seconds=5))
    assert escalation.check(team.rt) == 1  # the nudge goes out first, so a failing chat.postMessage hits the page
    team.slack.fail(method, status=200, body={"ok": False, "error": error})
    time_machine.shift(timedelta(minutes=5))
    assert escalation.check(team.rt) == 1
    assert len(pages(team, CCC)) == 1 and pages(team, BBB) == []
    assert any(error in card_text(c) and BBB in card_text(c) for c in team.cards())
    # Everyone in escalate_to gone: a warning, and the chain ends without anyone pinged twice.
    team.slack.add_user(MGR, "maria", deleted=True)
    time_machine.shift(timedelta(minutes=16))
    escalation.check(team.rt)
    assert "nobody I could escalate to" in thread(team, case_id)[-1]
    assert escalation.check(team.rt) == 0 and len(pages(team, CCC)) == 1


def test_a_slack_refusal_is_retried_and_still_pings_once(team, time_machine):
    new_case(team)
    time_machine.shift(timedelta(minutes=15, seconds=5))
    team.slack.fail("conversations.open", status=429, headers={"Retry-After": "0"}, times=3)
    escalation.check(team.rt)
    escalation.check(team.rt)
    escalation.check(team.rt)
    assert len(pages(team, BBB)) == 1


def test_one_broken_case_does_not_stop_the_rest(team, time_machine, caplog):
    with team.rt.db.session() as session:
        broken = m.Case(network="x", status="open", channel=CHANNEL, card_ts="1.000001", created_at=MONDAY - timedelta(hours=2), due_at=MONDAY - timedelta(hours=1))
        session.add(broken)
    case_id = new_case(team)
    time_machine.shift(timedelta(minutes=15, seconds=5))
    escalation.check(team.rt)
    assert len(pages(team, BBB)) == 1 and "crashes" in card_text(pages(team, BBB)[0])
    assert "escalation of case" in caplog.text
    escalation.check(team.rt)
    assert len(pages(team, BBB)) == 1
    assert case(team, case_id).id


def test_the_scheduler_runs_named_jobs_for_clocks_and_oncall(team):
    ids = [job.id for job in all_jobs(team.rt)]
    assert {"sla:escalate", "sla:clocks", "oncall:handoff"} <= set(ids) and len(ids) == len(set(ids))


# -- more than one process -------------------------------------------------------------


FAST = dict(escalate_after="1s")


def _overdue_case(stack) -> int:
    """A carded case that is already past its due time in real time (child processes cannot travel in time)."""
    case_id = new_case(stack)
    now = datetime.now(UTC)
    with stack.rt.db.session() as session:
        session.execute(update(m.Case).where(m.Case.id == case_id).values(created_at=now - timedelta(hours=2), due_at=now - timedelta(hours=1)))
    return case_id


def _check_loop(settings: dict, config: dict, start, seconds: float) -> None:
    """A second scheduler in another process, running the check with no leader lock at all."""
    rt = build_runtime(Settings(_env_file=None, **settings), FileConfig.model_validate(config))
    start.wait(10)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        escalation.check(rt)
    rt.close()


def _paged(stack) -> dict[str, int]:
    return {user: len(pages(stack, user)) for user in (AAA, BBB, CCC, MGR)}


def test_two_schedulers_in_two_processes_ping_once(make_stack):
    stack = make_stack(config=config(**FAST))
    for user in (AAA, BBB, CCC, MGR):
        stack.slack.add_user(user, user.lower())
    case_id = _overdue_case(stack)
    settings = {k: (v.get_secret_value() if hasattr(v, "get_secret_value") else v) for k, v in stack.settings()}
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Event()
    workers = [spawn.Process(target=_check_loop, args=(settings, stack.config.model_dump(), start, 2.5)) for _ in range(2)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    counts = _paged(stack)
    assert sum(counts[u] for u in (AAA, BBB, CCC)) == 1 and counts[MGR] == 1
    assert sum("nobody has picked it up" in line for line in thread(stack, case_id)) == 1


def test_two_socialdesk_workers_ping_once(make_stack, tmp_path):
    stack = make_stack(config=config(**FAST))
    for user in (AAA, BBB, CCC, MGR):
        stack.slack.add_user(user, user.lower())
    case_id = _overdue_case(stack)
    toml = tmp_path / "socialdesk.toml"
    toml.write_text(
        '[sla]\nx = "15m"\nnudge_before = "5m"\ncheck_every = "1s"\n\n'
        f'[oncall]\nmembers = ["{AAA}", "{BBB}", "{CCC}"]\nhandoff = "09:00"\nrotation = "weekly"\ntimezone = "Europe/London"\n'
        f'escalate_to = ["{MGR}"]\nescalate_after = "1s"\n'
    )
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost",
        "SLACK_BOT_TOKEN": stack.slack.token, "SLACK_SIGNING_SECRET": "worker-secret", "SOCIALDESK_CHANNEL": CHANNEL,
        "SLACK_API_URL": stack.slack.api_url, "DATABASE_URL": stack.database_url, "SOCIALDESK_CONFIG": str(toml),
    }
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [
        subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--role", "worker"], env=env, cwd=tmp_path, stdout=log.open("w"), stderr=subprocess.STDOUT)
        for log in logs
    ]
    try:
        stack.slack.wait_for(lambda: _paged(stack)[MGR], timeout=60, what="the escalation, from whichever worker leads")
        # No fixed wait: a second overdue case is escalated only after the leader ran several
        # more checks, each of which looked at the first case again.
        second = _overdue_case(stack)
        stack.slack.wait_for(lambda: _paged(stack)[MGR] == 2, timeout=60, what="the second case's escalation")
        assert all(worker.poll() is None for worker in workers), [log.read_text() for log in logs]
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(15)
    counts = _paged(stack)
    assert sum(counts[u] for u in (AAA, BBB, CCC)) == 2 and counts[MGR] == 2
    for case in (case_id, second):
        assert sum("nobody has picked it up" in line for line in thread(stack, case)) == 1
    leaders = [log for log in logs if "this process runs the scheduled jobs" in log.read_text()]
    assert len(leaders) == 1, [log.read_text() for log in logs]
