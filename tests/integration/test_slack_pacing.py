"""Slack stays usable: the emulated Slack limits each channel, and the product paces itself under it.

Rates are raised (20 messages/s instead of 1) so the tests are fast; the mechanism is the same.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select

from bot.flows import workflows
from bot.emulators.slack import SlackEmulator
from bot.emulators.stack import CHANNEL
from bot.slack import pacing
from bot.slack.publisher import Publisher
from storage import models as m

FAST = 20.0


def _fast(stack, burst: int = 3) -> None:
    """As in production, our burst stays two messages under Slack's, so network jitter never costs a 429."""
    stack.slack.post_rate, stack.slack.post_burst = FAST, burst + 2
    stack.rt.publisher.rate, stack.rt.publisher.burst = FAST, burst


def _unhold(stack) -> None:
    """The channel's Retry-After has passed (without waiting for it)."""
    with stack.rt.db.session() as session:
        row = session.get(m.SlackChannel, CHANNEL)
        row.not_before, row.refilled_at, row.tokens = None, datetime.now(timezone.utc), 0.0


def _complaints(stack, n: int, text: str = "@acme my order {i} never arrived, I want a refund") -> None:
    for i in range(n):
        user = stack.x.add_user(username=f"buyer{i}", name=f"Buyer {i}", followers=10 + i)
        stack.x.add_tweet(text.format(i=i), user)


def _post_ids_in_slack(stack) -> list[int]:
    return [msg["metadata"]["event_payload"]["post_id"] for msg in stack.slack.messages(CHANNEL)
            if (msg.get("metadata") or {}).get("event_type") == "socialdesk_post"]


def _count(stack, model, *where) -> int:
    with stack.rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_emulated_slack_answers_429_with_retry_after_past_a_burst():
    with SlackEmulator(post_rate=1.0, post_burst=3) as slack:
        client = WebClient(token=slack.token, base_url=slack.api_url, retry_handlers=[])
        for i in range(3):
            client.chat_postMessage(channel="C1", text=f"burst {i}")
        client.chat_postMessage(channel="C2", text="another channel has its own budget")
        try:
            client.chat_postMessage(channel="C1", text="one too many")
            raise AssertionError("the fourth message in a second went through")
        except SlackApiError as exc:
            assert exc.response.status_code == 429
            assert exc.response["error"] == "ratelimited"
            assert int(exc.response.headers["Retry-After"]) >= 1
        assert slack.early_retries == 0
        try:
            client.chat_postMessage(channel="C1", text="retrying before Retry-After")
        except SlackApiError:
            pass
        assert slack.early_retries == 1  # a retry storm is visible
        assert len(slack.messages("C1")) == 3


def test_a_backlog_goes_out_paced_most_urgent_first_with_no_429(stack):
    _fast(stack)
    pacing.hold(stack.rt.db, CHANNEL, 60)  # the channel is busy: everything queues first
    _complaints(stack, 12)
    urgent = stack.x.add_user(username="bigvoice", name="Big Voice", followers=900_000)
    stack.x.add_tweet("@acme your charger caught fire and burned my hand, this is dangerous", urgent)
    stack.poll()
    assert stack.cards() == []
    _unhold(stack)
    started = time.monotonic()
    workflows.deliver(stack.rt, max_wait=10)
    stack.slack.wait_for(lambda: len(stack.cards()) == 13, what="every card")
    elapsed = time.monotonic() - started
    assert sorted(_post_ids_in_slack(stack)) == sorted(set(_post_ids_in_slack(stack)))
    assert stack.slack.rate_limited == []
    assert elapsed >= 13 / FAST * 0.8  # paced: the bucket starts empty after a hold
    with stack.rt.db.session() as session:
        first = session.scalar(select(m.Case.priority).where(m.Case.card_ts == stack.cards()[0]["ts"]))
    assert first in ("urgent", "high")


def test_retry_after_is_honoured_by_every_sender(stack):
    _fast(stack, burst=5)
    _complaints(stack, 4)
    stack.slack.fail("chat.postMessage", status=429, headers={"Retry-After": "1"})
    stack.poll()  # one 429: the channel is held for a second for everyone
    assert stack.cards() == []
    held_at = time.monotonic()
    other = Publisher(stack.rt.publisher.client, stack.rt.db, rate=FAST, burst=5)  # as if in a second process
    assert other.deliver_pending() == 0
    assert stack.rt.publisher.deliver_pending() == 0
    workflows.deliver(stack.rt, max_wait=5)
    stack.slack.wait_for(lambda: len(stack.cards()) == 4, what="four cards")
    calls = stack.slack.received("chat.postMessage")
    assert len(calls) - len(stack.slack.rate_limited) == 5  # the injected 429, then each card once
    assert calls[1].received_at - held_at >= 0.8
    assert stack.slack.early_retries == 0


def test_one_sender_claims_each_message_across_threads_and_processes(stack):
    _fast(stack, burst=4)
    pacing.hold(stack.rt.db, CHANNEL, 60)
    _complaints(stack, 15)
    stack.poll()
    _unhold(stack)
    second = Publisher(stack.rt.publisher.client, stack.rt.db, rate=FAST, burst=4)
    senders = [lambda: stack.rt.publisher.deliver_pending(max_wait=5), lambda: second.deliver_pending(max_wait=5)] * 3
    threads = [threading.Thread(target=f) for f in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    stack.slack.wait_for(lambda: len(stack.cards()) == 15, what="every card")
    # no card built and sent twice: every call that Slack did not refuse with 429 was a different card
    assert len(stack.slack.received("chat.postMessage")) - len(stack.slack.rate_limited) == 15
    assert stack.slack.early_retries == 0


def test_thread_notes_wait_for_their_card_and_queue_survives_a_restart(stack):
    _fast(stack)
    pacing.hold(stack.rt.db, CHANNEL, 30)  # nothing can go out before the restart
    _complaints(stack, 2)
    stack.poll()
    with stack.rt.db.session() as session:
        case_id = session.scalar(select(m.Case.id).order_by(m.Case.id))
    stack.rt.publisher.note(case_id, "someone is on it")
    assert stack.slack.messages(CHANNEL) == []
    stack.restart()
    _unhold(stack)
    _fast(stack)
    workflows.deliver(stack.rt, max_wait=5)
    stack.slack.wait_for(lambda: len(stack.slack.messages(CHANNEL)) == 3, what="two cards and the note")
    with stack.rt.db.session() as session:
        card_ts = session.get(m.Case, case_id).card_ts
    [note] = [msg for msg in stack.slack.thread(CHANNEL, card_ts) if msg["ts"] != card_ts]
    assert note["text"] == "someone is on it"
    assert _count(stack, m.SlackMessage, m.SlackMessage.state == "posted") == 1


def test_a_message_whose_answer_was_lost_is_found_not_sent_twice(stack, clock):
    _fast(stack)
    _complaints(stack, 1)
    stack.poll()
    [card] = stack.cards()
    with stack.rt.db.session() as session:
        case_id = session.scalar(select(m.Case.id))
    stack.slack.fail("chat.postMessage", status=None, delay=1.5)  # posted, but the answer is lost
    stack.rt.publisher.client.timeout = 0.5
    stack.rt.publisher.note(case_id, "lost answer")
    stack.slack.wait_for(lambda: len(stack.slack.thread(CHANNEL, card["ts"])) == 2, what="the note")
    stack.rt.publisher.client.timeout = 15
    assert _count(stack, m.SlackMessage, m.SlackMessage.state == "posting") == 1
    clock.shift(120)
    workflows.deliver(stack.rt)
    workflows.deliver(stack.rt)
    assert len(stack.slack.thread(CHANNEL, card["ts"])) == 2
    assert _count(stack, m.SlackMessage, m.SlackMessage.state == "posted") == 1
