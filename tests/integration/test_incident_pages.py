"""The incident page DMs once someone acknowledges (or the incident closes): every page says who took it and loses its button."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.clock import utcnow
from bot.flows import incidents as incident_flow
from bot.slack.ids import Action, View, incident_ref
from storage import models as m
from tests.integration.test_incident_controls import AGENT, MGR, ONCALL, OUTAGE, OUTSIDER, _declare_with_posts, _incident, _submit, team  # noqa: F401


def _pages(stack) -> list[m.IncidentPage]:
    with stack.rt.db.session() as session:
        return list(session.scalars(select(m.IncidentPage).order_by(m.IncidentPage.id)))


def _edits(stack, page: m.IncidentPage) -> list[dict]:
    return stack.slack.updates(page.channel, page.ts)


def _paged_and_escalated(stack) -> list[m.IncidentPage]:
    _declare_with_posts(stack, texts=OUTAGE[:2])
    incident_flow.tick(stack.rt)
    assert incident_flow.escalate_due(stack.rt, utcnow() + timedelta(minutes=16)) == 1
    pages = _pages(stack)
    assert [(p.user_id, p.escalated) for p in pages] == [(ONCALL, False), (MGR, True)]
    for page in pages:  # the DMs as sent: a live Acknowledge button
        [dm] = [msg for msg in stack.slack.messages(page.channel) if msg["ts"] == page.ts]
        assert "Acknowledge" in json.dumps(dm["blocks"])
    return pages


def _live_button(stack, page: m.IncidentPage) -> bool:
    [dm] = [msg for msg in stack.slack.messages(page.channel) if msg["ts"] == page.ts]
    return any(b["type"] == "actions" for b in dm["blocks"])


def test_acknowledging_edits_every_page_dm_to_say_who_and_when_and_takes_the_button_away(team):
    pages = _paged_and_escalated(team)
    team.click(OUTSIDER, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel="D0OUT")
    team.slack.wait_for(lambda: any("can acknowledge" in (e.get("text") or "") for e in team.slack.ephemerals), what="the outsider told")
    assert _incident(team).acknowledged_by is None and all(_edits(team, p) == [] for p in pages) and all(_live_button(team, p) for p in pages)

    team.click(MGR, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel=pages[1].channel)
    team.slack.wait_for(lambda: all(_edits(team, p) for p in pages), what="both page DMs edited")
    for page in pages:
        [edit] = _edits(team, page)
        shown = json.dumps(edit["blocks"])
        assert f"<@{MGR}> acknowledged incident #1" in shown and "<!date^" in shown  # who, and when (in the reader's timezone)
        assert not _live_button(team, page)
    team.slack.wait_for(lambda: all(p.closed_at for p in _pages(team)), what="the pages marked edited")

    # a second acknowledge (the other person, a double click) is told who has it and changes nothing
    team.click(ONCALL, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel=pages[0].channel)
    team.click(MGR, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel=pages[1].channel)
    team.slack.wait_for(lambda: sum("already acknowledged" in (e.get("text") or "") for e in team.slack.ephemerals) == 2, what="both told")
    assert incident_flow.close_pages(team.rt) == 0
    assert _incident(team).acknowledged_by == MGR and [len(_edits(team, p)) for p in pages] == [1, 1]
    with team.rt.db.session() as session:
        assert len(session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "incident_acknowledged")).all()) == 1


def test_a_page_edit_slack_refuses_is_made_on_a_later_tick(team):
    pages = _paged_and_escalated(team)
    team.slack.fail("chat.update", status=500)  # the first edit after the click (a page DM) fails
    team.click(ONCALL, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel=pages[0].channel)
    team.slack.wait_for(lambda: _incident(team).acknowledged_by == ONCALL, what="acknowledged")
    team.slack.wait_for(lambda: sum(1 for p in _pages(team) if p.closed_at) == 1, what="one page edited, one refused")
    assert sum(_live_button(team, p) for p in pages) == 1
    incident_flow.tick(team.rt)
    assert all(p.closed_at for p in _pages(team)) and not any(_live_button(team, p) for p in pages)
    assert all(len(_edits(team, p)) == 1 for p in pages)


def test_an_incident_resolved_before_anyone_acknowledged_takes_the_button_off_its_pages(team):
    pages = _paged_and_escalated(team)
    assert _submit(team, AGENT, View.INCIDENT_RESOLVE, {}).status_code == 200
    team.slack.wait_for(lambda: _incident(team).status == "resolved", what="resolved")
    incident_flow.tick(team.rt)
    for page in pages:
        [edit] = _edits(team, page)
        assert f"was resolved by <@{AGENT}>" in json.dumps(edit["blocks"]) and not _live_button(team, page)
    team.click(ONCALL, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel=pages[0].channel)
    team.slack.wait_for(lambda: any("is resolved" in (e.get("text") or "") for e in team.slack.ephemerals), what="a late click told")
    assert _incident(team).acknowledged_by is None


def test_a_page_dm_that_is_gone_is_not_edited_again_on_every_tick(team):
    pages = _paged_and_escalated(team)
    team.slack.fail("chat.update", status=200, body={"ok": False, "error": "message_not_found"})  # the escalation's DM was deleted
    team.click(MGR, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel=pages[1].channel)
    team.slack.wait_for(lambda: all(p.closed_at for p in _pages(team)), what="both pages settled")
    calls = len(team.slack.calls("chat.update"))
    incident_flow.tick(team.rt)
    assert incident_flow.close_pages(team.rt) == 0
    assert sum(1 for c in team.slack.calls("chat.update")[calls:] if str(c.get("channel", "")).startswith("D")) == 0
