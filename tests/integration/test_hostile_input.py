"""Malformed or hostile input gets a 4xx and no side effect; customer names cannot format a card."""
from __future__ import annotations

import requests
from sqlalchemy import func, select

from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL, card_text
from bot.slack.ids import Action, case_ref
from storage import models as m


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def nothing_posted(stack) -> bool:
    return not stack.slack.received("chat.postMessage") and not stack.slack.received("chat.postEphemeral")


def click_body(case_id: int = 1) -> bytes:
    return slack_client.block_actions("U0AGENT", Action.APPROVE, case_ref(case_id), channel=CHANNEL, message_ts="1.0")


def test_a_10_mb_slack_body_is_413(stack):
    body = b"payload=" + b"x" * 10_000_000
    response = http().post(f"{stack.url}/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                                          **stack.signer.headers(body)}, timeout=30)
    assert response.status_code == 413 and nothing_posted(stack)


def test_a_timestamp_that_is_not_a_number_is_401_and_nobody_is_messaged(stack):
    body = click_body()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}
    assert http().post(f"{stack.url}/slack/events", data=body, headers=headers, timeout=10).status_code == 401
    assert nothing_posted(stack)


def test_an_unsigned_click_is_refused_and_the_bot_posts_nothing(stack, customer):
    stack.x.add_tweet("@acme my order never arrived, I want a refund", customer)
    stack.poll()
    before = len(stack.slack.received("chat.postMessage"))
    response = http().post(f"{stack.url}/slack/events", data=click_body(), headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert response.status_code == 401
    assert len(stack.slack.received("chat.postMessage")) == before and not stack.slack.received("chat.postEphemeral")
    with stack.rt.db.session() as session:
        assert session.scalar(select(func.count(m.Reply.id))) == 0


def test_a_signed_payload_that_is_not_json_is_400(stack):
    response = stack.send_to_slack_endpoint(b"payload=not-json")
    assert response.status_code == 400 and nothing_posted(stack)


def test_a_display_name_cannot_add_a_bold_quoted_line_to_the_card(stack):
    user = stack.x.add_user(username="dana", name="Dana\n> *FAKE: approved by manager*", followers=10)
    stack.x.add_tweet("@acme my refund never came *URGENT* _please_ ~now~ `rm`", user)
    stack.poll()
    text = card_text(stack.cards()[0])
    header = text.split("\n")[1]
    assert header.startswith("*Dana &gt; ") and "*FAKE" not in text and "manager*" not in text
    assert not any(line.startswith("&gt;") or line.startswith(">*") for line in text.split("\n") if "FAKE" in line)
    assert "*URGENT*" not in text and "_please_" not in text and "~now~" not in text and "`rm`" not in text


def test_a_facebook_created_time_of_1e20_is_not_a_server_error(stack):
    customer = stack.graph.add_user("Maya")
    post = stack.graph.add_post("Spring sale")
    comment = stack.graph.add_comment(post, "Still no refund", customer)
    change = stack.graph.comment_change(comment)
    change["value"]["created_time"] = 1e20
    response = stack.facebook_webhook(stack.graph.webhook(change))
    assert response.status_code < 500
    with stack.rt.db.session() as session:
        assert session.scalar(select(func.count(m.Post.id))) == 0  # that part is skipped (and logged); polling still finds the comment
