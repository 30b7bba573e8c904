"""Incidents end to end over real HTTP: a declared or detected incident gets one message, not a card per post."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from bot.flows import incidents as incident_flow
from bot.config import FileConfig, IncidentsConfig, OncallConfig
from bot.emulators.stack import CHANNEL, card_text
from bot.slack import pacing
from bot.slack.ids import Action, incident_ref
from storage import models as m

AGENT, ONCALL = "U0AGENT", "U01AAA"
OUTAGE = [
    "@acme checkout is broken", "@acme can't pay, error 500 at checkout", "@acme is the site down?? checkout won't load",
    "@acme checkout keeps failing with error 500", "@acme error 500 when I try to pay at checkout", "@acme checkout down for everyone?",
    "@acme checkout error again", "@acme checkout broken, error 500",
]


def _config(**incident_keys) -> FileConfig:
    keys = dict(min_posts=5, batch_every="1s", update_every="1s")
    keys.update(incident_keys)
    return FileConfig(incidents=IncidentsConfig(**keys),
                      oncall=OncallConfig(members=[ONCALL], handoff="09:00", rotation="weekly", timezone="UTC"))


@pytest.fixture
def team(make_stack):
    stack = make_stack(config=_config())
    stack.slack.add_user(ONCALL, "alice", "Alice")
    return stack


def _tweet(stack, text: str, i: int, followers: int = 10) -> str:
    user = stack.x.add_user(username=f"person{i}", name=f"Person {i}", followers=followers)
    return stack.x.add_tweet(text, user)


def _incident_messages(stack) -> list[dict]:
    return [msg for msg in stack.slack.messages(CHANNEL)
            if (msg.get("metadata") or {}).get("event_type") == "socialdesk_message" and "Incident #" in card_text(msg)]


def _incident(stack, incident_id: int = 1) -> m.Incident:
    with stack.rt.db.session() as session:
        return session.get(m.Incident, incident_id)


def _cases_in(stack, incident_id: int = 1) -> int:
    with stack.rt.db.session() as session:
        return session.scalar(select(func.count(m.Case.id)).where(m.Case.incident_id == incident_id))


def test_a_declared_incident_takes_the_posts_about_it_and_leaves_the_rest_as_cards(team):
    response = team.command(AGENT, "incident start checkout down")
    assert "started incident #1" in response.json()["text"]
    [message] = team.slack.wait_for(lambda: _incident_messages(team), what="the incident message")
    assert "checkout down" in card_text(message) and "Resolve" in str(message["blocks"])
    for i, text in enumerate(OUTAGE):
        _tweet(team, text, i)
    _tweet(team, "@acme my order never arrived and I want a refund", 50)
    _tweet(team, "@acme checkout is broken and the charger you sold me caught fire and burned my hand", 51, followers=5)
    team.poll()
    cards = [c for c in team.cards() if c["ts"] != message["ts"]]
    texts = [card_text(c) for c in cards]
    assert len(cards) == 2, texts  # the unrelated complaint, and the safety one that must keep its own card
    assert any("never arrived" in t for t in texts) and any("caught fire" in t for t in texts)
    assert _cases_in(team) == len(OUTAGE)
    incident_flow.tick(team.rt)
    thread = team.slack.wait_for(lambda: [r for r in team.slack.thread(CHANNEL, message["ts"]) if r["ts"] != message["ts"] and not r.get("upload")],
                                 what="a batch")
    assert len(thread) == 1  # one batch for eight posts, not eight messages (the rate chart is uploaded beside it)
    assert "8 new posts" in card_text(thread[0])
    incident_flow.refresh_due(team.rt, force=1)  # the job edits it at most every update_every; here, now
    team.slack.wait_for(lambda: [u for u in team.slack.updates(CHANNEL, message["ts"]) if "*8* posts from *8* people" in str(u["blocks"])],
                        what="the incident message edited to show all eight")
    # nobody was paged per post; one page for the incident
    dms = [c for c in team.slack.calls("chat.postMessage") if str(c.get("channel", "")).startswith("D")]
    assert len(dms) == 1 and "incident #1" in dms[0]["text"]
    incident_flow.tick(team.rt)
    assert len([c for c in team.slack.calls("chat.postMessage") if str(c.get("channel", "")).startswith("D")]) == 1


def test_a_spike_opens_an_incident_for_the_posts_still_waiting_for_a_card(team):
    pacing.hold(team.rt.db, CHANNEL, 60)  # Slack is busy: the cards are still queued when the spike is seen
    for i, text in enumerate(OUTAGE):
        _tweet(team, text, i)
    _tweet(team, "@acme where is my parcel, tracking hasn't moved in a week", 60)
    team.poll()
    assert team.cards() == []
    incident_flow.tick(team.rt)
    incident = _incident(team)
    assert incident.origin == "spike" and "checkout" in incident.title
    assert _cases_in(team) == len(OUTAGE)
    with team.rt.db.session() as session:
        row = session.get(m.SlackChannel, CHANNEL)
        row.not_before, row.refilled_at = None, datetime.now(timezone.utc) - timedelta(seconds=30)
    team.rt.publisher.deliver_pending()
    team.slack.wait_for(lambda: len(team.slack.messages(CHANNEL)) >= 2, what="the incident message and the parcel card")
    first = team.slack.messages(CHANNEL)[0]
    assert "Incident #1" in card_text(first)  # the incident goes first
    assert len(team.cards()) == 2  # the incident message and the one unrelated card, not nine cards
    # the cooldown: a second wave right after opens no second incident
    for i, text in enumerate(OUTAGE):
        _tweet(team, text.replace("@acme", "@acme again"), 100 + i)
    team.poll()
    incident_flow.tick(team.rt)
    with team.rt.db.session() as session:
        assert session.scalar(select(func.count(m.Incident.id))) == 1
    assert _cases_in(team) == 2 * len(OUTAGE)  # they joined the open incident


def test_moving_a_post_out_gives_it_a_card_and_resolve_closes_the_incident(team):
    team.command(AGENT, "incident start checkout down")
    [message] = team.slack.wait_for(lambda: _incident_messages(team), what="the incident message")
    for i, text in enumerate(OUTAGE[:3]):
        _tweet(team, text, i)
    team.poll()
    assert _cases_in(team) == 3
    with team.rt.db.session() as session:
        case_id = session.scalar(select(m.Case.id).where(m.Case.incident_id == 1).order_by(m.Case.id))
    team.click(AGENT, Action.INCIDENT_MOVE_OUT, case_id)
    team.slack.wait_for(lambda: any(c["ts"] != message["ts"] for c in team.cards()), what="its own card")
    assert _cases_in(team) == 2
    team.click(AGENT, Action.INCIDENT_RESOLVE, 0, value=incident_ref(1), trigger_id="t0")
    team.slack.wait_for(lambda: team.slack.opened_views, what="the resolve modal")
    from bot.emulators.slack_client import view_submission
    from bot.slack.ids import View
    assert team.send_to_slack_endpoint(view_submission(AGENT, View.INCIDENT_RESOLVE.value, incident_ref(1), {})).status_code == 200
    team.slack.wait_for(lambda: _incident(team).status == "resolved", what="resolved")
    edited = team.slack.wait_for(lambda: [u for u in team.slack.updates(CHANNEL, message["ts"]) if "resolved" in str(u["blocks"])], what="shown resolved")
    assert "Resolve" not in str([e for b in edited[-1]["blocks"] if b["type"] == "actions" for e in b["elements"]])
    _tweet(team, OUTAGE[4], 40)
    team.poll()
    assert _cases_in(team) == 2  # closed: new posts get cards again
    assert "is resolved" in team.command(AGENT, "incident resolve 1").json()["text"]


def test_merge_and_split_move_posts_between_incidents(team):
    team.command(AGENT, "incident start checkout down")
    team.command(AGENT, "incident start login broken")
    team.slack.wait_for(lambda: len(_incident_messages(team)) == 2, what="two incident messages")
    for i, text in enumerate(OUTAGE[:4]):
        _tweet(team, text, i)
    _tweet(team, "@acme login broken on the app", 20)
    team.poll()
    assert (_cases_in(team, 1), _cases_in(team, 2)) == (4, 1)
    assert "merged incident #2 into #1" in team.command(AGENT, "incident merge 2 into 1").json()["text"]
    assert (_cases_in(team, 1), _cases_in(team, 2), _incident(team, 2).status) == (5, 0, "merged")
    response = team.command(AGENT, "incident split 1 login")
    assert "are now incident #3" in response.json()["text"]
    assert (_cases_in(team, 1), _cases_in(team, 3)) == (4, 1)
    assert "no post" in team.command(AGENT, "incident split 1 refund").json()["text"]
    assert "not an incident number" in team.command(AGENT, "incident resolve x").json()["text"]
    listing = team.command(AGENT, "incident list").json()["text"]
    assert "#1" in listing and "#3" in listing and "#2" not in listing


def test_one_answer_reaches_every_post_once_and_a_later_word_from_the_author_opens_a_case(team):
    from bot.emulators.slack_client import view_submission
    from bot.slack.ids import Block, View

    team.command(AGENT, "incident start checkout down")
    [message] = team.slack.wait_for(lambda: _incident_messages(team), what="the incident message")
    tweets = [_tweet(team, text, i) for i, text in enumerate(OUTAGE[:5])]
    team.poll()
    assert _cases_in(team) == 5
    team.click(AGENT, Action.INCIDENT_ANSWER, 0, value=incident_ref(1), trigger_id="t1")
    modal = team.slack.wait_for(lambda: team.slack.opened_views, what="the answer modal")[-1]
    assert "*X* · 5 replies" in card_text(modal)

    def submit(text: str):
        body = view_submission(AGENT, View.INCIDENT_ANSWER.value, incident_ref(1), {Block.REPLY.value: {"text": text}})
        return team.send_to_slack_endpoint(body)

    assert "empty" in str(submit("   ").json()["errors"])  # (a long answer goes by DM: tests/integration/test_incident_long_answer.py)
    answer = "We know checkout is down and are fixing it now. Updates here: acme.example/status"
    assert submit(answer).status_code == 200
    for tweet_id in tweets:
        team.x.wait_for(lambda tweet_id=tweet_id: team.x.replies_to(tweet_id), what="a reply on X")
    again = submit(answer)  # a second click reaches nobody twice
    assert "answered already" in str(again.json()["errors"])
    assert all(len(team.x.replies_to(t)) == 1 and team.x.replies_to(t)[0]["text"].endswith(answer) for t in tweets)
    edited = team.slack.wait_for(lambda: [u for u in team.slack.updates(CHANNEL, message["ts"]) if "*5* sent" in str(u["blocks"])],
                                 what="progress on the incident message")
    assert edited
    # the first author writes again in the same thread: a case of their own, with a card
    author = team.x.add_user(username="person0b", name="Person 0")
    first = team.x.add_tweet(OUTAGE[5], author)
    team.poll()
    team.slack.wait_for(lambda: _cases_in(team) == 6, what="a sixth post joins")
    with team.rt.db.session() as session:
        session.execute(update(m.Case).where(m.Case.incident_id == 1, m.Case.status == "open").values(status="answered"))
    team.x.add_tweet("@acme still can't pay, it took my money twice", author, in_reply_to=first)
    team.poll()
    texts = [card_text(c) for c in team.cards() if c["ts"] != message["ts"]]
    assert any("took my money twice" in t for t in texts), texts


def test_status_updates_go_out_once_on_x_and_the_page_with_a_reminder_when_quiet_and_a_final_one(team):
    from bot.clock import utcnow
    from bot.emulators.slack_client import view_submission
    from bot.slack.ids import Block, View

    team.command(AGENT, "incident start checkout down")
    [message] = team.slack.wait_for(lambda: _incident_messages(team), what="the incident message")
    team.slack.wait_for(lambda: _incident(team).message_ts, what="the message stored")
    # quiet for too long: one reminder in the thread, not one per tick
    later = utcnow() + timedelta(minutes=31)
    assert incident_flow.remind(team.rt, later) == 1
    assert incident_flow.remind(team.rt, later + timedelta(minutes=1)) == 0
    team.slack.wait_for(lambda: any("No public status update" in (r.get("text") or "") for r in team.slack.thread(CHANNEL, message["ts"])),
                        what="the reminder")
    team.click(AGENT, Action.INCIDENT_STATUS, 0, value=incident_ref(1), trigger_id="t2")
    modal = team.slack.wait_for(lambda: team.slack.opened_views, what="the status modal")[-1]
    assert "Facebook and X" in card_text(modal)
    update = "We know checkout is down and are on it. Next update within 30 minutes."
    body = view_submission(AGENT, View.INCIDENT_STATUS.value, incident_ref(1), {Block.REPLY.value: {"text": update}})
    assert team.send_to_slack_endpoint(body).status_code == 200
    team.x.wait_for(lambda: [t for t in team.x.tweets_by_brand() if t["text"] == update], what="the update on X")
    team.graph.wait_for(lambda: team.graph.received("publish"), what="the update on the Page")
    team.slack.wait_for(lambda: sum("posted a status update" in (r.get("text") or "") for r in team.slack.thread(CHANNEL, message["ts"])) == 2,
                        what="where it went, in the thread")
    assert _incident(team).first_status_at is not None
    team.slack.wait_for(lambda: [u for u in team.slack.updates(CHANNEL, message["ts"]) if "Last public update" in str(u["blocks"])],
                        what="the incident message shows it")
    response = team.command(AGENT, "incident resolve 1 Checkout works again. Sorry for the trouble!")
    assert "final update goes out" in response.json()["text"]
    team.x.wait_for(lambda: [t for t in team.x.tweets_by_brand() if t["text"].startswith("Checkout works again")], what="the final update")
    assert _incident(team).status == "resolved"
    assert len(team.x.tweets_by_brand()) == 2 and len(team.graph.received("publish")) == 2


def test_the_answer_for_all_survives_a_restart_and_never_resends_a_post_cut_off_mid_send(team):
    from datetime import timedelta as td

    from bot.domain import incidents
    from bot.flows import workflows
    from handlers.incidents import limits

    team.command(AGENT, "incident start checkout down")
    team.slack.wait_for(lambda: _incident(team).message_ts, what="the incident message")
    tweets = [_tweet(team, text, i) for i, text in enumerate(OUTAGE[:6])]
    team.poll()
    with team.rt.db.session() as session:
        plan = incidents.answer_all(session, 1, "We're fixing checkout right now.", AGENT, limits(team.rt))
    assert len(plan.eligible) == 6
    with team.rt.db.session() as session:  # the bot died while sending one of them: X may or may not have it
        cut = session.scalars(select(m.Reply).order_by(m.Reply.id)).first()
        cut.status, cut.next_attempt_at = "sending", datetime.now(timezone.utc) - td(minutes=10)
    team.restart()
    while workflows.process_outbox(team.rt):
        pass
    replied = [t for t in tweets if team.x.replies_to(t)]
    assert len(replied) == 5 and all(len(team.x.replies_to(t)) <= 1 for t in tweets)  # nobody twice, the cut one not resent
    with team.rt.db.session() as session:
        assert incidents.answer_progress(session, 1) == {"sent": 5, "queued": 0, "failed": 1}
        assert incidents.retry_failed(session, 1, AGENT) == 1  # a person checked X and decides to send it
    while workflows.process_outbox(team.rt):
        pass
    assert all(len(team.x.replies_to(t)) == 1 for t in tweets)
