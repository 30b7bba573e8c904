"""Claim, Dismiss and the other non-sending buttons: the click is taken at once, the card edit runs on the background pool.

Bolt's listener threads acknowledge clicks; a slow or rate-limited Slack must not hold them.
The pool is filled on purpose: the change is stored, the card waits for the pool, then shows it.
"""
from __future__ import annotations

import threading

from bot.emulators import slack_client
from bot.emulators.stack import card_text
from bot.slack.ids import Action
from tests.helpers import case_of, open_case

COMPLAINT = "@acme my parcel has been lost for two weeks and nobody replies to my emails"
POOL = 4  # Runtime.background's workers


def _hold_the_pool(stack) -> threading.Event:
    gate, started = threading.Event(), threading.Semaphore(0)

    def busy() -> None:
        started.release()
        gate.wait(30)
    for _ in range(POOL):
        stack.rt.submit(busy)
    for _ in range(POOL):
        assert started.acquire(timeout=10)
    return gate


def test_claim_and_dismiss_are_stored_at_once_and_the_card_follows_from_the_background_pool(stack, customer):
    _, case = open_case(stack, COMPLAINT, customer=customer)
    card = stack.slack.wait_for(lambda: next(iter(stack.cards()), None), what="the card")
    edits = len(stack.slack.updates("C0CASES", card["ts"]))
    gate = _hold_the_pool(stack)
    try:
        assert stack.click("U0AGENT", Action.CLAIM, case.id).status_code == 200
        stack.slack.wait_for(lambda: case_of(stack).claimed_by == "U0AGENT", what="the claim stored")
        assert "is on it" not in card_text(stack.cards()[0]) and len(stack.slack.updates("C0CASES", card["ts"])) == edits
    finally:
        gate.set()
    stack.slack.wait_for(lambda: "is on it" in card_text(stack.cards()[0]), what="the card shows the claim")

    blocks = stack.cards()[0]["blocks"]
    menu = next(e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "static_select")
    gate = _hold_the_pool(stack)
    try:
        body = slack_client.block_actions("U0AGENT", Action.DISMISS, menu["options"][0]["value"], channel="C0CASES", message_ts=card["ts"],
                                          message_blocks=blocks)
        assert stack.send_to_slack_endpoint(body).status_code == 200
        stack.slack.wait_for(lambda: case_of(stack).status == "dismissed", what="the dismissal stored")
        assert "Dismissed" not in card_text(stack.cards()[0])
    finally:
        gate.set()
    stack.slack.wait_for(lambda: "Dismissed" in card_text(stack.cards()[0]), what="the card shows the dismissal")
