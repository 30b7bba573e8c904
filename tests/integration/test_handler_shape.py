"""One handler shape: what fails on our side shows the person a reference that is also in the log."""
from __future__ import annotations

import logging
import re

from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL
from bot.slack.ids import Action

COMPLAINT = "@acme my parcel has been lost for two weeks and nobody replies to my emails"


def _card_with_case(stack):
    customer = stack.x.add_user(username="mo", name="Mo Farah", followers=10)
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    return stack.slack.wait_for(lambda: next(iter(stack.cards()), None), what="the card")


def _button(card: dict, action: Action) -> dict:
    return next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("action_id") == action)


def test_a_failure_in_a_card_listener_shows_the_reference_the_log_has(stack, caplog):
    card = _card_with_case(stack)
    stack.slack.fail("views.open", status=200, body={"ok": False, "error": "internal_error"})
    body = slack_client.block_actions("U0AGENT", Action.EDIT, _button(card, Action.EDIT)["value"], channel=CHANNEL,
                                      message_ts=card["ts"], message_blocks=card["blocks"], trigger_id="trigger-1")
    with caplog.at_level(logging.ERROR, logger="handlers.middleware"):
        assert stack.send_to_slack_endpoint(body).status_code == 200
        note = stack.slack.wait_for(lambda: next((e for e in stack.slack.ephemerals if "ref `" in e["text"]), None), what="the note")
        ref = re.search(r"ref `(\w+)`", note["text"]).group(1)
        stack.slack.wait_for(lambda: any(ref in r.getMessage() and r.exc_info for r in caplog.records), what="the logged trace")
    assert note["user"] == "U0AGENT" and note["channel"] == CHANNEL


def test_background_work_that_fails_is_logged_with_the_reference_the_person_gets(stack, caplog):
    told: list[str] = []

    def count_the_numbers() -> None:
        raise RuntimeError("the database went away")

    with caplog.at_level(logging.ERROR, logger="bot.runtime"):
        assert stack.rt.submit(count_the_numbers, on_failure=told.append).result(timeout=10) is None
    [ref] = told
    [record] = [r for r in caplog.records if ref in r.getMessage()]
    assert "count_the_numbers" in record.getMessage() and record.exc_info[0] is RuntimeError


def test_background_work_that_succeeds_returns_its_result(stack):
    assert stack.rt.submit(lambda a, b=0: a + b, 2, b=3).result(timeout=10) == 5
