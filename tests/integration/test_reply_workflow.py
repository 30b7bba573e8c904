"""Approvals, the tone check, saved replies and the live length check, through real Slack HTTP."""
from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.config import ApprovalsConfig, FileConfig, RolesConfig, SavedReply
from bot.domain.saved_replies import fill
from bot.domain.tone import check_tone
from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL, card_text
from bot.slack.ids import INPUT, Action, Block, View
from storage import models as m
from tests.helpers import case_of, open_case

COMPLAINT = "@acme my parcel has been lost for two weeks and nobody replies to my emails"
APPROVALS = FileConfig(
    approvals=ApprovalsConfig(required="all"),
    roles=RolesConfig(agents=["U0AGENT"], approvers=["U0LEAD", "U0LEAD2"]),
)


def test_an_agents_reply_waits_for_an_approver_and_goes_out_once(make_stack):
    stack = make_stack(config=APPROVALS)
    tweet_id, case = open_case(stack, COMPLAINT)

    stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: "Hi Mo, so sorry. We're tracing the parcel now."})
    card = stack.slack.wait_for(lambda: next((c for c in stack.cards() if "Waiting for an approver" in card_text(c)), None), what="held card")
    assert "We're tracing the parcel now." in card_text(card)
    assert case_of(stack).status == "pending_approval" and stack.x.created == []

    stack.click("U0AGENT", Action.APPROVE, case.id)  # an agent cannot approve their own held draft
    stack.slack.wait_for(lambda: any("Only approvers" in e["text"] for e in stack.slack.ephemerals), what="refusal")
    assert stack.x.created == []

    clicks = [threading.Thread(target=stack.click, args=(who, Action.APPROVE, case.id)) for who in ("U0LEAD", "U0LEAD2")]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    stack.slack.wait_for(lambda: case_of(stack).status == "answered", what="answered")
    assert [r["text"] for r in stack.x.replies_to(tweet_id)] == ["Hi Mo, so sorry. We're tracing the parcel now."]
    assert case_of(stack).replies[-1].approved_by in ("U0LEAD", "U0LEAD2")


def test_an_approver_can_edit_then_approve_or_send_a_draft_back(make_stack):
    stack = make_stack(config=APPROVALS)
    tweet_id, case = open_case(stack, COMPLAINT)
    stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: "draft one"})
    stack.slack.wait_for(lambda: case_of(stack).status == "pending_approval")
    stack.click("U0LEAD", Action.REJECT, case.id)
    stack.slack.wait_for(lambda: case_of(stack).status == "open", what="sent back")
    stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: "draft two"})
    stack.slack.wait_for(lambda: case_of(stack).status == "pending_approval")
    stack.submit("U0LEAD", View.EDIT, case.id, {Block.REPLY: "Hi Mo, we're on it and will DM you today."})
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    assert [r["text"] for r in stack.x.replies_to(tweet_id)] == ["Hi Mo, we're on it and will DM you today."]
    stack.slack.wait_for(lambda: case_of(stack).status == "answered")
    statuses = sorted(r.status for r in case_of(stack).replies)
    assert statuses == ["rejected", "sent", "superseded"]


def test_approval_only_for_big_accounts(make_stack):
    config = FileConfig(approvals=ApprovalsConfig(required="big_accounts", min_followers=10_000), roles=RolesConfig(approvers=["U0LEAD"]))
    stack = make_stack(config=config)
    tweet_id, case = open_case(stack, COMPLAINT, followers=250_000)
    stack.click("U0AGENT", Action.APPROVE, case.id)
    stack.slack.wait_for(lambda: case_of(stack).status == "pending_approval", what="held for a big account")
    assert stack.x.created == []


def test_every_step_is_in_the_cards_thread_and_the_audit_log(make_stack):
    stack = make_stack(config=APPROVALS)
    tweet_id, case = open_case(stack, COMPLAINT)
    stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: "Hi Mo, we're on it."})
    stack.slack.wait_for(lambda: case_of(stack).status == "pending_approval")
    stack.click("U0LEAD", Action.APPROVE, case.id)
    stack.slack.wait_for(lambda: case_of(stack).status == "answered")
    card_ts = case_of(stack).card_ts
    thread = stack.slack.wait_for(lambda: len(stack.slack.thread(CHANNEL, card_ts)) >= 4 and stack.slack.thread(CHANNEL, card_ts), what="history")
    history = "\n".join(msg["text"] for msg in thread[1:])
    assert "<@U0AGENT> submitted a reply for approval" in history
    assert "<@U0LEAD> approved the draft" in history
    assert "replied publicly" in history
    with stack.rt.db.session() as session:
        actions = [e.action for e in session.scalars(select(m.AuditEvent).where(m.AuditEvent.case_id == case.id).order_by(m.AuditEvent.id))]
    assert actions == ["opened", "submitted_for_approval", "approved", "sent"]


def test_the_tone_check_points_things_out_without_blocking_a_deliberate_send(stack):
    tweet_id, case = open_case(stack, COMPLAINT)
    defensive = "As we already said, you should have read the FAQ. Calm down."
    first = stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: defensive})
    error = first.json()["errors"][Block.REPLY]
    assert "as we already said" in error.lower() and "Send as written" in error
    assert stack.x.created == []
    body = slack_client.view_submission(
        "U0AGENT", View.EDIT, f'{{"v":1,"case":{case.id}}}',
        {Block.REPLY: {INPUT: defensive}, Block.SEND_ANYWAY: {"anyway": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}}},
    )
    assert stack.send_to_slack_endpoint(body).status_code == 200
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))


def test_typing_updates_the_live_length_and_tone_check(stack):
    tweet_id, case = open_case(stack, COMPLAINT)
    stack.click("U0AGENT", Action.EDIT, case.id)
    view = stack.slack.wait_for(lambda: stack.slack.opened_views)[-1]
    check = next(b for b in view["blocks"] if b.get("block_id") == Block.CHECK)
    assert "/280 characters" in card_text({"blocks": [check]})
    saved_menu = next(e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert saved_menu["action_id"] == Action.PICK_SAVED

    long_text = "日本語 " * 80
    payload = _view_action(view, INPUT, {"type": "plain_text_input", "action_id": INPUT, "value": long_text})
    stack.send_to_slack_endpoint(payload)
    updated = stack.slack.wait_for(lambda: stack.slack.calls("views.update"), what="views.update")[-1]["view"]
    text = card_text(updated)
    assert "too long for a public reply" in text and "/280" in text

    pick = _view_action(view, Action.PICK_SAVED, {"type": "static_select", "action_id": Action.PICK_SAVED, "selected_option": {"value": "0", "text": {"type": "plain_text", "text": "x"}}})
    stack.send_to_slack_endpoint(pick)
    updated = stack.slack.wait_for(lambda: len(stack.slack.calls("views.update")) >= 2 and stack.slack.calls("views.update"))[-1]["view"]
    reply_block = next(b for b in updated["blocks"] if b.get("block_id", "").startswith("reply~"))
    assert reply_block["element"]["initial_value"].startswith("Hi Mo,")


def _view_action(view: dict, action_id: str, action: dict) -> bytes:
    import json
    import time
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions",
        "user": {"id": "U0AGENT", "username": "agent", "name": "agent", "team_id": "T0001"},
        "api_app_id": "A0001", "token": "legacy", "trigger_id": "1.2.3",
        "team": {"id": "T0001", "domain": "acme"},
        "container": {"type": "view", "view_id": view["id"]},
        "view": {**view, "state": {"values": {}}},
        "actions": [{**action, "block_id": "b", "action_ts": str(time.time())}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_saved_replies_fill_placeholders():
    assert fill("Hi {first_name} ({handle})", name="Mo Farah", handle="mo") == "Hi Mo (@mo)"
    assert fill("Hi {first_name}, {unknown}", name="") == "Hi there, {unknown}"
    assert fill("Hi {", name="Mo") == "Hi {"


def test_configured_saved_replies_replace_the_defaults(make_stack):
    stack = make_stack(config=FileConfig(saved_replies=[SavedReply(name="Ours", text="Hello {name}!")]))
    tweet_id, case = open_case(stack, COMPLAINT)
    stack.click("U0AGENT", Action.EDIT, case.id)
    view = stack.slack.wait_for(lambda: stack.slack.opened_views)[-1]
    menu = next(e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert [o["text"]["text"] for o in menu["options"]] == ["Ours"]


def test_tone_rules():
    assert check_tone("Hi Sam, sorry about that. We've refunded you.") == []
    phrases = [f.phrase.lower() for f in check_tone("YOU NEED TO READ THE FAQ!!!")]
    assert "you need to" in phrases and "!!!" in phrases
    assert check_tone("THIS IS NOT OK AT ALL")


def test_a_similar_complaint_offers_what_the_team_sent_last_time(stack):
    tweet_id, case = open_case(stack, COMPLAINT)
    sent = "Hi Mo, we've found your parcel at the depot and it's out for delivery today."
    stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: sent})
    stack.slack.wait_for(lambda: case_of(stack).status == "answered")
    other = stack.x.add_user(username="kim", name="Kim", followers=3)
    stack.x.add_tweet("@acme my parcel has been lost for a week and nobody replies to my emails", other)
    stack.poll()
    with stack.rt.db.session() as session:
        second = session.scalars(select(m.Case).options(selectinload(m.Case.posts)).order_by(m.Case.id.desc())).first()
    assert second.alternative_reply == sent
    card = next(c for c in stack.cards() if c["ts"] == second.card_ts)
    assert "Sent for a similar case" in card_text(card) and "out for delivery today" in card_text(card)
    stack.click("U0AGENT", Action.EDIT, second.id)
    view = stack.slack.wait_for(lambda: stack.slack.opened_views)[-1]
    menu = next(e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert menu["options"][0]["text"]["text"] == "Sent for a similar case"


def test_a_stale_claim_is_released_so_the_case_shows_as_waiting_again(make_stack, clock):
    from datetime import timedelta

    from bot.flows import workflows
    from bot.config import WorkflowConfig

    stack = make_stack(config=FileConfig(workflow=WorkflowConfig(claim_timeout=timedelta(hours=1))))
    tweet_id, case = open_case(stack, COMPLAINT)
    stack.click("U0AGENT", Action.CLAIM, case.id)
    stack.slack.wait_for(lambda: case_of(stack).claimed_by == "U0AGENT")
    assert workflows.release_stale_claims(stack.rt) == 0
    clock.shift(2 * 3600)
    assert workflows.release_stale_claims(stack.rt) == 1
    assert case_of(stack).claimed_by is None
    # The claim's own card edit may still be under way: its holder edits once more after letting go.
    stack.slack.wait_for(lambda: "Claim" in [e["text"]["text"] for b in stack.cards()[0]["blocks"] if b["type"] == "actions"
                                             for e in b["elements"] if e["type"] == "button"], timeout=10, what="the Claim button back")


def test_praise_gets_a_light_card_and_one_click_thanks(stack):
    fan = stack.x.add_user(username="fan", name="Ada Lovelace", followers=40)
    tweet_id = stack.x.add_tweet("@acme thank you so much, the staff were wonderful today!", fan)
    stack.poll()
    case = case_of(stack)
    assert case.category == "praise" and case.priority == "low"
    labels = [e["text"]["text"] for b in stack.cards()[0]["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]
    assert labels == ["Say thanks", "Edit"]
    stack.click("U0AGENT", Action.APPROVE, case.id)
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    assert stack.x.replies_to(tweet_id)[0]["text"].startswith("Thank you, Ada!")
