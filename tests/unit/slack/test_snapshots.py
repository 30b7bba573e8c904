"""Snapshots of every Block Kit builder: what Slack receives, reviewed once and kept in git.

Each builder has one JSON file under `snapshots/`, holding its output for a few
representative inputs (cases built in a real SQLite database at a fixed time).
A builder change that alters the JSON fails here until the new output is
reviewed. To regenerate after an intended change, then read the diff:

    SOCIALDESK_UPDATE_SNAPSHOTS=1 python -m pytest tests/unit/slack/test_snapshots.py
    git diff tests/unit/slack/snapshots/
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.config import FileConfig, OncallConfig
from bot.domain import stats
from bot.domain.incidents import Destination, IncidentView, Sample
from bot.domain.oncall import OnCall
from bot.slack import blocks, incident_blocks, oncall_blocks, stats_blocks
from storage import models as m
from storage.db import Database
from tests.integration.test_stats import NOW as STATS_NOW
from tests.integration.test_stats import seed_week

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("SOCIALDESK_UPDATE_SNAPSHOTS") == "1"
UTC = timezone.utc
NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # a Monday
AGENT, LEAD, ALICE, BOB, MGR = "U0AGENT", "U0LEAD", "U01AAA", "U01BBB", "U01MGR"


def _case(session, name: str, *, network: str = "x", status: str = "open", category: str = "complaint", priority: str = "high",
          text: str = "@acme my parcel has been lost for two weeks and nobody replies <!channel> <https://evil.example|click>",
          kind: str = "mention", replies: tuple[tuple[str, str, str], ...] = (), **values) -> None:
    """One case with its root post (customer text that tries Slack markup) and replies (kind, status, text)."""
    case = m.Case(
        network=network, conversation_id=f"conv-{name}", author_external_id=f"a-{name}", status=status, category=category,
        priority=priority, severity=3, sentiment=-0.6, topic="delivery", reasons=[category, "48.2k followers", "negative"],
        suggested_reply="Hi Jordan, sorry about this. Could you send us a DM with your order number?", channel="C0CASES",
        card_ts=f"1700000000.{len(name):06d}", created_at=NOW - timedelta(minutes=20), due_at=NOW - timedelta(minutes=5), **values,
    )
    session.add(case)
    session.flush()
    url = f"https://x.com/jordan_k/status/{name}" if network == "x" else f"https://facebook.com/{name}"
    session.add(m.Post(network=network, external_id=f"p-{name}", case_id=case.id, kind=kind, text=text, url=url,
                       author_external_id=f"a-{name}", author_handle="jordan_k", author_name="Jordan K", author_followers=48_200,
                       engagement=12, created_at=NOW - timedelta(minutes=20), slack_state="posted", slack_ts=case.card_ts))
    for i, (reply_kind, reply_status, reply_text) in enumerate(replies):
        session.add(m.Reply(case_id=case.id, approval_id=f"approval-{name}", kind=reply_kind, text=reply_text, requested_by=AGENT,
                            status=reply_status, created_at=NOW - timedelta(minutes=2), next_attempt_at=NOW,
                            url=f"https://x.com/acme/status/9{i}" if reply_status == "sent" else None,
                            error="403 Forbidden: the user does not accept DMs" if reply_status == "failed" else None))


@pytest.fixture(scope="module")
def cases() -> dict[str, m.Case]:
    db = Database("sqlite://")
    db.upgrade()
    with db.session() as session:
        _case(session, "open")
        _case(session, "praise", category="praise", priority="low", text="@acme the staff were wonderful today!")
        _case(session, "held", status="pending_approval", replies=(("public", "awaiting", "Hi Jordan, we're tracing it now."),))
        _case(session, "answered", status="answered", answered_by=AGENT, first_response_at=NOW - timedelta(minutes=3),
              resolved_at=NOW - timedelta(minutes=3), replies=(("public", "sent", "Hi Jordan, we're tracing it now."),))
        _case(session, "failed", status="failed", last_error="private reply failed: the user does not accept DMs",
              replies=(("private", "failed", "Full answer"), ("public", "failed", "We've sent you a DM.")))
        _case(session, "dismissed", status="dismissed", dismissed_reason="spam", resolved_at=NOW)
        _case(session, "claimed", claimed_by=AGENT, claimed_at=NOW - timedelta(minutes=1))
        _case(session, "facebook", network="facebook", kind="comment", priority="normal", text="Still no refund after 3 weeks.")
        rows = session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).order_by(m.Case.id))
        return {case.conversation_id.removeprefix("conv-"): case for case in rows}


@pytest.fixture(scope="module")
def reports() -> tuple[stats.Report, stats.Report]:
    db = Database("sqlite://")
    db.upgrade()
    with db.session() as session:
        seed_week(session)
        week = stats.report(session, stats.period_ending_now("7d", STATS_NOW, "UTC"), now=STATS_NOW)
        today = stats.report(session, stats.period_ending_now("today", STATS_NOW, "UTC"), now=STATS_NOW, chart=False, topic_limit=0)
    return today, week


def _rotation() -> tuple[OnCall, OnCall, FileConfig]:
    current = OnCall(ALICE, NOW - timedelta(days=1), NOW + timedelta(days=6))
    following = OnCall(BOB, NOW + timedelta(days=6), NOW + timedelta(days=13))
    config = FileConfig(oncall=OncallConfig(members=[ALICE, BOB], handoff="09:00", rotation="weekly", timezone="Europe/London",
                                            escalate_to=[MGR], escalate_after="15m", quiet_hours="22:00-07:00"))
    return current, following, config


def _incident(status: str = "open", **values) -> IncidentView:
    samples = [Sample(1, "x", "jordan_k", "checkout is down again <!here>", "https://x.com/jordan_k/status/1"),
               Sample(2, "facebook", "Sam Lee", "Can't pay, the site errors", "https://facebook.com/2")]
    return IncidentView(id=3, status=status, title="checkout down", phrases=["checkout", "payment error"], posts=42, people=37,
                        networks={"x": 30, "facebook": 12}, per_bucket=[0, 1, 3, 8, 12, 9, 6, 3], bucket=timedelta(minutes=5),
                        trend="falling", samples=samples, created_at=NOW - timedelta(minutes=40), declared_by=AGENT, **values)


def _builders(cases: dict[str, m.Case], reports: tuple[stats.Report, stats.Report]) -> dict[str, dict]:
    """builder name -> {representative input: output}."""
    today, week = reports
    current, following, config = _rotation()
    link = "https://acme.slack.com/archives/C0CASES/p1700000000000001"
    follow_up = cases["open"].posts[0]
    return {
        "case_card": {name: blocks.case_card(case, "X" if case.network == "x" else "Facebook", now=NOW) for name, case in cases.items()},
        "network_notes": {"facebook_comment": blocks.network_notes(cases["facebook"], "Facebook", NOW)},
        "follow_up": {"post": blocks.follow_up(follow_up)},
        "connection_notice": {"auth_failed": blocks.connection_notice("Facebook", "The Page token expired (code 190).")},
        "connection_restored": {"facebook": blocks.connection_restored("Facebook")},
        "budget_notice": {"x_paced": blocks.budget_notice("X", "x", "X API budget: $12.00 of $30.00 spent this month; polling slows "
                                                          "down to stay within it (webhooks still arrive)", NOW + timedelta(hours=23))},
        "budget_resumed": {"x": blocks.budget_resumed("X")},
        "edit_modal": {
            "x_with_tone_and_saved": blocks.edit_modal(cases["open"], "We are NOT responsible for this.", limit=280, length=31,
                                                       tone=["“NOT responsible”: sounds defensive"],
                                                       saved=[("Sorry, looking into it", "Hi Jordan, sorry about this.")], generation=1),
            "facebook_no_limit": blocks.edit_modal(cases["facebook"], "Hi Jordan, sorry.", limit=None, length=17),
        },
        "dm_modal": {
            "x": blocks.dm_modal(cases["open"], "Please send us your order number."),
            "blocked": blocks.dm_modal(cases["facebook"], "Full answer", blocker="Facebook allows one private reply within 7 days."),
        },
        "home_view": {
            "agent": blocks.home_view(AGENT, [cases["claimed"]], [cases["open"], cases["facebook"]], {"open": 3, "answered": 1, "dismissed": 1}),
            "manager": blocks.home_view(MGR, [], [cases["open"]], {"open": 1, "answered": 0, "dismissed": 0},
                                        stats_blocks.home_numbers(today, week, "your Slack timezone")),
        },
        "page": {
            "first": oncall_blocks.page(cases["open"], link, NOW),
            "escalated": oncall_blocks.page(cases["open"], None, NOW, escalated_from="alice"),
        },
        "acknowledged": {"claimed": oncall_blocks.acknowledged(cases["open"], ALICE, claimed=True, permalink=link)},
        "handoff_summary": {
            "busy": oncall_blocks.handoff_summary(current, following, [cases["open"], cases["facebook"]], 5, 1,
                                                  {cases["open"].id: link}, NOW),
            "quiet": oncall_blocks.handoff_summary(current, following, [], 0, 0, {}, NOW),
        },
        "oncall_status": {"rotation": oncall_blocks.oncall_status(current, following, config, note="")},
        "stats_message": {"7d": stats_blocks.stats_message(week, tz_note="your Slack timezone")},
        "digest_message": {"7d": stats_blocks.digest_message(week)},
        "home_numbers": {"today_and_week": stats_blocks.home_numbers(today, week, "your Slack timezone")},
        "incident_message": {
            "open": incident_blocks.incident_message(_incident(answers={"sent": 20, "queued": 5, "failed": 2}, waiting=15)),
            "resolved": incident_blocks.incident_message(_incident("resolved", resolved_by=LEAD)),
            "merge_choices_and_paging": incident_blocks.incident_message(_incident(
                others=[(5, "login broken"), (4, "promo code <!here> refused")], paged_user=ALICE, escalated_to=MGR, acknowledged_by=MGR)),
        },
        "incident_batch": {"posts": incident_blocks.batch([case.posts[0] for case in (cases["open"], cases["facebook"])], 3)},
        "incident_page": {"first": incident_blocks.page(_incident(), link),
                          "escalated": incident_blocks.page(_incident(), None, escalated=True, paged=ALICE),
                          "escalated_nobody_reached": incident_blocks.page(_incident(), link, escalated=True),
                          "acknowledged": incident_blocks.acknowledged_page(_incident(), MGR, NOW, link),
                          "resolved_unacknowledged": incident_blocks.closed_page(_incident("resolved", resolved_by=LEAD), None),
                          "merged_unacknowledged": incident_blocks.closed_page(_incident("merged", merged_into=4), link)},
        "incident_status_modal": {
            "empty": incident_blocks.status_modal(_incident(), [Destination("facebook", 1, 0, 8000, 0.0), Destination("x", 1, 0, 280, 0.0)]),
            "with_link": incident_blocks.status_modal(
                _incident(), [Destination("facebook", 1, 60, 8000, 0.0), Destination("x", 1, 60, 280, 0.2)],
                "Checkout is down; we are on it. Updates: acme.example/status"),
        },
        "incident_answer_modal": {
            "x_and_facebook": incident_blocks.answer_modal(
                _incident(), [Destination("facebook", 12, 43, 8000, 0.0), Destination("x", 30, 59, 280, 0.3)], 2,
                "We know checkout is down and are fixing it."),
            "too_long_to_post_on_x_goes_by_dm": incident_blocks.answer_modal(
                _incident(), [Destination("facebook", 12, 300, 8000, 0.0), Destination("x", 30, 316, 280, 0.75, via_dm=30)], 0, "Sorry. " * 43),
            "too_long_for_x": incident_blocks.answer_modal(
                _incident(), [Destination("facebook", 12, 300, 8000, 0.0), Destination("x", 30, 316, 280, 0.3)], 0, "Sorry. " * 43),
        },
        "incident_resolve_modal": {
            "with_replies": incident_blocks.resolve_modal(
                _incident(), [Destination("x", 1, 40, 280, 0.015)], [Destination("x", 30, 52, 280, 0.3)], 2,
                "Checkout works again. Sorry for the trouble!"),
            "all_answered": incident_blocks.resolve_modal(_incident(), [Destination("x", 1, 0, 280, 0.0)], [], 42),
        },
        "incident_split_modal": {"x_and_facebook": incident_blocks.split_modal(_incident())},
    }


BUILDERS = ["case_card", "network_notes", "follow_up", "connection_notice", "connection_restored", "budget_notice", "budget_resumed",
            "edit_modal", "dm_modal",
            "home_view", "page", "acknowledged", "handoff_summary", "oncall_status", "stats_message", "digest_message", "home_numbers",
            "incident_message", "incident_batch", "incident_page", "incident_answer_modal", "incident_status_modal",
            "incident_resolve_modal", "incident_split_modal"]


@pytest.mark.parametrize("builder", BUILDERS)
def test_builder_output_matches_its_reviewed_snapshot(builder, cases, reports):
    built = json.loads(json.dumps(_builders(cases, reports)[builder], ensure_ascii=False))  # tuples as lists, as Slack gets them
    path = SNAPSHOTS / f"{builder}.json"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(json.dumps(built, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
    assert path.exists(), f"no snapshot for {builder}: run with SOCIALDESK_UPDATE_SNAPSHOTS=1 and review {path}"
    assert built == json.loads(path.read_text()), f"{builder} changed: regenerate (see this module's docstring) and review the diff"


def test_every_builder_has_a_snapshot_and_no_snapshot_is_orphaned(cases, reports):
    assert sorted(_builders(cases, reports)) == sorted(BUILDERS)
    assert sorted(p.stem for p in SNAPSHOTS.glob("*.json")) == sorted(BUILDERS)


def test_customer_text_never_reaches_slack_as_markup(cases, reports):
    """Across every snapshot: the customer's `<!channel>` and fake link arrive escaped."""
    text = json.dumps(_builders(cases, reports), ensure_ascii=False)
    assert "<!channel>" not in text and "<https://evil.example|click>" not in text
    assert "&lt;!channel&gt;" in text
