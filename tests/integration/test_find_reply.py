"""Before a reply whose outcome is unknown is sent again, the adapters can find it on the network."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.networks.base import NetworkError, Target

COMPLAINT = "@acme my order never arrived and I want a refund"


def test_x_finds_the_brands_reply_to_that_post_and_nothing_else(stack, customer):
    since = datetime.now(timezone.utc)
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    other_id = stack.x.add_tweet("@acme another thing entirely", customer)
    x = stack.rt.networks["x"]
    target = Target(tweet_id, customer, "jordan_k", since)
    assert x.find_reply(target, "public", "Sorry, we are on it", since) is None
    x.reply_public(Target(other_id, customer, "jordan_k", since), "Looking into the other thing")
    assert x.find_reply(target, "public", "Sorry, we are on it", since) is None  # a reply to another post is not it
    sent = x.reply_public(target, "Sorry, we are on it")
    found = x.find_reply(target, "public", "Sorry, we are on it", since)
    assert found.external_id == sent.external_id and found.url == sent.url


def test_x_finds_a_dm_with_that_text_sent_since_the_approval(stack, customer):
    since = datetime.now(timezone.utc)
    x = stack.rt.networks["x"]
    target = Target(stack.x.add_tweet(COMPLAINT, customer), customer, "jordan_k", since)
    assert x.find_reply(target, "private", "Your case number is 12", since) is None
    x.reply_private(target, "Your case number is 12")
    assert x.find_reply(target, "private", "Your case number is 12", since).external_id
    assert x.find_reply(target, "private", "Something else", since) is None


def test_x_says_it_cannot_tell_when_the_lookup_fails(stack, customer):
    x = stack.rt.networks["x"]
    target = Target(stack.x.add_tweet(COMPLAINT, customer), customer, "jordan_k", datetime.now(timezone.utc))
    stack.x.fail("search", status=503)
    with pytest.raises(NetworkError):
        x.find_reply(target, "public", "hello", datetime.now(timezone.utc))


def test_facebook_finds_the_pages_comment_under_that_comment(stack):
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    customer = stack.graph.add_user("Maya Okafor")
    post = stack.graph.add_post("Big news: our spring sale starts today!")
    comment = stack.graph.add_comment(post, "Still no refund after three weeks", customer)
    fb = stack.rt.networks["facebook"]
    target = Target(comment, customer, "", since, "comment")
    assert fb.find_reply(target, "public", "So sorry, Maya", since) is None
    stack.graph.add_comment(comment, "Me too!", stack.graph.add_user("Devon"))
    assert fb.find_reply(target, "public", "So sorry, Maya", since) is None  # someone else's answer is not ours
    sent = fb.reply_public(target, "So sorry, Maya")
    found = fb.find_reply(target, "public", "So sorry, Maya", since)
    assert found.external_id == sent.external_id and found.url
