"""Nothing addressed to the brand vanishes: the lane, hidden posts, review and Make a case, over real HTTP."""
from __future__ import annotations

import json

from sqlalchemy import select

from bot.clock import utcnow
from bot.config import FileConfig, SavedReply
from bot.domain.posts import Author, Post
from bot.flows import workflows
from bot.emulators.stack import CHANNEL, card_text
from bot.slack.ids import Action, post_ref
from storage import models as m

AGENT = "U0AGENT"


def post_row(stack, text_start: str) -> m.Post:
    with stack.rt.db.session() as session:
        return session.scalars(select(m.Post).where(m.Post.text.startswith(text_start))).one()


def card_saying(stack, words: str) -> dict:
    return stack.slack.wait_for(lambda: next((c for c in stack.cards() if words in card_text(c)), None), timeout=10,
                                what=f"a card saying {words!r}")


def lane_saying(stack, words: str) -> dict:
    return stack.slack.wait_for(lambda: next((msg for msg in stack.lanes() if words in card_text(msg)), None), timeout=10,
                                what=f"the lane saying {words!r}")


def lane_buttons(message: dict) -> list[dict]:
    return [b["accessory"] for b in message["blocks"] if b.get("accessory", {}).get("action_id") == Action.MAKE_CASE.value]


def test_other_posts_go_to_one_lane_message_kept_current_and_make_a_case_gives_a_card(stack, customer):
    stack.x.add_tweet("@acme my order never arrived and nobody answers my emails", customer)
    stack.x.add_tweet("@acme just landed in Paris with my sister", customer)
    result = stack.poll()
    assert len(result.new_cases) == 1 and result.lane == 1
    assert len(stack.cards()) == 1
    [lane] = stack.lanes()
    assert "1 more post to glance at" in card_text(lane)
    assert "just landed in Paris" in card_text(lane)

    other = stack.x.add_user(username="sam_p", name="Sam <!channel> P", followers=10)
    stack.x.add_tweet("@acme watching the match tonight <@U0BOSS>", other)
    stack.poll()
    [lane] = stack.lanes()  # still one message, edited in place
    text = card_text(lane)
    assert "2 more posts to glance at" in text and "watching the match" in text
    assert "<!channel>" not in text and "<@U0BOSS>" not in text  # escaped like on cards
    assert len(stack.slack.updates(CHANNEL, lane["ts"])) == 1

    stack.poll()  # nothing new: no call to Slack for the lane
    assert len(stack.slack.updates(CHANNEL, lane["ts"])) == 1

    paris = post_row(stack, "@acme just landed")
    match = post_row(stack, "@acme watching the match")
    assert [b["value"] for b in lane_buttons(lane)] == [post_ref(match.id), post_ref(paris.id)]  # newest first
    response = stack.click(AGENT, Action.MAKE_CASE, 0, value=post_ref(paris.id), message_ts=lane["ts"])
    assert response.status_code == 200
    card = card_saying(stack, "just landed in Paris")
    assert "made a case from the lane" in card_text(card) and len(stack.cards()) == 2
    lane = lane_saying(stack, "1 more post to glance at")
    assert "just landed" not in card_text(lane) and len(stack.lanes()) == 1

    # a second click (or a second person) does not make a second case
    stack.click(AGENT, Action.MAKE_CASE, 0, value=post_ref(paris.id), message_ts=lane["ts"])
    stack.slack.wait_for(lambda: any("already made a case" in e["text"] for e in stack.slack.ephemerals), what="told it is a case already")
    assert len(stack.cards()) == 2

    # clearing the lane keeps the posts reviewable
    clear = [e for b in lane["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == Action.CLEAR_LANE.value][0]
    stack.click(AGENT, Action.CLEAR_LANE, 0, value=clear["value"], message_ts=lane["ts"])
    lane_saying(stack, "Nothing to glance at")
    body = stack.command(AGENT, "review glanced").json()
    assert "watching the match" in json.dumps(body)


def test_spam_and_own_posts_are_hidden_counted_and_can_be_refiled(stack, customer):
    stack.x.add_tweet("@acme FREE FOLLOWERS!!! click here to win a giveaway", customer)
    result = stack.poll()
    assert result.dropped == 1 and not result.new_cases and result.lane == 0
    # The X adapter leaves the brand's own tweets out; one that reaches ingest (a webhook echo) is kept hidden.
    own = Post(network="x", external_id="9001", text="@acme thanks for the follow, see you at the launch",
               author=Author(external_id=stack.x.brand_id, handle="acme"), created_at=utcnow())
    assert workflows.ingest_pushed(stack.rt, "x", [own]).dropped == 1
    assert workflows.ingest_pushed(stack.rt, "x", [own]).duplicates == 1
    assert stack.cards() == [] and stack.lanes() == []

    body = stack.command(AGENT, "review").json()
    text = json.dumps(body)
    assert "spam: *1*" in text and "our own posts: *1*" in text and "FREE FOLLOWERS" in text
    own = stack.command(AGENT, "review own").json()
    assert "see you at the launch" in json.dumps(own)
    assert Action.MAKE_CASE.value not in json.dumps(own)  # the brand's own posts are not cases

    spam = post_row(stack, "@acme FREE FOLLOWERS")
    stack.click(AGENT, Action.MAKE_CASE, 0, value=post_ref(spam.id))
    card_saying(stack, "FREE FOLLOWERS")
    assert "/socialdesk review" in stack.command(AGENT, "help").json()["text"]
    assert "is not one of them" in stack.command(AGENT, "review everything").json()["text"]


def test_a_post_in_another_language_gets_a_card_with_its_language_and_a_saved_reply_in_it(make_stack):
    config = FileConfig(saved_replies=[
        SavedReply(name="Pedido", text="Hola {first_name}, lo sentimos. Envíanos un DM con tu número de pedido.", category="complaint", lang="es"),
        SavedReply(name="Order", text="Hi {first_name}, sorry! DM us your order number.", category="complaint"),
    ])
    stack = make_stack(config)
    author = stack.x.add_user(username="lucia_m", name="Lucía Martín", followers=900)
    stack.x.add_tweet("@acme mi pedido nunca llegó y nadie responde", author)
    stack.poll()
    [card] = stack.cards()
    text = card_text(card)
    assert "Spanish" in text and "triage not trained on this language" in text
    assert "Hola Lucía, lo sentimos" in text
