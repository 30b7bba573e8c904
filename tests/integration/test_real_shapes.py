"""Recorded (or faithfully reconstructed) network payloads through the real parsing path: tweepy over HTTP, and the webhook endpoints."""
from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.flows import workflows
from bot.emulators.stack import X_SECRET, card_text
from bot.emulators.x import sign_webhook
from storage import models as m
from tests.helpers import PAYLOADS

REPLY_ID, RETWEET_ID, ROOT_ID = "1766201334587654403", "1766200998877665502", "1766190011223344001"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def posts(stack) -> dict[str, m.Post]:
    """Posts stored and triaged (a webhook's posts are triaged just after it is acknowledged)."""
    with stack.rt.db.session() as session:
        return {p.external_id: p for p in session.scalars(select(m.Post).where(m.Post.triage_state.in_(("done", "set_aside"))))}


def cases(stack) -> list[m.Case]:
    with stack.rt.db.session() as session:
        return list(session.scalars(select(m.Case).options(selectinload(m.Case.posts)).order_by(m.Case.id)))


def post_x_webhook(stack, body: bytes):
    import requests

    headers = {"Content-Type": "application/json", "x-twitter-webhooks-signature": sign_webhook(X_SECRET, body)}
    with requests.Session() as http:
        http.trust_env = False
        return http.post(f"{stack.url}/webhooks/x", data=body, headers=headers, timeout=10)


# -- X ------------------------------------------------------------------------------------------------


def test_a_recorded_mentions_page_is_unescaped_once_without_retweets_and_filed_under_the_thread_root(stack):
    stack.x.fail("mentions", status=200, body=payload("x/v2-mentions-page.json"))
    stack.poll()
    stored = posts(stack)
    assert RETWEET_ID not in stored
    reply = stored[REPLY_ID]
    assert reply.text == "@acme @maya_r same here & the app just shows <error 503> when I pay. Q&A page says nothing"
    assert reply.conversation_id == ROOT_ID and reply.in_reply_to_id == "1766199870012345602"
    assert stored[ROOT_ID].text == "@acme charged twice & no refund after 9 days"
    workflows.deliver(stack.rt)
    shown = "\n".join(card_text(c) for c in stack.cards())
    # Escaped exactly once on the way to Slack: Slack shows "&" and "<error 503>", never "&amp;" or "&lt;".
    assert "same here &amp; the app just shows &lt;error 503&gt; when I pay. Q&amp;A page" in shown
    assert "&amp;amp;" not in shown and "&amp;lt;" not in shown


def test_a_recorded_webhook_delivery_drops_the_retweet_unescapes_and_asks_x_for_the_thread_root(stack):
    stack.x.fail("lookup", status=200, body=payload("x/v2-tweets-lookup.json"))
    body = (PAYLOADS / "x/aa-tweet-create-events.json").read_bytes()
    assert post_x_webhook(stack, body).status_code == 200
    stored = stack.slack.wait_for(lambda: posts(stack) or None, what="webhook stored")
    assert set(stored) == {REPLY_ID}
    reply = stored[REPLY_ID]
    assert reply.text.startswith("@acme @maya_r same here & the app just shows <error 503>")
    assert reply.conversation_id == ROOT_ID  # the root, not the parent named in the event
    [lookup] = stack.x.received("lookup")
    assert lookup.query["ids"] == REPLY_ID and "conversation_id" in lookup.query["tweet.fields"]


def test_webhook_and_poll_agree_on_the_conversation_so_a_follow_up_never_splits(stack, customer):
    root = stack.x.add_tweet("@acme my refund never arrived", customer)
    other = stack.x.add_user(username="maya_r")
    middle = stack.x.add_tweet("@jordan_k @acme same for me", other, in_reply_to=root)
    reply = stack.x.add_tweet("@maya_r @acme still nothing & it's day 9", customer, in_reply_to=middle)
    assert stack.x_webhook([reply]).status_code == 200
    stack.slack.wait_for(lambda: reply in posts(stack), what="webhook stored")
    stack.poll()
    stored = posts(stack)
    assert {stored[i].conversation_id for i in (root, middle, reply)} == {root}
    assert stored[reply].text == "@maya_r @acme still nothing & it's day 9"
    by_author = {c.author_external_id: c for c in cases(stack)}
    assert {p.external_id for p in by_author[customer].posts} == {root, reply}


def test_a_webhook_reply_still_goes_in_when_x_cannot_be_asked_for_its_root(stack, customer):
    root = stack.x.add_tweet("@acme where is my order", customer)
    reply = stack.x.add_tweet("@acme hello??", customer, in_reply_to=root)
    stack.x.fail("lookup", status=503)
    assert stack.x_webhook([reply]).status_code == 200
    stored = stack.slack.wait_for(lambda: posts(stack) or None, what="webhook stored")
    assert stored[reply].conversation_id == root  # the parent stands in, which here is the root


def test_retweets_are_dropped_by_webhook_and_by_poll(stack, customer):
    original = stack.x.add_tweet("@acme the app logs me out every hour", customer)
    fan = stack.x.add_user(username="fan_account")
    retweet = stack.x.add_retweet(original, fan)
    assert stack.x_webhook([retweet]).status_code == 200
    stack.poll()
    assert set(posts(stack)) == {original}


def test_x_sends_its_text_escaped_and_the_emulator_does_too(stack, customer):
    stack.x.add_tweet("@acme 2 < 3 & 5 > 4", customer)
    import tweepy

    client = tweepy.Client(bearer_token=stack.x.bearer_token)
    from bot.networks.transport import BaseURLTransport

    client.session.mount("https://", BaseURLTransport(stack.x.url))
    page = client.get_users_mentions("100")
    assert page.data[0].text == "@acme 2 &lt; 3 &amp; 5 &gt; 4"
    stack.poll()
    assert [p.text for p in posts(stack).values()] == ["@acme 2 < 3 & 5 > 4"]


# -- Facebook ------------------------------------------------------------------------------------------


def test_sender_id_authors_are_named_the_pages_own_comment_is_skipped_and_photo_and_video_posts_kept(stack):
    assert stack.facebook_webhook(payload("facebook/feed-sender-shape.json")).status_code == 200
    stored = stack.slack.wait_for(lambda: len(posts(stack)) >= 3 and posts(stack), what="three posts stored")
    assert set(stored) == {"1234567890123456_9988776655443322", "448242228374517_771234500012345", "448242228374517_881234500067890"}
    comment = stored["1234567890123456_9988776655443322"]
    assert (comment.author_name, comment.author_external_id) == ("Priya Natarajan", "10158829374650012")
    photo = stored["448242228374517_771234500012345"]
    assert photo.author_name == "Tom Becker" and photo.text == "This is what arrived. Box crushed, lid broken."
    video = stored["448242228374517_881234500067890"]
    assert video.author_name == "Lena Ortiz" and video.text == "[a video: open it on Facebook]"
    shown = stack.slack.wait_for(lambda: [card_text(c) for c in stack.cards()] if len(stack.cards()) >= 2 else None,
                                 what="the complaints' cards")
    assert any("Priya Natarajan" in text for text in shown) and any("Tom Becker" in text for text in shown)
    assert not any("Someone" in text for text in shown)


def test_an_uppercase_negative_review_is_kept_as_a_negative_verdict_and_a_complaint(stack):
    assert stack.facebook_webhook(payload("facebook/ratings-uppercase.json")).status_code == 200
    stored = stack.slack.wait_for(lambda: posts(stack) or None, what="review stored")
    assert stored["10226512345678901"].kind == "rating"
    [case] = cases(stack)
    assert case.category == "complaint"
    card = stack.slack.wait_for(lambda: stack.cards() or None, what="review card")[0]
    assert "does not recommend" in card_text(card)


def test_an_unsent_messenger_message_never_becomes_an_empty_post(stack):
    delivery = payload("facebook/messages-deleted.json")
    only_deletion = json.loads(json.dumps(delivery))
    only_deletion["entry"][0]["messaging"] = only_deletion["entry"][0]["messaging"][1:]
    assert stack.facebook_webhook(only_deletion).status_code == 200
    assert stack.facebook_webhook(delivery).status_code == 200
    stored = stack.slack.wait_for(lambda: posts(stack) or None, what="message stored")
    [message] = stored.values()
    assert message.text == "wrong chat, sorry"
    assert not any(p.text == "" for p in stored.values())
    stack.slack.wait_for(lambda: posts(stack)[message.external_id].visibility == "removed", what="marked unsent")
