"""The incident message's own controls over real HTTP: Resolve with a final word, the answer preview, merge and split, paging and the chart."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import utcnow
from bot.config import FileConfig, IncidentsConfig, OncallConfig, RolesConfig
from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL, card_text
from bot.flows import incidents as incident_flow
from bot.slack.ids import Action, Block, View, incident_ref, merge_ref
from storage import models as m

AGENT, OUTSIDER, ONCALL, MGR = "U0AGENT", "U0OUTSIDE", "U01AAA", "U01MGR"
OUTAGE = ["@acme checkout is broken", "@acme can't pay, error 500 at checkout", "@acme is the site down?? checkout won't load",
          "@acme checkout keeps failing with error 500", "@acme error 500 when I try to pay at checkout"]


@pytest.fixture
def team(make_stack):
    config = FileConfig(
        incidents=IncidentsConfig(min_posts=5, batch_every="1s", update_every="1s"),
        oncall=OncallConfig(members=[ONCALL], handoff="09:00", rotation="weekly", timezone="UTC", escalate_to=[MGR], escalate_after="15m"),
        roles=RolesConfig(agents=[AGENT, ONCALL, MGR]),
    )
    stack = make_stack(config=config)
    stack.slack.add_user(ONCALL, "alice", "Alice")
    stack.slack.add_user(MGR, "mgr", "Morgan")
    return stack


def _incident(stack, incident_id: int = 1) -> m.Incident:
    with stack.rt.db.session() as session:
        return session.get(m.Incident, incident_id)


def _declare_with_posts(stack, title: str = "checkout down", texts=OUTAGE, first: int = 0) -> list[str]:
    stack.command(AGENT, f"incident start {title}")
    number = stack.slack.wait_for(lambda: _latest_incident_with_message(stack), what="the incident message")
    tweets = []
    for i, text in enumerate(texts):
        user = stack.x.add_user(username=f"person{first + i}", name=f"Person {first + i}", followers=10)
        tweets.append(stack.x.add_tweet(text, user))
    stack.poll()
    assert _posts_in(stack, number) == len(texts)
    return tweets


def _latest_incident_with_message(stack) -> int | None:
    with stack.rt.db.session() as session:
        latest = session.scalar(select(m.Incident).order_by(m.Incident.id.desc()))
        return latest.id if latest is not None and latest.message_ts else None


def _posts_in(stack, incident_id: int) -> int:
    with stack.rt.db.session() as session:
        return session.scalar(select(func.count(m.Case.id)).where(m.Case.incident_id == incident_id))


def _modal(stack, user: str, action: Action, incident_id: int = 1) -> dict:
    before = len(stack.slack.opened_views)
    stack.click(user, action, 0, value=incident_ref(incident_id), trigger_id=f"t-{action}")
    return stack.slack.wait_for(lambda: stack.slack.opened_views[before:], what=f"the modal of {action}")[-1]


def _submit(stack, user: str, view: View, values: dict, incident_id: int = 1):
    return stack.send_to_slack_endpoint(slack_client.view_submission(user, view.value, incident_ref(incident_id), values))


def _typed(stack, view: dict, text: str) -> dict:
    """A pause in typing in an open modal: Slack sends a block action from the view; the bot updates it."""
    from urllib.parse import urlencode

    before = len(stack.slack.calls("views.update"))
    payload = {
        "type": "block_actions", "user": {"id": AGENT, "username": "agent", "name": "agent", "team_id": "T0001"},
        "api_app_id": "A0001", "token": "legacy", "trigger_id": "1.2.3", "team": {"id": "T0001", "domain": "acme"},
        "container": {"type": "view", "view_id": view["id"]}, "view": {**view, "state": {"values": {}}},
        "actions": [{"type": "plain_text_input", "action_id": Action.INCIDENT_DRAFT.value, "block_id": Block.REPLY.value,
                     "value": text, "action_ts": "1.0"}],
    }
    stack.send_to_slack_endpoint(urlencode({"payload": json.dumps(payload)}).encode())
    return stack.slack.wait_for(lambda: stack.slack.calls("views.update")[before:], what="the preview updated")[-1]["view"]


def _check(view: dict, block_id: str = Block.CHECK.value) -> str:
    return card_text({"blocks": [b for b in view["blocks"] if b.get("block_id") == block_id]})


TICKED = {Block.ALSO_ANSWER.value: {Block.ALSO_ANSWER.value: {"type": "checkboxes", "selected_options": [{"value": "yes"}]}}}


# -- Resolve ------------------------------------------------------------------------


def test_resolve_posts_the_final_update_and_answers_each_post_once_and_a_second_submit_changes_nothing(team):
    tweets = _declare_with_posts(team)
    modal = _modal(team, AGENT, Action.INCIDENT_RESOLVE)
    assert "5 posts not answered yet" in json.dumps(modal)
    final = "Checkout works again. Sorry for the trouble, and thank you for your patience."
    updated = _typed(team, modal, final)
    assert "*X* · 1 post · $0.015" in _check(updated)  # the brand's own post on X, at X's price for a post
    assert "*X* · 5 replies · $0.050" in _check(updated, "answer_check")  # and, ticked, one reply per post
    assert _submit(team, AGENT, View.INCIDENT_RESOLVE, {Block.REPLY.value: {"incident_draft": final}, **TICKED}).status_code == 200
    for tweet in tweets:
        team.x.wait_for(lambda tweet=tweet: team.x.replies_to(tweet), what="each post answered")
    team.x.wait_for(lambda: [t for t in team.x.tweets_by_brand() if t["text"] == final], what="the final update on X")
    team.graph.wait_for(lambda: team.graph.received("publish"), what="the final update on the Page")
    assert _incident(team).status == "resolved"
    again = _submit(team, AGENT, View.INCIDENT_RESOLVE, {Block.REPLY.value: {"incident_draft": final}, **TICKED})
    assert "is resolved" in str(again.json()["errors"])
    incident_flow.tick(team.rt)
    assert all(len(team.x.replies_to(t)) == 1 and team.x.replies_to(t)[0]["text"].endswith(final) for t in tweets)
    assert len([t for t in team.x.tweets_by_brand() if t["text"] == final]) == 1 and len(team.graph.received("publish")) == 1
    # the clicker of the stale message's Resolve is told, and no modal opens
    before = len(team.slack.opened_views)
    team.click(AGENT, Action.INCIDENT_RESOLVE, 0, value=incident_ref(1), trigger_id="late")
    team.slack.wait_for(lambda: any("is resolved" in e["text"] for e in team.slack.ephemerals), what="told it is resolved")
    assert len(team.slack.opened_views) == before


def test_resolve_refuses_what_cannot_go_out_and_changes_nothing(team):
    tweets = _declare_with_posts(team)
    too_long = "We are very sorry. " * 16  # 304 characters: too long for X
    refused = _submit(team, AGENT, View.INCIDENT_RESOLVE, {Block.REPLY.value: {"incident_draft": too_long}, **TICKED})
    assert "Too long for x" in str(refused.json()["errors"])
    empty_with_replies = _submit(team, AGENT, View.INCIDENT_RESOLVE, {Block.REPLY.value: {"incident_draft": ""}, **TICKED})
    assert "Write the final update first" in str(empty_with_replies.json()["errors"])
    outsider = _submit(team, OUTSIDER, View.INCIDENT_RESOLVE, {Block.REPLY.value: {"incident_draft": "Fixed."}})
    assert "not allowed" in str(outsider.json()["errors"])
    stale = team.send_to_slack_endpoint(slack_client.view_submission(AGENT, View.INCIDENT_RESOLVE.value, '{"v":0,"incident":1}', {}))
    assert "older version" in str(stale.json()["errors"])
    team.click(OUTSIDER, Action.INCIDENT_RESOLVE, 0, value=incident_ref(1), trigger_id="nope")
    team.slack.wait_for(lambda: any("not on the list" in e["text"] for e in team.slack.ephemerals), what="the outsider told")
    assert _incident(team).status == "open"
    assert all(team.x.replies_to(t) == [] for t in tweets) and team.x.tweets_by_brand() == []
    with team.rt.db.session() as session:
        assert session.scalar(select(func.count(m.StatusUpdate.id))) == 0 and session.scalar(select(func.count(m.Reply.id))) == 0


def test_a_network_saying_429_during_the_final_replies_delays_them_and_each_post_still_gets_exactly_one(team):
    from bot.domain import incidents
    from bot.flows import workflows

    tweets = _declare_with_posts(team)
    team.x.fail("create_tweet", status=429, times=3)  # X refuses the first writes: rate limited, nothing taken
    final = "Checkout works again. Sorry for the trouble."
    assert _submit(team, AGENT, View.INCIDENT_RESOLVE, {Block.REPLY.value: {"incident_draft": final}, **TICKED}).status_code == 200
    team.slack.wait_for(lambda: _incident(team).status == "resolved", what="resolved")

    def answered() -> dict:
        with team.rt.db.session() as session:
            return incidents.answer_progress(session, 1)

    def all_sent() -> bool:  # the outbox job's turn: held-back replies go once X's window resets (Retry-After)
        workflows.process_outbox(team.rt)
        return answered()["sent"] == 5
    team.slack.wait_for(all_sent, timeout=30, interval=0.2, what="every post answered after the 429s")
    assert answered() == {"sent": 5, "queued": 0, "failed": 0}
    assert all(len(team.x.replies_to(t)) == 1 for t in tweets)


# -- the answer preview -------------------------------------------------------------


def test_the_answer_preview_counts_posts_per_network_prices_them_and_says_when_x_is_too_long(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    page_post = team.graph.add_post("Black Friday!")
    for i in range(2):
        team.graph.add_comment(page_post, f"checkout is broken, error 500 when I pay ({i})", team.graph.add_user(f"Fan {i}"))
    team.poll("facebook")
    assert _posts_in(team, 1) == 5
    modal = _modal(team, AGENT, Action.INCIDENT_ANSWER)
    assert "*Facebook* · 2 replies" in _check(modal) and "*X* · 3 replies" in _check(modal)
    plain = _typed(team, modal, "We know checkout is down and are fixing it now.")
    assert "*Facebook* · 2 replies · free" in _check(plain) and "*X* · 3 replies · $0.030" in _check(plain)
    linked = _typed(team, modal, "We know checkout is down. Updates: https://status.acme.com")
    assert "*X* · 3 replies · $0.600" in _check(linked)  # X bills a post with a URL at $0.200
    long = _typed(team, modal, "We are so sorry. " * 17)
    # too long to post on X: it goes as Move to DM does (the answer by DM, a short public reply), and Facebook takes it as written
    assert ":envelope: *X* · short public reply + DM for 3 posts" in _check(long) and ":white_check_mark: *Facebook*" in _check(long)
    status = _modal(team, AGENT, Action.INCIDENT_STATUS)
    assert "*X* · 1 post" in _check(_typed(team, status, "Checkout is down; next update in 30 minutes."))


# -- merge and split from the message -----------------------------------------------


def test_merge_into_another_incident_from_the_message_and_what_cannot_be_merged(team):
    _declare_with_posts(team, "checkout down", OUTAGE[:3])
    _declare_with_posts(team, "login broken", ["@acme login broken on the app", "@acme the login page is broken again"], first=10)
    incident_flow.refresh_due(team.rt, force=1)
    first = team.slack.wait_for(lambda: [u for u in team.slack.updates(CHANNEL, _incident(team, 1).message_ts) if "Merge into" in str(u["blocks"])],
                                what="#1 offers to merge into #2")[-1]
    menu = next(e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == Action.INCIDENT_MERGE)
    assert [o["value"] for o in menu["options"]] == [merge_ref(1, 2)]

    def pick(user: str, value: str):
        return team.send_to_slack_endpoint(slack_client.block_actions(
            user, Action.INCIDENT_MERGE.value, value, channel=CHANNEL, message_ts=_incident(team, 2).message_ts, message_blocks=first["blocks"]))

    pick(OUTSIDER, merge_ref(2, 1))
    team.slack.wait_for(lambda: any("not on the list" in e["text"] for e in team.slack.ephemerals), what="the outsider told")
    assert _incident(team, 2).status == "open"
    pick(AGENT, merge_ref(2, 1))
    team.slack.wait_for(lambda: _incident(team, 2).status == "merged", what="merged")
    assert (_posts_in(team, 1), _posts_in(team, 2)) == (5, 0)
    team.slack.wait_for(lambda: [u for u in team.slack.updates(CHANNEL, _incident(team, 2).message_ts) if "merged into #1" in str(u["blocks"])],
                        what="#2 shown merged")
    pick(AGENT, merge_ref(2, 1))  # the same pick from the stale message
    team.slack.wait_for(lambda: any("is merged" in e["text"] for e in team.slack.ephemerals), what="told it is merged")
    pick(AGENT, "not json")
    team.slack.wait_for(lambda: any("older version" in e["text"] for e in team.slack.ephemerals), what="a stale value")
    assert _posts_in(team, 1) == 5


def test_split_from_the_message_by_phrase_or_network(team):
    _declare_with_posts(team, "checkout down", [*OUTAGE[:3], "@acme checkout broken and login fails too", "@acme login fails at checkout"])
    page_post = team.graph.add_post("Black Friday!")
    team.graph.add_comment(page_post, "checkout is broken, error 500 when I pay", team.graph.add_user("Fan"))
    team.poll("facebook")
    modal = _modal(team, AGENT, Action.INCIDENT_SPLIT)
    network_menu = next(b for b in modal["blocks"] if b.get("block_id") == Block.SPLIT_NETWORK)
    assert {o["value"] for o in network_menu["element"]["options"]} == {"x", "facebook"}

    def submit(user: str, phrase: str = "", network: str | None = None):
        values = {Block.SPLIT_PHRASE.value: {Block.SPLIT_PHRASE.value: phrase}}
        if network:
            values[Block.SPLIT_NETWORK.value] = {Block.SPLIT_NETWORK.value: {"type": "static_select", "selected_option": {"value": network}}}
        return _submit(team, user, View.INCIDENT_SPLIT, values)

    assert "not allowed" in str(submit(OUTSIDER, "login").json()["errors"])
    assert "Say which posts" in str(submit(AGENT).json()["errors"])
    assert "no post" in str(submit(AGENT, "refund").json()["errors"])
    assert submit(AGENT, "login").status_code == 200
    assert (_posts_in(team, 1), _posts_in(team, 2)) == (4, 2)
    assert submit(AGENT, network="facebook").status_code == 200
    assert (_posts_in(team, 1), _posts_in(team, 3), _incident(team, 3).network) == (3, 1, "facebook")
    team.slack.wait_for(lambda: all(_incident(team, i).message_ts for i in (2, 3)), what="both new incidents have their message")
    # a new Facebook post about checkout joins the Facebook one; a new tweet stays with #1
    team.graph.add_comment(page_post, "checkout is broken again, error 500", team.graph.add_user("Fan 2"))
    team.poll("facebook")
    team.x.add_tweet("@acme checkout is broken, error 500", team.x.add_user(username="late", name="Late", followers=1))
    team.poll()
    assert (_posts_in(team, 1), _posts_in(team, 3)) == (4, 2)


# -- paging -------------------------------------------------------------------------


def test_the_incident_page_escalates_when_nobody_acknowledges_and_stops_when_someone_does(team):
    _declare_with_posts(team, texts=OUTAGE[:2])
    incident_flow.tick(team.rt)
    assert _incident(team).paged_user == ONCALL
    dms = lambda: [c for c in team.slack.calls("chat.postMessage") if str(c.get("channel", "")).startswith("D")]  # noqa: E731
    assert len(dms()) == 1 and "Acknowledge" in json.dumps(dms()[0]["blocks"])
    assert incident_flow.escalate_due(team.rt, utcnow() + timedelta(minutes=5)) == 0  # not yet
    later = utcnow() + timedelta(minutes=16)
    assert incident_flow.escalate_due(team.rt, later) == 1
    assert incident_flow.escalate_due(team.rt, later + timedelta(minutes=1)) == 0  # once
    assert len(dms()) == 2 and "Escalated" in dms()[-1]["text"] + json.dumps(dms()[-1]["blocks"])
    assert _incident(team).escalated_to == MGR
    # an outsider cannot take it; the manager can, once
    team.click(OUTSIDER, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel="D0OUT")
    team.slack.wait_for(lambda: any("can acknowledge" in (e.get("text") or "") for e in team.slack.ephemerals + team.slack.calls("chat.postMessage")),
                        what="the outsider told")
    team.click(MGR, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel="D0MGR")
    team.slack.wait_for(lambda: _incident(team).acknowledged_by == MGR, what="acknowledged")
    team.slack.wait_for(lambda: [u for u in team.slack.updates(CHANNEL, _incident(team).message_ts)
                                 if f"acknowledged by <@{MGR}>" in str(u["blocks"]) and f"escalated to <@{MGR}>" in str(u["blocks"])],
                        what="the message shows who was paged and who took it")
    team.click(ONCALL, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel="D0AAA")
    team.slack.wait_for(lambda: any("already acknowledged" in (e.get("text") or "") for e in team.slack.ephemerals), what="a second ack told")
    assert _incident(team).acknowledged_by == MGR


def test_an_acknowledged_incident_page_never_escalates(team):
    _declare_with_posts(team, texts=OUTAGE[:2])
    incident_flow.tick(team.rt)
    team.click(ONCALL, Action.INCIDENT_ACK, 0, value=incident_ref(1), channel="D0AAA")
    team.slack.wait_for(lambda: _incident(team).acknowledged_by == ONCALL, what="acknowledged")
    assert incident_flow.escalate_due(team.rt, utcnow() + timedelta(hours=2)) == 0
    assert _incident(team).escalated_at is None


# -- the rate chart -----------------------------------------------------------------


def _charts(stack) -> list[dict]:
    return [u for u in stack.slack.uploads.values() if u.get("completed") and u["filename"].startswith("incident-")]


def test_the_rate_chart_goes_to_the_thread_when_the_incident_opens_and_when_it_is_resolved_once_each(team):
    _declare_with_posts(team, texts=OUTAGE[:3])
    team.slack.fail("files.getUploadURLExternal", status=500)  # Slack fails the first try: the next tick uploads it
    incident_flow.tick(team.rt)
    assert _charts(team) == [] and _incident(team).chart_opened_at is None
    incident_flow.tick(team.rt)
    [opened] = team.slack.wait_for(lambda: _charts(team), what="the chart when it opened")
    assert opened["thread_ts"] == _incident(team).message_ts and opened["content"].startswith(b"\x89PNG")
    incident_flow.tick(team.rt)
    assert len(_charts(team)) == 1  # not on every edit
    assert _submit(team, AGENT, View.INCIDENT_RESOLVE, {}).status_code == 200
    team.slack.wait_for(lambda: len(_charts(team)) == 2, what="the chart when it was resolved")
    incident_flow.tick(team.rt)
    assert sorted(c["filename"] for c in _charts(team)) == ["incident-1-resolved.png", "incident-1.png"]


# -- pace within the network's limits ---------------------------------------------------


def test_one_429_holds_every_queued_reply_to_that_network_until_its_window_resets(team):
    from bot.domain import incidents
    from bot.flows import workflows

    more = [f"{text} (again)" for text in OUTAGE]
    tweets = _declare_with_posts(team, texts=[*OUTAGE, *more])
    team.x.set_limit("create_tweet", 4, window_seconds=2)  # X takes 4 writes per 2 s window, then says 429 until it resets
    assert _submit(team, AGENT, View.INCIDENT_ANSWER, {Block.REPLY.value: {"incident_draft": "We're fixing checkout now."}}).status_code == 200

    def all_sent() -> bool:
        workflows.process_outbox(team.rt)
        with team.rt.db.session() as session:
            return incidents.answer_progress(session, 1)["sent"] == len(tweets)
    team.slack.wait_for(all_sent, timeout=30, interval=0.2, what="every post answered")
    assert all(len(team.x.replies_to(t)) == 1 for t in tweets)
    # 10 replies through a 4-per-window limit cross two resets: a 429 or two each time, not one per queued reply
    assert team.x.limited.get("create_tweet", 0) <= 4, team.x.limited
