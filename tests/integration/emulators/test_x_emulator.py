"""The X emulator driven by the real tweepy.Client over real HTTP."""

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime

import pytest
import requests
import tweepy

from bot.emulators.x import XEmulator, crc_response, sign_webhook
from bot.networks.transport import BaseURLTransport


@pytest.fixture
def emu():
    with XEmulator() as emulator:
        yield emulator


def make_client(emu, **kwargs) -> tweepy.Client:
    client = tweepy.Client(bearer_token=emu.bearer_token, consumer_key="ck", consumer_secret="cs",
                           access_token="at", access_token_secret="ats", **kwargs)
    client.session.mount("https://api.twitter.com/", BaseURLTransport(emu.url))
    return client


@pytest.fixture
def client(emu):
    return make_client(emu)


@pytest.fixture
def seeded(emu):
    cust = emu.add_user(username="cust", name="Cust", followers=1234)
    other = emu.add_user(username="other", dms_open=False)
    ids = [
        emu.add_tweet("@acme my order is late", cust, created_at="2024-01-15T10:30:00Z"),
        emu.add_tweet("@AcmeCorp unrelated brand", other),
        emu.add_tweet("@ACME still waiting for a refund", other),
        emu.add_tweet("hello @acme, thanks from me", emu.brand_id),
    ]
    ids += [emu.add_tweet(f"@acme complaint {n}", cust) for n in range(6)]
    return {"cust": cust, "other": other, "ids": ids}


def test_get_me_needs_user_context(emu, client):
    assert client.get_me().data.username == "acme"
    bearer_only = requests.get(f"{emu.url}/2/users/me", headers={"Authorization": "Bearer x-bearer"})
    assert bearer_only.status_code == 401 and bearer_only.json()["title"] == "Unauthorized"
    assert "x-rate-limit-reset" in bearer_only.headers


def test_mentions_since_id_paging_and_expansions(emu, client, seeded):
    page = client.get_users_mentions(
        emu.brand_id, since_id=seeded["ids"][0], max_results=5, expansions=["author_id"],
        tweet_fields=["created_at", "author_id", "conversation_id"], user_fields=["public_metrics"])
    assert [t.id for t in page.data] == [int(i) for i in reversed(seeded["ids"][5:])]
    assert page.includes["users"][0].public_metrics["followers_count"] == 1234
    assert isinstance(page.data[0].created_at, datetime) and page.data[0].created_at.tzinfo is not None
    assert page.meta["result_count"] == 5 and "next_token" in page.meta

    rest = client.get_users_mentions(emu.brand_id, since_id=seeded["ids"][0], max_results=5,
                                     pagination_token=page.meta["next_token"])
    assert [t.text for t in rest.data] == ["@acme complaint 0", "@ACME still waiting for a refund"]
    assert "next_token" not in rest.meta
    paged = tweepy.Paginator(client.get_users_mentions, emu.brand_id, since_id=seeded["ids"][0], max_results=5)
    assert len(list(paged.flatten())) == 7

    empty = client.get_users_mentions(emu.brand_id, since_id=seeded["ids"][-1])
    assert empty.data is None and empty.meta == {"result_count": 0}
    query = emu.received("mentions")[0].query
    assert query["tweet.fields"] == "created_at,author_id,conversation_id" and query["expansions"] == "author_id"
    assert emu.received("mentions")[-1].headers["authorization"] == "Bearer x-bearer"


def test_mentions_rejects_bad_max_results(emu, client):
    with pytest.raises(tweepy.BadRequest, match="max_results"):
        client.get_users_mentions(emu.brand_id, max_results=3)


def test_search_recent(emu, client, seeded):
    found = client.search_recent_tweets("(refund OR late) @acme -is:retweet lang:en", max_results=10)
    assert sorted(t.text for t in found.data) == ["@ACME still waiting for a refund", "@acme my order is late"]
    with pytest.raises(tweepy.BadRequest):
        client.search_recent_tweets("refund", max_results=5)


def test_create_reply_duplicate_and_too_long(emu, client, seeded):
    parent = seeded["ids"][0]
    created = client.create_tweet(text="Sorry about that! DM us.", in_reply_to_tweet_id=parent)
    assert created.data["text"] == "Sorry about that! DM us."
    request = emu.received("create_tweet")[0]
    assert request.headers["authorization"].startswith("OAuth ")
    assert emu.created == [{"text": "Sorry about that! DM us.", "reply": {"in_reply_to_tweet_id": parent}}]
    [reply] = emu.replies_to(parent)
    assert reply["id"] == created.data["id"] and reply["conversation_id"] == parent
    assert reply["in_reply_to_user_id"] == seeded["cust"]

    with pytest.raises(tweepy.Forbidden) as duplicate:
        client.create_tweet(text="Sorry about that! DM us.", in_reply_to_tweet_id=seeded["ids"][2])
    assert duplicate.value.api_messages == ["You are not allowed to create a Tweet with duplicate content."]
    with pytest.raises(tweepy.BadRequest):
        client.create_tweet(text="a" * 281)
    assert client.delete_tweet(created.data["id"]).data == {"deleted": True}
    assert emu.tweets_by_brand()[-1]["text"] == "hello @acme, thanks from me"


def test_created_tweet_answers_201_with_location(emu):
    response = requests.post(f"{emu.url}/2/tweets", json={"text": "hi"},
                             headers={"Authorization": 'OAuth oauth_consumer_key="ck"'})
    assert response.status_code == 201
    assert response.headers["Location"] == f"https://api.twitter.com/2/tweets/{response.json()['data']['id']}"


def test_rate_limits_and_server_errors(emu, client):
    emu.set_limit("me", 1)
    client.get_me()
    with pytest.raises(tweepy.TooManyRequests) as exhausted:
        client.get_me()
    assert exhausted.value.reset_time > time.time() + 800
    assert exhausted.value.response.headers["x-rate-limit-remaining"] == "0"

    emu.fail("mentions", status=429)
    with pytest.raises(tweepy.TooManyRequests) as injected:
        client.get_users_mentions(emu.brand_id)
    assert abs(injected.value.reset_time - time.time()) < 5

    emu.fail("search", status=500)
    with pytest.raises(tweepy.TwitterServerError) as server_error:
        client.search_recent_tweets("refund")
    assert server_error.value.response.json()["status"] == 500
    assert "x-rate-limit-limit" in server_error.value.response.headers
    assert client.search_recent_tweets("refund").meta == {"result_count": 0}


def test_direct_messages(emu, client, seeded):
    sent = client.create_direct_message(participant_id=seeded["cust"], text="Here is your case number")
    assert sent.data["dm_conversation_id"] == f"100-{seeded['cust']}"
    assert emu.dms[0]["text"] == "Here is your case number"
    with pytest.raises(tweepy.Forbidden, match="not permitted to send a Direct Message"):
        client.create_direct_message(participant_id=seeded["other"], text="hi")


def test_webhook_helpers(emu, seeded):
    secret = emu.consumer_secret
    expected = base64.b64encode(hmac.new(secret.encode(), b"token-1", hashlib.sha256).digest()).decode()
    assert crc_response(secret, "token-1") == f"sha256={expected}"

    body = emu.account_activity_payload([seeded["ids"][0]])
    event = json.loads(body)["tweet_create_events"][0]
    assert event["user"]["screen_name"] == "cust" and event["created_at"] == "Mon Jan 15 10:30:00 +0000 2024"
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    assert sign_webhook(secret, body) == f"sha256={signature}"
