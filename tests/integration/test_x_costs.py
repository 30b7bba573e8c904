"""X's pay-per-use prices: every billed call recorded, spend shown in stats and check, polling paced to the budget, links flagged."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from rich.console import Console
from sqlalchemy import select

from bot.flows import workflows
from bot.config import FileConfig, RolesConfig, XConfig, load_file_config
from bot.domain import spend
from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL, card_text
from handlers.editor import editor_view
from storage import models as m

MANAGER = "U0MGR"


def spend_rows(stack) -> dict[str, tuple[int, float]]:
    """operation -> (units, dollars) recorded so far."""
    out: dict[str, tuple[int, float]] = {}
    with stack.rt.db.session() as session:
        for row in session.scalars(select(m.NetworkSpend).where(m.NetworkSpend.network == "x")):
            units, cost = out.get(row.operation, (0, 0.0))
            out[row.operation] = (units + row.units, round(cost + row.cost_micros / 1e6, 6))
    return out


def test_every_billed_call_is_recorded_at_xs_prices(stack):
    jordan = stack.x.add_user(username="jordan_k")
    maya = stack.x.add_user(username="maya_r")
    first = stack.x.add_tweet("@acme my order never arrived", jordan)
    stack.x.add_tweet("@acme still waiting for the refund", jordan)
    stack.x.add_tweet("@acme the app crashes at checkout", maya)
    stack.poll()
    rows = spend_rows(stack)
    # get_me once (owned), 3 posts from our own mentions timeline (owned reads), 2 authors expanded (user reads)
    assert rows["owned_read"] == (4, 0.004) and rows["user_read"] == (2, 0.02)
    [case] = [c for c in _cases(stack) if c.root.external_id == first]
    stack.rt.networks["x"].reply_public(workflows.target_of(case), "Sorry Jordan, we're on it")
    stack.rt.networks["x"].reply_public(workflows.target_of(case), "Track it at https://www.acme.com/track")
    rows = spend_rows(stack)
    assert rows["reply"] == (1, 0.01) and rows["post_with_link"] == (1, 0.2)
    stack.poll()  # nothing new: an empty page is not billed
    assert spend_rows(stack)["owned_read"] == (4, 0.004)


def test_prices_come_from_the_x_section_of_the_config_file(tmp_path):
    path = tmp_path / "socialdesk.toml"
    path.write_text("[x]\nmonthly_budget = 250\n\n[x.prices]\npost_with_link = 0.25\n", encoding="utf-8")
    config = load_file_config(path)
    assert config.x.monthly_budget == 250 and config.x.prices.post_with_link == 0.25 and config.x.prices.reply == 0.010
    path.write_text("[x]\nmonthly_budget = -1\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"line 2.*\[x\] monthly_budget"):
        load_file_config(path)


def test_pacing_follows_a_straight_line_to_the_budget_with_one_days_share_up_front():
    now = datetime(2026, 11, 11, 0, 0, tzinfo=timezone.utc)  # a third of November gone
    assert spend.pace_wait(0, 30, now) == timedelta(0)
    assert spend.pace_wait(11, 30, now) == timedelta(0)            # 10 days' share plus one
    assert spend.pace_wait(12, 30, now) == timedelta(days=1)       # one day ahead of that: wait a day
    assert spend.pace_wait(30, 30, now) == timedelta(days=20)      # spent: wait for December
    assert spend.pace_wait(1e9, 0, now) == timedelta(0)            # no budget, no pacing


def test_polling_slows_down_rather_than_overspend_and_resumes_on_pace(make_stack, time_machine):
    time_machine.move_to(datetime(2026, 11, 11, 0, 0, tzinfo=timezone.utc), tick=True)
    stack = make_stack(config=FileConfig(x=XConfig(monthly_budget=30)))
    customer = stack.x.add_user(username="jordan_k")
    stack.x.add_tweet("@acme my order never arrived", customer)
    with stack.rt.db.session() as session:
        spend.record(session, "x", "post_read", 2400, 12.0)  # a day ahead of the month's line
    assert stack.poll() is None
    assert stack.x.received("mentions") == [] and stack.cards() == []
    assert stack.rt.poll_backoff["x"] > datetime.now(timezone.utc) + timedelta(hours=23)
    # The channel hears it once: only a person can decide to spend more.
    stack.rt.poll_backoff.clear()
    assert stack.poll() is None
    [notice] = stack.notices()
    text = card_text(notice)
    assert "X polling is paused until" in text and "$12.00 of $30.00" in text and "[x]" in text and "monthly_budget" in text
    assert "<!date^" in text  # the resume time, in each reader's own timezone
    time_machine.shift(timedelta(days=1, minutes=1))
    stack.rt.poll_backoff.clear()  # the scheduler's next tick after the wait
    assert stack.poll() is not None
    assert len(stack.x.received("mentions")) == 1
    stack.slack.wait_for(lambda: "polling has resumed" in card_text(stack.notices()[0]), what="notice resolved")
    with stack.rt.db.session() as session:
        assert session.scalars(select(m.Notice)).all() == []


def test_the_edit_modal_warns_that_a_link_makes_the_reply_far_dearer(stack):
    customer = stack.x.add_user(username="jordan_k")
    stack.x.add_tweet("@acme my order never arrived", customer)
    stack.poll()
    [case] = _cases(stack)
    plain = _text(editor_view(stack.rt, case, "Sorry, we're on it"))
    linked = _text(editor_view(stack.rt, case, "Sorry! Track it at acme.com/track"))
    assert "contains a link" not in plain
    assert "contains a link: X charges $0.200 for it instead of $0.010" in linked


def test_stats_and_check_show_the_months_spend(make_stack, monkeypatch):
    stack = make_stack(config=FileConfig(roles=RolesConfig(managers=[MANAGER]), x=XConfig(monthly_budget=50)))
    stack.slack.add_user(MANAGER, "maria", "Maria Manager", tz="Europe/London")
    with stack.rt.db.session() as session:
        spend.record(session, "x", "post_read", 1000, 5.0)
        spend.record(session, "x", "post_with_link", 1, 0.2)
        spend.record(session, "x", "post_read", 10, 99.0, now=datetime.now(timezone.utc) - timedelta(days=40))  # last month
    body = slack_client.slash_command(MANAGER, text="stats today", channel_id=CHANNEL, response_url=stack.slack.new_response_url())
    stack.send_to_slack_endpoint(body)
    [numbers] = stack.slack.wait_for(lambda: stack.slack.responses, what="the numbers", timeout=20)
    assert "X *$5.20* of $50.00 (10%), 2 billed calls" in _text(numbers)

    settings = stack.settings()
    for name, value in settings.model_dump().items():
        if value is not None and name not in ("socialdesk_config",):
            monkeypatch.setenv(name.upper(), value.get_secret_value() if hasattr(value, "get_secret_value") else str(value))
    (stack_dir := stack.database_url.removeprefix("sqlite:///"))
    monkeypatch.setenv("SOCIALDESK_CONFIG", str(_toml(stack_dir)))
    from bot.check import run_checks

    out = io.StringIO()
    run_checks(Console(file=out, width=300))
    assert "$5.20 this month (UTC) of the $50.00 monthly budget (10%), 2 billed calls" in out.getvalue()


def _toml(db_path: str):
    from pathlib import Path

    path = Path(db_path).with_name("socialdesk.toml")
    path.write_text("[x]\nmonthly_budget = 50\n", encoding="utf-8")
    return path


def _cases(stack) -> list[m.Case]:
    from sqlalchemy.orm import selectinload

    with stack.rt.db.session() as session:
        return list(session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies))))


def _text(payload) -> str:
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


def test_a_status_update_on_x_is_billed_as_a_post(stack):
    network = stack.rt.networks["x"]
    network.post_status("We're looking into checkout errors right now.")
    network.post_status("Fixed. Details: acme.com/status")
    rows = spend_rows(stack)
    assert rows["post"] == (1, 0.015) and rows["post_with_link"] == (1, 0.2)
