"""X's February 2026 reply rule: a search hit that neither mentions nor quotes the brand is answered on X, not through the API."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.emulators.stack import card_text
from bot.emulators.x import NOT_SUMMONED_DETAIL
from bot.networks.base import Rejected, Target
from bot.slack.ids import Action
from storage import models as m

GRIPE = "acme support is useless, third week without my parcel"


def cases(stack) -> list[m.Case]:
    with stack.rt.db.session() as session:
        return list(session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).order_by(m.Case.id)))


def elements(card: dict) -> list[dict]:
    return [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def card_for(stack, words: str) -> dict:
    return stack.slack.wait_for(lambda: next((c for c in stack.cards() if words in card_text(c)), None), what=words)


def test_a_search_hit_that_does_not_summon_us_gets_reply_on_x_instead_of_approve(make_stack):
    stack = make_stack(search_query="acme")
    author = stack.x.add_user(username="sam", followers=120)
    tweet_id = stack.x.add_tweet(GRIPE, author)
    stack.poll()
    card = card_for(stack, "third week")
    labels = [e["text"]["text"] for e in elements(card)]
    assert labels[:2] == ["Reply on X", "Mark replied"] and "Approve" not in labels and "Edit" not in labels
    link = elements(card)[0]
    assert link["url"] == f"https://x.com/sam/status/{tweet_id}"
    assert "mention or quote @acme" in card_text(card)
    [case] = cases(stack)
    assert case.due_at is not None  # the SLA clock still runs

    # An Approve from an older card is refused and nothing reaches X.
    stack.click("U0AGENT", Action.APPROVE, case.id, message_ts=card["ts"])
    stack.slack.wait_for(lambda: stack.slack.received("chat.postEphemeral"), what="a refusal")
    assert stack.x.created == [] and cases(stack)[0].status == "open"

    # Reply on X claims it for whoever went there; Mark replied records the first response.
    stack.click("U0AGENT", Action.REPLY_ON_NETWORK, case.id, message_ts=card["ts"])
    stack.slack.wait_for(lambda: cases(stack)[0].claimed_by == "U0AGENT", what="claimed")
    stack.click("U0AGENT", Action.MARK_REPLIED, case.id, message_ts=card["ts"])
    stack.slack.wait_for(lambda: cases(stack)[0].status == "answered", what="answered")
    case = cases(stack)[0]
    assert case.answered_by == "U0AGENT" and case.first_response_at is not None and case.sla_met is True
    assert stack.x.created == []


def test_search_hits_that_mention_or_quote_us_keep_approve_and_are_answered_through_the_api(make_stack):
    stack = make_stack(search_query="acme")
    author = stack.x.add_user(username="sam")
    ours = stack.x.add_tweet("Our spring sale starts today", stack.x.brand_id)
    quoting = stack.x.add_tweet("acme this sale is a joke, my order from March is still missing", author, quotes=ours)
    stack.poll()
    card = card_for(stack, "still missing")
    assert [e["text"]["text"] for e in elements(card)][:3] == ["Approve", "Edit", "Move to DM"]
    [case] = [c for c in cases(stack) if c.root.external_id == quoting]
    assert not case.root.reply_blocker
    stack.click("U0AGENT", Action.APPROVE, case.id, message_ts=card["ts"])
    stack.x.wait_for(lambda: stack.x.replies_to(quoting), what="the reply on X")


def test_x_refuses_api_replies_to_posts_that_did_not_summon_us_and_the_adapter_says_so(stack):
    author = stack.x.add_user(username="sam")
    tweet_id = stack.x.add_tweet(GRIPE, author)
    network = stack.rt.networks["x"]
    from datetime import datetime, timezone

    try:
        network.reply_public(Target(tweet_id, author, "sam", datetime.now(timezone.utc), "search"), "Sorry to hear that")
    except Rejected as exc:
        assert NOT_SUMMONED_DETAIL in exc.message
    else:
        raise AssertionError("X took a reply its 2026 rule forbids")
    assert stack.x.created == []
