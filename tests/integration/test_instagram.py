"""Instagram through the same Meta app, end to end over real HTTP: signed webhooks and polling in, replies out."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.config import ConfigError, load_file_config
from bot.emulators.stack import FB_VERIFY_TOKEN, card_text
from bot.slack.ids import Action, Block, View
from storage import models as m

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "instagram"
ACCOUNT, MEDIA, COMMENT, MAYA = "17841400008460056", "17895695668004550", "17865799348089039", "17841405309211844"
TEXT = "Ordered the blue one 3 weeks ago & still nothing. @acme where is it??"


@pytest.fixture
def ig(make_stack):
    stack = make_stack(instagram=True)
    assert stack.graph.ig_account_id == ACCOUNT
    stack.graph.add_ig_user("maya.k", id=MAYA)
    stack.graph.add_ig_media("Our new blue kettle is here", id=MEDIA)
    return stack


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def cases(stack) -> list[m.Case]:
    with stack.rt.db.session() as session:
        return list(session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).order_by(m.Case.id)))


def card_saying(stack, words: str) -> dict:
    return stack.slack.wait_for(lambda: next((c for c in stack.cards() if words in card_text(c)), None), what=words)


def labels(card: dict) -> list[str]:
    return [e["text"]["text"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def test_a_recorded_comment_delivery_becomes_a_card_and_approve_replies_under_it(ig):
    ig.graph.add_ig_comment(MEDIA, TEXT, MAYA, id=COMMENT)
    assert ig.instagram_webhook(payload("wh-comments.json")).status_code == 200
    card = card_saying(ig, "3 weeks ago &amp; still nothing")
    text = card_text(card)
    assert "*Instagram* comment" in text and "@maya.k" in text and "Our new blue kettle is here" in text
    assert "https://www.instagram.com/p/" in text and labels(card)[:3] == ["Approve", "Edit", "Move to DM"]
    [case] = cases(ig)
    assert case.network == "instagram" and case.due_at - case.created_at == timedelta(hours=1)
    ig.click("U0AGENT", Action.APPROVE, case.id, message_ts=card["ts"])
    [reply] = ig.graph.wait_for(lambda: ig.graph.ig_replies_to(COMMENT), what="the reply on Instagram")
    assert reply["text"] == case.suggested_reply
    card_saying(ig, "Replied by")


def test_the_older_minimal_shape_is_looked_up_so_the_author_is_known(ig):
    ig.graph.add_ig_comment(MEDIA, TEXT, MAYA, id=COMMENT)
    assert ig.instagram_webhook(payload("wh-comments-minimal.json")).status_code == 200
    card = card_saying(ig, "still nothing")
    assert "@maya.k" in card_text(card) and "Someone" not in card_text(card)
    assert ig.graph.received("object")  # the comment was read from Graph


def test_a_mention_on_someone_elses_post_is_answered_through_the_mentions_edge(ig):
    theirs = ig.graph.add_ig_media("my kitchen makeover", MAYA, id="17912345670001234")
    ig.graph.add_ig_comment(theirs, "@acme your kettle leaks after a week", MAYA, id="17887498072083520")
    assert ig.instagram_webhook(payload("wh-mentions.json")).status_code == 200
    card = card_saying(ig, "kettle leaks")
    assert "*Instagram* mention" in card_text(card)
    [case] = cases(ig)
    ig.click("U0AGENT", Action.APPROVE, case.id, message_ts=card["ts"])
    [sent] = ig.graph.wait_for(lambda: ig.graph.ig_mention_replies, what="the mention reply")
    assert sent["comment_id"] == "17887498072083520" and sent["media_id"] == theirs


def test_a_live_comment_is_answered_in_the_live_not_through_the_api(ig):
    ig.graph.add_ig_media("Live: kettle launch", live=True, id="17923456780005678")
    ig.graph.add_ig_comment("17923456780005678", "sound is broken on the stream, can't hear anything", MAYA,
                            id="17854321098765432")
    assert ig.instagram_webhook(payload("wh-livecomments.json")).status_code == 200
    card = card_saying(ig, "sound is broken")
    assert labels(card)[:2] == ["Reply on Instagram", "Mark replied"]


def test_polling_is_the_fallback_and_a_late_webhook_is_the_same_card(ig):
    ig.graph.add_ig_comment(MEDIA, TEXT, MAYA, id=COMMENT)
    ig.graph.add_ig_comment(MEDIA, "Thanks for the quick answer!", ACCOUNT)  # our own: never a case
    ig.poll("instagram")
    assert ig.instagram_webhook(payload("wh-comments.json")).status_code == 200
    ig.poll("instagram")
    card_saying(ig, "still nothing")
    assert len(ig.cards()) == 1 and len(cases(ig)) == 1


def test_move_to_dm_sends_one_private_reply_per_comment(ig):
    ig.graph.add_ig_comment(MEDIA, TEXT, MAYA, id=COMMENT)
    ig.poll("instagram")
    [case] = cases(ig)
    card = card_saying(ig, "still nothing")
    assert "Instagram Direct" in card_text(card)
    ig.submit("U0AGENT", View.MOVE_TO_DM.value, case.id,
              {Block.PUBLIC.value: "We've sent you a message.", Block.PRIVATE.value: "Hi Maya, can you send your order number?"})
    [private] = ig.graph.wait_for(lambda: ig.graph.ig_private_replies, what="the private reply")
    assert private["comment_id"] == COMMENT and "order number" in private["text"]
    ig.graph.wait_for(lambda: ig.graph.ig_replies_to(COMMENT), what="the public reply")
    network = ig.rt.networks["instagram"]
    from bot.flows import workflows

    assert "already sent" in network.private_reply_blocker(workflows.target_of(cases(ig)[0]), datetime.now(timezone.utc))


def test_webhooks_are_signed_with_the_app_secret_and_the_handshake_uses_the_verify_token(ig):
    assert ig.instagram_webhook(payload("wh-comments.json"), signature="sha256=" + "0" * 64).status_code == 403
    with requests.Session() as http:
        http.trust_env = False
        ok = http.get(f"{ig.url}/webhooks/instagram", params={"hub.mode": "subscribe", "hub.verify_token": FB_VERIFY_TOKEN,
                                                              "hub.challenge": "1158201444"}, timeout=5)
        bad = http.get(f"{ig.url}/webhooks/instagram", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                               "hub.challenge": "1158201444"}, timeout=5)
    assert (ok.status_code, ok.text) == (200, "1158201444") and bad.status_code == 403
    page_delivery = {"object": "page", "entry": [{"id": ACCOUNT, "changes": []}]}
    assert ig.instagram_webhook(page_delivery).status_code == 200  # not ours to read: logged, and Meta keeps the subscription
    assert cases(ig) == []


def test_instagram_is_off_without_an_account_id_and_has_its_own_sla_key(stack, tmp_path):
    assert "instagram" not in stack.rt.networks
    path = tmp_path / "socialdesk.toml"
    path.write_text('[sla]\ninstagram = "30m"\n\n[sla.urgent]\ninstagram = "10m"\n', encoding="utf-8")
    config = load_file_config(path)
    assert config.sla.for_network("instagram") == timedelta(minutes=30)
    assert config.sla.target("instagram", "urgent") == timedelta(minutes=10)
    assert config.sla.for_network("x") == timedelta(minutes=15)
    path.write_text('[sla]\ninstagramm = "30m"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match='unknown key "instagramm"'):
        load_file_config(path)


def test_a_text_status_update_is_refused_on_instagram_with_the_reason(ig):
    from bot.networks.base import Rejected

    with pytest.raises(Rejected, match="no text-only posts"):
        ig.rt.networks["instagram"].post_status("We're looking into it")
    assert not ig.graph.received("publish")
