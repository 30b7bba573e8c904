"""The core loop on X, end to end over real HTTP: mention -> card -> Approve -> reply on X."""
from __future__ import annotations

import json
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot.emulators.stack import CHANNEL, card_text
from bot.slack.ids import Action
from storage import models as m
from tests.helpers import buttons, count, only_case

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund"


def test_a_mention_becomes_one_card_with_everything_the_team_needs(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer, likes=3)

    stack.poll()

    [card] = stack.cards()
    text = card_text(card)
    assert "Jordan K" in text and "@jordan_k" in text and "48.2k followers" in text
    assert "my order never arrived" in text
    assert f"https://x.com/jordan_k/status/{tweet_id}" in text
    assert "<!date^" in text  # when it was posted, in each reader's timezone
    assert "Suggested reply" in text
    assert buttons(card)[:3] == ["Approve", "Edit", "Move to DM"]
    assert card["metadata"]["event_payload"]["post_id"]


def test_approve_replies_on_x_and_updates_the_card(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = only_case(stack)
    [card] = stack.cards()

    response = stack.click("U0AGENT", Action.APPROVE, case.id, message_ts=card["ts"])

    assert response.status_code == 200
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id), what="a reply on X")
    [reply] = stack.x.replies_to(tweet_id)
    assert reply["text"] == case.suggested_reply
    card = stack.slack.wait_for(lambda: next((c for c in stack.cards() if "Replied by" in card_text(c)), None), what="card updated")
    text = card_text(card)
    assert "<@U0AGENT>" in text and f"/status/{reply['id']}" in text
    assert buttons(card) == []
    assert only_case(stack).status == "answered" and only_case(stack).first_response_at is not None


def test_restarts_duplicate_polls_and_search_never_make_a_second_card(make_stack):
    stack = make_stack(search_query="acme")
    author = stack.x.add_user(username="sam", followers=10)
    stack.x.add_tweet("@acme the app crashes every time I open it", author)
    stack.poll()
    stack.poll()
    stack.restart()
    stack.poll()
    stack.rt.own_ids.clear()
    stack.poll()
    assert len(stack.cards()) == 1
    assert count(stack, m.Post) == 1


def test_the_same_tweet_from_webhook_and_poll_is_one_card(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    assert stack.x_webhook([tweet_id]).status_code == 200
    stack.slack.wait_for(lambda: stack.cards(), what="card from webhook")
    stack.poll()
    assert len(stack.cards()) == 1


def test_follow_ups_go_into_the_cards_thread(stack, customer):
    first = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    stack.x.add_tweet("@acme still nothing, day 5 now", customer, in_reply_to=first)
    stack.poll()
    [card] = stack.cards()
    thread = [msg for msg in stack.slack.messages(CHANNEL) if msg.get("thread_ts") == card["ts"] and msg["ts"] != card["ts"]]
    assert len(thread) == 1 and "still nothing" in card_text(thread[0])
    assert count(stack, m.Case) == 1


def test_our_own_tweets_are_never_ingested(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    stack.click("U0AGENT", Action.APPROVE, only_case(stack).id)
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    stack.x.add_tweet("@acme thanks for the help @acme", stack.x.brand_id)
    stack.poll()
    assert len(stack.cards()) == 1


def test_double_clicks_retries_and_two_people_send_one_reply(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = only_case(stack)
    clicks = [
        lambda: stack.click("U0AGENT", Action.APPROVE, case.id),
        lambda: stack.click("U0AGENT", Action.APPROVE, case.id),
        lambda: stack.click("U0OTHER", Action.APPROVE, case.id),
        lambda: stack.click("U0AGENT", Action.APPROVE, case.id, retry_num=1),
    ]
    threads = [threading.Thread(target=c) for c in clicks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    stack.slack.wait_for(lambda: len(stack.slack.ephemerals) >= 3, what="the losers are told")
    stack.rt.background.submit(lambda: None).result()
    assert len(stack.x.replies_to(tweet_id)) == 1
    assert len(stack.x.created) == 1
    assert count(stack, m.Reply) == 1
    assert any("already" in e["text"] for e in stack.slack.ephemerals)


def test_customer_markup_cannot_ping_or_fake_a_link(stack):
    author = stack.x.add_user(username="<!channel>", name="<@U0BOSS> & co")
    stack.x.add_tweet(
        "@acme <!channel> <!here> my refund never arrived, still waiting @here @channel <https://evil.example|Your bank> <@U0BOSS> *bold*", author
    )
    stack.poll()
    [card] = stack.cards()
    raw = json.dumps(card["blocks"])
    for forbidden in ("<!channel>", "<!here>", "<@U0BOSS>", "<https://evil.example|", " @here", " @channel"):
        assert forbidden not in raw
    assert "&lt;!channel&gt;" in raw and "&lt;https://evil.example|Your bank&gt;" in raw
    assert all(block.get("text", {}).get("verbatim", True) for block in card["blocks"] if block["type"] == "section")
    assert "<!channel>" not in card["text"]


def test_huge_empty_and_emoji_only_posts_still_make_cards(stack):
    author = stack.x.add_user(username="odd", followers=1)
    stack.x.add_tweet("@acme " + "terrible service " * 600, author)
    stack.x.add_tweet("@acme", author)
    stack.x.add_tweet("@acme 😡😡😡🤬", author)
    stack.poll()
    for card in stack.cards():
        for block in card["blocks"]:
            text = block.get("text", {}).get("text", "")
            assert len(text) <= 3000
    assert count(stack, m.Post) == 3
    assert any("terrible service" in card_text(card) for card in stack.cards())


def test_forged_or_stale_slack_signatures_get_401_and_change_nothing(stack, customer):
    import time as _time

    from bot.emulators import slack_client
    from bot.slack.ids import case_ref

    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = only_case(stack)
    body = slack_client.block_actions("U0AGENT", Action.APPROVE, case_ref(case.id), channel=CHANNEL, message_ts="1.0")
    forged = slack_client.post(f"{stack.url}/slack/events", body, slack_client.SlackSigner("not-the-secret"))
    stale = stack.send_to_slack_endpoint(body, timestamp=int(_time.time()) - 301)
    assert forged.status_code == 401 and stale.status_code == 401
    assert stack.x.replies_to(tweet_id) == [] and only_case(stack).status == "open"


def test_an_x_outage_or_429_delays_polling_and_loses_nothing(stack, customer, clock):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.x.fail("mentions", status=503)
    assert stack.poll() is None
    assert stack.cards() == []
    clock.shift(120)
    stack.x.fail("mentions", status=429, headers={"x-rate-limit-reset": "0"})
    assert stack.poll() is None
    clock.shift(120)
    stack.poll()
    assert len(stack.cards()) == 1


def test_a_429_on_the_reply_retries_later_and_sends_once(stack, customer, clock):
    from bot.flows import workflows

    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = only_case(stack)
    stack.x.fail("create_tweet", status=429, times=1)
    stack.click("U0AGENT", Action.APPROVE, case.id)
    stack.x.wait_for(lambda: stack.x.received("create_tweet"))
    stack.slack.wait_for(lambda: only_case(stack).replies and only_case(stack).replies[0].status == "queued", what="requeued")
    assert stack.x.replies_to(tweet_id) == []
    clock.shift(3600)
    workflows.process_outbox(stack.rt)
    workflows.process_outbox(stack.rt)
    assert len(stack.x.replies_to(tweet_id)) == 1
    assert only_case(stack).status == "answered"


def test_a_refused_reply_shows_why_and_retry_sends_it(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = only_case(stack)
    stack.x.fail("create_tweet", status=403, body={"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403})
    stack.click("U0AGENT", Action.APPROVE, case.id)
    card = stack.slack.wait_for(lambda: next((c for c in stack.cards() if "Not sent" in card_text(c)), None), what="failure on card")
    assert "duplicate content" in card_text(card)
    assert "Retry" in buttons(card)
    stack.click("U0AGENT", Action.RETRY, case.id)
    stack.x.wait_for(lambda: stack.x.replies_to(tweet_id))
    assert len(stack.x.replies_to(tweet_id)) == 1


def test_slack_rate_limit_or_lost_answer_still_posts_the_card_exactly_once(stack, customer, clock):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.slack.fail("chat.postMessage", status=429, headers={"Retry-After": "0"}, times=3)
    stack.poll()  # takes the first 429 and leaves the card queued
    assert stack.cards() == []
    # Slack takes the message but the answer never reaches the bot.
    stack.slack.fail("chat.postMessage", status=None, delay=2)
    stack.rt.publisher.client.timeout = 1
    from bot.flows import workflows

    workflows.deliver(stack.rt, max_wait=5)  # waits out two more 429s, then loses the answer
    stack.slack.wait_for(lambda: stack.cards(), timeout=10, what="the late card")
    stack.rt.publisher.client.timeout = 15
    clock.shift(120)
    workflows.deliver(stack.rt)
    workflows.deliver(stack.rt)
    assert len(stack.cards()) == 1
    with stack.rt.db.session() as session:
        assert session.scalars(select(m.Post.slack_state)).all() == ["posted"]


def test_x_webhook_checks_crc_and_signature(stack, customer):
    import requests

    from bot.emulators.x import crc_response

    with requests.Session() as http:
        http.trust_env = False
        crc = http.get(f"{stack.url}/webhooks/x", params={"crc_token": "abc"}, timeout=5)
        assert crc.json() == {"response_token": crc_response("x-consumer-secret", "abc")}
        tweet_id = stack.x.add_tweet(COMPLAINT, customer)
        assert stack.x_webhook([tweet_id], signature="sha256=forged").status_code == 401
        bad = http.post(f"{stack.url}/webhooks/x", data=b"{not json", headers={"x-twitter-webhooks-signature": _sign(b"{not json")}, timeout=5)
        assert bad.status_code == 200
    assert count(stack, m.Post) == 0


def _sign(body: bytes) -> str:
    from bot.emulators.x import sign_webhook

    return sign_webhook("x-consumer-secret", body)


def test_health_and_metrics(stack, customer):
    import requests

    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    with requests.Session() as http:
        http.trust_env = False
        health = http.get(f"{stack.url}/healthz", timeout=5)
        metrics = http.get(f"{stack.url}/metrics", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert "socialdesk_posts_ingested_total" in metrics.text
