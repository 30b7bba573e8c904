"""The incident rate chart survives Slack failing (500, 429 with Retry-After, no answer) and a crash mid-upload: exactly one per event."""
from __future__ import annotations

from datetime import timedelta

from slack_sdk import WebClient
from sqlalchemy import select

from bot.clock import utcnow
from bot.flows import incidents as incident_flow
from bot.slack.ids import View
from storage import models as m
from tests.integration.test_incident_controls import AGENT, OUTAGE, _declare_with_posts, _incident, _submit, team  # noqa: F401


def _charts(stack) -> list[dict]:
    return [u for u in stack.slack.uploads.values() if u.get("completed") and u["filename"].startswith("incident-")]


def _row(stack, event: str = "opened") -> m.IncidentChart | None:
    with stack.rt.db.session() as session:
        return session.scalar(select(m.IncidentChart).where(m.IncidentChart.incident_id == 1, m.IncidentChart.event == event))


def _asked(stack) -> int:
    return len(stack.slack.calls("files.getUploadURLExternal"))


def test_a_429_waits_its_retry_after_then_the_chart_goes_once(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    team.slack.fail("files.getUploadURLExternal", status=429, headers={"Retry-After": "30"})
    now = utcnow()
    incident_flow.upload_charts(team.rt, now)
    assert _charts(team) == [] and _asked(team) == 1 and _incident(team).chart_opened_at is None
    for later in (5, 15, 29):  # inside the Retry-After: Slack is not asked again
        incident_flow.upload_charts(team.rt, now + timedelta(seconds=later))
    assert _asked(team) == 1
    assert incident_flow.upload_charts(team.rt, now + timedelta(seconds=31)) == 1
    [chart] = _charts(team)
    assert chart["thread_ts"] == _incident(team).message_ts and _row(team).file_id and _row(team).attempts == 2
    incident_flow.upload_charts(team.rt, now + timedelta(hours=1))
    assert len(_charts(team)) == 1 and _asked(team) == 2


def test_500s_back_off_and_the_chart_goes_once_slack_recovers(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    team.slack.fail("files.getUploadURLExternal", status=500, times=2)
    now = utcnow()
    incident_flow.upload_charts(team.rt, now)  # fails: the next tick tries again
    incident_flow.upload_charts(team.rt, now + timedelta(seconds=5))  # fails again: now it backs off
    incident_flow.upload_charts(team.rt, now + timedelta(seconds=10))
    assert _charts(team) == [] and _asked(team) == 2 and _row(team).error
    assert incident_flow.upload_charts(team.rt, now + timedelta(seconds=40)) == 1
    assert len(_charts(team)) == 1 and _row(team).error is None


def test_an_upload_slack_took_but_never_answered_is_found_in_the_thread_not_sent_twice(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    team.slack.fail("files.completeUploadExternal", status=None, drop=True)  # shared, then the connection drops
    now = utcnow()
    assert incident_flow.upload_charts(team.rt, now) == 0
    assert len(_charts(team)) == 1 and _incident(team).chart_opened_at is None  # in the thread, but we cannot know
    incident_flow.upload_charts(team.rt, now + timedelta(seconds=5))
    assert len(_charts(team)) == 1 and _asked(team) == 1  # looked in the thread, found it
    assert _incident(team).chart_opened_at is not None and _row(team).file_id == next(iter(
        f for f, u in team.slack.uploads.items() if u.get("completed")))


def test_a_crash_mid_upload_leaves_the_chart_owed_and_the_next_process_uploads_it_once(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    now = utcnow()
    # A process took the attempt and was killed before Slack heard of it (what kill -9 leaves behind).
    assert incident_flow._claim_chart(team.rt, 1, "opened", now) == (False, 0)
    incident_flow.upload_charts(team.rt, now + timedelta(seconds=30))
    assert _asked(team) == 0  # its lease still holds: nobody races a live upload
    assert incident_flow.upload_charts(team.rt, now + incident_flow.CHART_LEASE + timedelta(seconds=1)) == 1
    assert len(_charts(team)) == 1 and len(team.slack.calls("conversations.replies")) >= 1  # looked first, found nothing, uploaded


def test_a_crash_after_slack_shared_the_chart_does_not_post_a_second_one(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    now = utcnow()
    assert incident_flow._claim_chart(team.rt, 1, "opened", now) == (False, 0)
    client = WebClient(token=team.slack.token, base_url=team.slack.api_url)  # the killed process got this far
    client.files_upload_v2(channel=_incident(team).channel, thread_ts=_incident(team).message_ts, content=b"\x89PNG", filename="incident-1.png")
    incident_flow.upload_charts(team.rt, now + incident_flow.CHART_LEASE + timedelta(seconds=1))
    assert len(_charts(team)) == 1 and _asked(team) == 1 and _incident(team).chart_opened_at is not None


def test_the_resolved_chart_is_owed_from_the_moment_the_incident_closes(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    incident_flow.upload_charts(team.rt)
    team.slack.fail("files.getUploadURLExternal", status=500, times=50)  # Slack is down while it is resolved
    assert _submit(team, AGENT, View.INCIDENT_RESOLVE, {}).status_code == 200
    team.slack.wait_for(lambda: _row(team, "resolved") is not None and _row(team, "resolved").error, what="the resolved chart tried")
    team.slack.clear_faults()
    incident_flow.upload_charts(team.rt, utcnow() + timedelta(minutes=15))
    assert sorted(c["filename"] for c in _charts(team)) == ["incident-1-resolved.png", "incident-1.png"]
