"""Instagram looks before it resends: the account's reply under a comment is found through Graph's replies edge."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.domain.states import CaseStatus
from bot.emulators.stack import card_text
from bot.networks.base import CannotLook, NetworkError, Target
from bot.slack.ids import Action
from storage import models as m

MEDIA, MAYA = "17895695668004550", "17841405309211844"
TEXT = "Ordered the blue one 3 weeks ago and still nothing. @acme where is it??"


@pytest.fixture
def ig(make_stack):
    stack = make_stack(instagram=True)
    stack.graph.add_ig_user("maya.k", id=MAYA)
    stack.graph.add_ig_media("Our new blue kettle is here", id=MEDIA)
    return stack


def the_case(stack) -> m.Case:
    with stack.rt.db.session() as session:
        return session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies))).one()


def test_the_accounts_reply_under_that_comment_is_found_and_nobody_elses(ig):
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    comment = ig.graph.add_ig_comment(MEDIA, TEXT, MAYA)
    other = ig.graph.add_ig_comment(MEDIA, "love it", MAYA)
    network = ig.rt.networks["instagram"]
    target = Target(comment, MAYA, "maya.k", since, "comment", MEDIA)
    assert network.find_reply(target, "public", "So sorry, Maya", since) is None
    ig.graph.add_ig_comment(MEDIA, "same here!", ig.graph.add_ig_user("devon"), parent_id=comment)  # a customer's, not ours
    network.reply_public(Target(other, MAYA, "maya.k", since, "comment", MEDIA), "Thank you!")  # ours, elsewhere
    assert network.find_reply(target, "public", "So sorry, Maya", since) is None
    sent = network.reply_public(target, "So sorry, Maya")
    assert network.find_reply(target, "public", "So sorry, Maya", since).external_id == sent.external_id
    assert network.find_reply(target, "public", "So sorry, Maya", datetime.now(timezone.utc) + timedelta(minutes=5)) is None  # older


def test_what_instagram_cannot_show_is_said_plainly(ig):
    now = datetime.now(timezone.utc)
    comment = ig.graph.add_ig_comment(MEDIA, TEXT, MAYA)
    network = ig.rt.networks["instagram"]
    with pytest.raises(CannotLook, match="private reply"):
        network.find_reply(Target(comment, MAYA, "maya.k", now, "comment", MEDIA), "private", "hi", now)
    with pytest.raises(CannotLook, match="someone else's post"):
        network.find_reply(Target(comment, MAYA, "maya.k", now, "mention", MEDIA), "public", "hi", now)
    ig.graph.fail("ig_comment_replies", status=500)
    with pytest.raises(NetworkError):
        network.find_reply(Target(comment, MAYA, "maya.k", now, "comment", MEDIA), "public", "hi", now)


def test_a_reply_instagram_took_without_answering_is_found_and_recorded_not_sent_again(ig):
    comment = ig.graph.add_ig_comment(MEDIA, TEXT, MAYA)
    assert ig.instagram_webhook(ig.graph.ig_webhook(ig.graph.ig_comment_change(comment))).status_code == 200
    ig.slack.wait_for(lambda: ig.cards(), what="the card")
    ig.graph.fail("ig_replies", status=None, drop=True)  # posted on Instagram, but the bot never hears back
    ig.click("U0AGENT", Action.APPROVE, the_case(ig).id)
    ig.graph.wait_for(lambda: the_case(ig).status in (CaseStatus.ANSWERED, CaseStatus.FAILED), what="settled")
    [reply] = ig.graph.ig_replies_to(comment)
    case = the_case(ig)
    assert case.status == CaseStatus.ANSWERED and case.replies[0].external_id == reply["id"]
    ig.slack.wait_for(lambda: "Replied by" in card_text(ig.cards()[0]), what="card shows the reply")


def test_when_instagram_cannot_be_asked_the_card_says_may_have_been_sent_and_retry_finds_it(ig):
    comment = ig.graph.add_ig_comment(MEDIA, TEXT, MAYA)
    assert ig.instagram_webhook(ig.graph.ig_webhook(ig.graph.ig_comment_change(comment))).status_code == 200
    ig.slack.wait_for(lambda: ig.cards(), what="the card")
    ig.graph.fail("ig_replies", status=None, drop=True)
    ig.graph.fail("ig_comment_replies", status=503)
    ig.click("U0AGENT", Action.APPROVE, the_case(ig).id)
    ig.graph.wait_for(lambda: the_case(ig).status == CaseStatus.FAILED, what="failed, outcome unknown")
    card = ig.slack.wait_for(lambda: next((c for c in ig.cards() if "May have been sent" in card_text(c)), None), what="may have been sent")
    assert "Nothing went out" not in card_text(card) and "could not look on Instagram" in card_text(card)
    ig.click("U0AGENT", Action.RETRY, the_case(ig).id)
    ig.graph.wait_for(lambda: the_case(ig).status == CaseStatus.ANSWERED, what="retry found it")
    assert len(ig.graph.ig_replies_to(comment)) == 1  # found, not posted a second time
