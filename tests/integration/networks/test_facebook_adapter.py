"""The Facebook adapter against the Graph emulator: facebook-sdk's quirks stay behind it."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import facebook
import pytest

from bot.config import ConfigError, Settings
from bot.emulators.graph import GraphEmulator, error_body, webhook_body
from bot.networks import build_networks
from bot.networks.base import AuthFailed, RateLimited, Rejected, Target, Uncertain, Unavailable
from bot.networks.facebook import FacebookNetwork, graph_version, read_usage


@pytest.fixture
def emu():
    with GraphEmulator() as emulator:
        yield emulator


def adapter(emu: GraphEmulator, **kwargs) -> FacebookNetwork:
    options = dict(page_id=emu.page_id, page_token=emu.page_token, app_secret=emu.app_secret,
                   verify_token=emu.verify_token, graph_url=emu.url + "/")
    return FacebookNetwork(**{**options, **kwargs})


def target(emu: GraphEmulator, comment_id: str, kind: str = "comment") -> Target:
    comment = emu.comment(comment_id)
    created = datetime.fromisoformat(comment["created_time"])
    return Target(comment_id, comment["from"]["id"], "", created, kind)


def test_versions_are_normalised_and_bad_ones_are_a_config_error():
    assert graph_version("21.0") == "v21.0" and graph_version(" v22.0 ") == "v22.0"
    with pytest.raises(ConfigError, match="FACEBOOK_GRAPH_VERSION"):
        graph_version("latest")


def test_build_networks_turns_facebook_on_only_with_page_id_and_token(emu):
    base = dict(_env_file=None, facebook_graph_url=emu.url)
    assert "facebook" not in build_networks(Settings(**base, facebook_page_id=emu.page_id))
    networks = build_networks(Settings(**base, facebook_page_id=emu.page_id, facebook_page_access_token=emu.page_token))
    assert networks["facebook"].check().startswith("Page Acme")


def test_two_adapters_in_one_process_reach_their_own_graph_and_leave_the_sdk_global_alone(emu):
    with GraphEmulator(page_id="222", page_name="Other", page_token="EAAGothertoken0000000") as other:
        one, two = adapter(emu), adapter(other)
        emu.add_comment(emu.add_post("A"), "first page comment", emu.add_user("Ann"))
        other.add_comment(other.add_post("B"), "second page comment", other.add_user("Bob"))
        assert [p.text for p in one.fetch({}).posts] == ["first page comment"]
        assert [p.text for p in two.fetch({}).posts] == ["second page comment"]
    assert facebook.FACEBOOK_GRAPH_URL == "https://graph.facebook.com/"


def test_fetch_reads_comments_and_replies_since_the_cursor_with_overlap(emu):
    network = adapter(emu)
    cust = emu.add_user("Cust Omer")
    post = emu.add_post("Our store opens Monday " + "x" * 300)
    old = emu.add_comment(post, "two days old", cust, created_at=datetime.now(timezone.utc) - timedelta(days=2))
    first = emu.add_comment(post, "where is my order", cust)
    reply = emu.add_comment(first, "hello?", cust)
    fetched = network.fetch({})
    by_id = {p.external_id: p for p in fetched.posts}
    assert set(by_id) == {first, reply} and old not in by_id  # the first poll looks back one day
    assert by_id[reply].in_reply_to_id == first and by_id[first].in_reply_to_id == ""
    assert by_id[first].conversation_id == post and len(by_id[first].context) == 200
    assert by_id[first].url.endswith(f"?comment_id={first.split('_')[1]}")
    cursor = fetched.cursors["facebook:page"]
    assert int(cursor) <= datetime.now(timezone.utc).timestamp()
    again = network.fetch(fetched.cursors)  # within the overlap: the same ids again, deduplicated by the store
    assert {p.external_id for p in again.posts} == {first, reply}


def test_paging_follows_next_urls_with_or_without_a_token_in_them(emu):
    network = adapter(emu)
    cust = emu.add_user("Many Comments")
    post = emu.add_post("Popular")
    ids = {emu.add_comment(post, f"c{n}", cust) for n in range(230)}
    assert {p.external_id for p in network.fetch({}).posts} == ids
    pages = emu.received("comments")
    assert len(pages) == 3 and all(r.query.get("appsecret_proof") for r in pages)
    # facebook-sdk's own pager does `del args["access_token"]` on the next URL; ours does not need it there.
    emu.fail("comments", status=200, body={"data": [], "paging": {"next": f"https://graph.facebook.com/v21.0/{post}/comments?after=MjI5&limit=100"}})
    found = network.fetch({})
    assert len(found.posts) == 1  # "MjI5" is the cursor of the 230th, last, comment
    follow = emu.received("comments")[-1]
    assert follow.query["after"] == "MjI5" and follow.query["access_token"] == emu.page_token


def test_graph_errors_become_network_errors_without_the_token(emu, caplog):
    caplog.set_level(logging.DEBUG)
    network = adapter(emu)
    emu.expire_token()
    with pytest.raises(AuthFailed) as expired:
        network.fetch({})
    assert "190" in expired.value.message and "Reconnect Facebook" in expired.value.message
    assert expired.value.__cause__ is None and expired.value.__suppress_context__
    emu.expire_token("valid")
    emu.rate_limit("feed", code=80001)
    with pytest.raises(RateLimited) as limited:
        network.fetch({})
    assert limited.value.retry_after >= 300
    emu.fail("feed", status=503, body="<html>Service Unavailable</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(Unavailable):
        network.fetch({})
    emu.fail("feed", status=200, body=error_body(2, "Service temporarily unavailable", transient=True))
    with pytest.raises(Unavailable):
        network.fetch({})
    emu.permissions.discard("pages_read_user_content")
    emu.add_comment(emu.add_post("p"), "c", emu.add_user("U"))
    with pytest.raises(AuthFailed, match="pages_read_user_content"):
        network.fetch({})
    assert emu.page_token not in caplog.text


def test_unreachable_graph_is_unavailable_and_the_url_with_the_token_never_shows(emu):
    network = adapter(emu)
    emu.stop()
    with pytest.raises(Unavailable) as down:
        network.fetch({})
    assert emu.page_token not in str(down.value) and down.value.__cause__ is None


def test_writes_that_may_have_happened_are_uncertain(emu):
    network = adapter(emu)
    cust = emu.add_user("Cust")
    comment = emu.add_comment(emu.add_post("p"), "help", cust)
    emu.fail("comment", status=None, delay=1.0)
    network.graph.timeout = 0.3
    with pytest.raises(Uncertain):
        network.reply_public(target(emu, comment), "Sorry!")
    network.graph.timeout = 5
    emu.fail("comment", status=200, body={"id": "1"}, headers={"Content-Type": ""})
    with pytest.raises(Uncertain):
        network.reply_public(target(emu, comment), "Sorry again")


def test_private_reply_rules_are_checked_before_calling_facebook(emu):
    network = adapter(emu)
    cust = emu.add_user("Cust")
    post = emu.add_post("p")
    fresh = emu.add_comment(post, "help", cust)
    old = emu.add_comment(post, "old", cust, created_at=datetime.now(timezone.utc) - timedelta(days=8))
    now = datetime.now(timezone.utc)
    assert network.private_reply_blocker(target(emu, fresh), now) is None
    assert network.private_reply_blocker(target(emu, old), now) == "Facebook allows a private reply only within 7 days of the comment"
    sent = network.reply_private(target(emu, fresh), "Here are the details")
    assert sent.external_id.startswith("m_")
    assert network.private_reply_blocker(target(emu, fresh), now) == "already sent a private reply to this comment"
    with pytest.raises(Rejected, match="private reply to this comment was already sent"):
        network.reply_private(target(emu, fresh), "again")
    with pytest.raises(Rejected, match="7 days"):
        network.reply_private(target(emu, old), "late")
    with pytest.raises(Rejected, match="2000"):
        network.reply_private(target(emu, emu.add_comment(post, "another", cust)), "x" * 2001)
    assert len(emu.received("messages")) == 1
    assert network.private_reply_blocker(Target("r", "u", "", now, "rating"), now) == "Facebook has no private replies to reviews"


def test_private_reply_blocker_never_holds_up_a_slack_modal(emu):
    network = adapter(emu)
    comment = emu.add_comment(emu.add_post("p"), "help", emu.add_user("Cust"))
    emu.fail("object", status=None, delay=3)
    started = datetime.now(timezone.utc)
    assert network.private_reply_blocker(target(emu, comment), started) is None
    assert (datetime.now(timezone.utc) - started).total_seconds() < 2.5


def test_usage_headers_are_read_from_any_of_metas_three_headers():
    assert read_usage({}).percent == 0
    assert read_usage({"x-app-usage": json.dumps({"call_count": 85, "total_time": 3})}).percent == 85
    buc = {"1": [{"type": "pages", "call_count": 20, "total_cputime": 96, "estimated_time_to_regain_access": 7}]}
    usage = read_usage({"x-business-use-case-usage": json.dumps(buc), "x-page-usage": "not json"})
    assert usage.percent == 96 and usage.regain_seconds == 420


def test_webhook_parsing_keeps_the_good_parts_of_a_bad_delivery(emu):
    network = adapter(emu)
    cust = emu.add_user("Cust")
    post = emu.add_post("p")
    comment = emu.add_comment(post, "Grüße, still waiting", cust)
    mine = emu.add_comment(post, "thanks!", emu.page_id)
    payload = emu.webhook(
        emu.comment_change(comment),
        emu.comment_change(mine),
        {"field": "feed", "value": {"item": "reaction", "verb": "add", "reaction_type": "like"}},
        {"field": "feed", "value": {"item": "comment", "verb": "add"}},
        emu.comment_change(comment, "remove"),
        messaging=[{"sender": {"id": emu.page_id}, "message": {"mid": "m_1", "text": "echo", "is_echo": True}},
                   {"sender": {"id": cust}, "delivery": {"mids": ["m_1"]}}],
    )
    events = network.parse_webhook_events(webhook_body(payload))
    assert [p.text for p in events.posts] == ["Grüße, still waiting"]
    assert events.posts[0].context == "p" and events.posts[0].conversation_id == post
    assert [(c.external_id, c.state) for c in events.changes] == [(comment, "removed")]
    assert len(events.problems) == 1 and "KeyError" in events.problems[0]
    assert "our own comment" in events.ignored and "our own message" in events.ignored
    with pytest.raises(ValueError):
        network.parse_webhook_events(b"\xff not json")


def test_check_reports_webhooks_ratings_and_messenger(emu):
    assert "webhooks on" in adapter(emu).check()
    emu.permissions.discard("pages_messaging")
    text = adapter(emu, version="v22.0", app_secret="").check()
    assert "webhooks off" in text and "pages_messaging" in text and "ratings are not readable in v22.0" in text
    emu.expire_token()
    with pytest.raises(AuthFailed, match="190"):
        adapter(emu).check()
