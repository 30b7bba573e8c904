"""Edit and Move to DM through real modals, roles, and bad input from Slack."""
from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.config import FileConfig, RolesConfig
from bot.emulators.stack import card_text
from bot.slack.ids import Action, Block, View
from storage import models as m
from tests.helpers import case_of, open_case

COMPLAINT = "@acme I was charged twice for one order, please fix this"


def test_edit_opens_a_modal_with_the_draft_and_sends_exactly_what_was_submitted(stack, customer):
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    stack.click("U0AGENT", Action.EDIT, case.id)
    view = stack.slack.wait_for(lambda: stack.slack.opened_views, what="views.open")[-1]
    assert view["callback_id"] == View.EDIT
    draft = next(b for b in view["blocks"] if b.get("block_id") == Block.REPLY)["element"]["initial_value"]
    assert draft == case.suggested_reply
    assert "charged twice" in card_text(view)

    edited = "Hi Jordan, so sorry about the double charge 😞 we've refunded it — it shows in 3-5 days."
    response = stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: edited})

    assert response.status_code == 200 and response.text in ("", "null")
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    assert stack.x.replies_to(tweet_id)[0]["text"] == edited


def test_edit_refuses_empty_and_over_long_replies_with_field_errors(stack, customer):
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    empty = stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: "   "})
    too_long = stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: "日本" * 71})  # 284 weighted
    assert empty.json()["response_action"] == "errors" and Block.REPLY in empty.json()["errors"]
    error = too_long.json()["errors"][Block.REPLY]
    assert "284/280" in error and "Move to DM" in error
    assert stack.x.created == [] and case_of(stack).status == "open"


def test_move_to_dm_sends_the_dm_then_the_short_public_reply(stack, customer):
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    stack.click("U0AGENT", Action.MOVE_TO_DM, case.id)
    view = stack.slack.wait_for(lambda: stack.slack.opened_views)[-1]
    assert view["callback_id"] == View.MOVE_TO_DM
    private = "Hi Jordan, here is the full story about the refund... " * 10
    stack.submit("U0AGENT", View.MOVE_TO_DM, case.id, {Block.PUBLIC: "Sorry! We've sent you a DM.", Block.PRIVATE: private})
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    assert [dm["text"] for dm in stack.x.dms] == [private.strip()]
    assert stack.x.replies_to(tweet_id)[0]["text"] == "Sorry! We've sent you a DM."
    stack.slack.wait_for(lambda: case_of(stack).status == "answered", what="answered")


def test_closed_dms_send_nothing_public_and_the_card_says_why(stack):
    closed = stack.x.add_user(username="private_person", dms_open=False)
    tweet_id, case = open_case(stack, COMPLAINT, customer=closed)
    stack.submit("U0AGENT", View.MOVE_TO_DM, case.id, {Block.PUBLIC: "We've sent you a DM.", Block.PRIVATE: "Details..."})
    card = stack.slack.wait_for(lambda: next((c for c in stack.cards() if "Not sent" in card_text(c)), None), what="failure on card")
    assert "Direct Message" in card_text(card) and "Edit* sends a public reply instead" in card_text(card)
    assert stack.x.replies_to(tweet_id) == [] and stack.x.dms == []
    stack.click("U0AGENT", Action.EDIT, case.id)
    draft = stack.slack.wait_for(lambda: stack.slack.opened_views)[-1]
    reply = next(b for b in draft["blocks"] if b.get("block_id") == Block.REPLY)["element"]["initial_value"]
    assert reply == case.suggested_reply  # not the "we've sent you a DM" line that never went out


def test_people_not_allowed_to_answer_get_told_and_nothing_is_sent(make_stack):
    stack = make_stack(config=FileConfig(roles=RolesConfig(agents=["U0AGENT"])))
    customer = stack.x.add_user(username="jo", followers=5)
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    stack.click("U0INTRUDER", Action.APPROVE, case.id)
    stack.slack.wait_for(lambda: stack.slack.ephemerals, what="refusal")
    modal = stack.submit("U0INTRUDER", View.EDIT, case.id, {Block.REPLY: "hello"})
    assert "not allowed" in modal.json()["errors"][Block.REPLY]
    assert "not on the list" in stack.slack.ephemerals[0]["text"]
    assert stack.x.created == [] and case_of(stack).status == "open"


def test_a_modal_for_a_case_closed_meanwhile_changes_nothing(stack, customer):
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    stack.click("U0AGENT", Action.APPROVE, case.id)
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    stack.slack.wait_for(lambda: case_of(stack).status == "answered")
    late = stack.submit("U0OTHER", View.EDIT, case.id, {Block.REPLY: "late answer"})
    assert "already answered" in late.json()["errors"][Block.REPLY]
    assert len(stack.x.created) == 1


def test_buttons_and_modals_from_an_old_bot_version_are_refused_politely(stack, customer):
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    stack.click("U0AGENT", Action.APPROVE, case.id, value="complaint-42")
    stack.slack.wait_for(lambda: stack.slack.ephemerals)
    assert "older version" in stack.slack.ephemerals[0]["text"]
    old_modal = stack.submit("U0AGENT", View.EDIT, case.id, {Block.REPLY: "hi"}, metadata='{"complaint_id": 42}')
    assert "older version" in old_modal.json()["errors"][Block.REPLY]
    assert stack.x.created == []


def test_claim_and_dismiss_show_on_the_card(stack, customer):
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    stack.click("U0AGENT", Action.CLAIM, case.id)
    stack.slack.wait_for(lambda: "is on it" in card_text(stack.cards()[0]), what="claimed card")
    from bot.emulators import slack_client

    blocks = stack.cards()[0]["blocks"]
    menu = next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "static_select")
    body = slack_client.block_actions(
        "U0AGENT", Action.DISMISS, menu["options"][0]["value"], channel="C0CASES", message_ts="1.0", message_blocks=blocks
    )
    stack.send_to_slack_endpoint(body)
    stack.slack.wait_for(lambda: "Dismissed" in card_text(stack.cards()[0]), what="dismissed card")
    assert case_of(stack).status == "dismissed" and stack.x.created == []


def test_slash_command_help_lists_the_subcommands(stack):
    response = stack.command("U0AGENT", "help")
    assert response.status_code == 200
    text = response.json()["text"]
    for sub in ("help", "stats", "oncall"):
        assert f"/socialdesk {sub}" in text


def test_app_home_shows_the_persons_cases(stack, customer):
    from bot.emulators import slack_client

    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    stack.click("U0AGENT", Action.CLAIM, case.id)
    stack.slack.wait_for(lambda: case_of(stack).claimed_by == "U0AGENT")
    stack.send_to_slack_endpoint(slack_client.event_callback({"type": "app_home_opened", "user": "U0AGENT", "channel": "D1", "tab": "home"}))
    home = stack.slack.wait_for(lambda: stack.slack.home_views.get("U0AGENT"), what="home published")
    assert "Your cases* (1)" in card_text(home)


def test_slack_event_retries_are_acknowledged_without_doing_the_work_twice(stack):
    from bot.emulators import slack_client

    body = slack_client.event_callback({"type": "app_home_opened", "user": "U0AGENT", "channel": "D1", "tab": "home"})
    retried = stack.send_to_slack_endpoint(body, retry_num=1)
    assert retried.status_code == 200 and retried.headers.get("x-slack-no-retry") == "1"
    first = stack.send_to_slack_endpoint(body)
    assert first.status_code == 200
    stack.slack.wait_for(lambda: stack.slack.home_views.get("U0AGENT"), what="home published once")
    assert len(stack.slack.calls("views.publish")) == 1


def test_url_verification_is_answered(stack):
    from bot.emulators import slack_client

    response = stack.send_to_slack_endpoint(slack_client.url_verification("challenge-123"))
    assert response.json() == {"challenge": "challenge-123"}


def test_a_dismiss_reason_that_is_not_on_the_menu_is_refused(stack, customer):
    tweet_id, case = open_case(stack, COMPLAINT, customer=customer)
    from bot.emulators import slack_client

    forged = json.dumps({"v": 1, "case": case.id, "reason": "<script>"}, separators=(",", ":"))
    card = stack.cards()[0]["blocks"]
    body = slack_client.block_actions("U0AGENT", Action.DISMISS, forged, channel="C0CASES", message_ts="1.0", message_blocks=card)
    stack.send_to_slack_endpoint(body)
    stack.slack.wait_for(lambda: stack.slack.ephemerals, what="refusal")
    assert "not one socialdesk knows" in stack.slack.ephemerals[-1]["text"]
    assert case_of(stack).status == "open" and case_of(stack).dismissed_reason is None
