"""The card always catches up: failed edits are retried, newest state only; reconcile reads every page of history."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from bot.clock import utcnow
from bot.domain.states import SlackState
from bot.emulators.stack import CHANNEL, card_text
from bot.slack import blocks
from bot.slack.ids import Action
from storage import models as m

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund"


def the_case(stack) -> m.Case:
    with stack.rt.db.session() as session:
        return session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies))).one()


def cards(stack) -> list[dict]:
    return [c for c in stack.cards() if (c.get("metadata") or {}).get("event_type") == "socialdesk_post"]


def shows_the_database(stack) -> bool:
    case = the_case(stack)
    [card] = cards(stack)
    return blocks.status_line(case) in card_text(card) and case.card_shown == case.card_version


def test_a_card_edit_slack_refused_is_retried_until_the_card_shows_the_reply(stack, customer):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    stack.slack.fail("chat.update", status=500, times=10)  # every edit of this approval fails
    assert stack.click("U0AGENT", Action.APPROVE, the_case(stack).id).status_code == 200
    stack.x.wait_for(lambda: the_case(stack).status == "answered" and len(stack.slack.received("chat.update")) >= 2
                     and the_case(stack).card_lease is None, what="reply sent, both card edits refused")
    assert "Replied by" not in card_text(stack.cards()[0])  # the card lags behind...
    stack.slack.clear_faults()  # ...Slack works again
    assert stack.rt.publisher.sync_stale() == 1
    assert "Replied by" in card_text(stack.cards()[0]) and shows_the_database(stack)
    assert stack.rt.publisher.sync_stale() == 0  # nothing left to do: no edit is sent twice


def test_racing_edits_leave_the_card_on_the_newest_state(stack, customer):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case_id = the_case(stack).id
    stack.slack.fail("chat.update", status=None, delay=0.3, times=3)  # slow edits, so they overlap

    def change_and_refresh(user: str):
        with stack.rt.db.session() as session:
            session.execute(update(m.Case).where(m.Case.id == case_id).values(claimed_by=user, claimed_at=utcnow()))
        stack.rt.publisher.refresh(case_id)

    threads = [threading.Thread(target=change_and_refresh, args=(f"U{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    stack.rt.publisher.sync_stale()
    assert shows_the_database(stack)


def test_a_lease_left_by_a_dead_process_is_taken_over(stack, customer):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case_id = the_case(stack).id
    with stack.rt.db.session() as session:
        session.execute(update(m.Case).where(m.Case.id == case_id).values(
            card_lease="dead", card_lease_until=utcnow() + timedelta(seconds=60), claimed_by="U1", card_version=m.Case.card_version + 1))
    assert stack.rt.publisher.sync_stale() == 0
    with stack.rt.db.session() as session:
        session.execute(update(m.Case).where(m.Case.id == case_id).values(card_lease_until=utcnow() - timedelta(seconds=1)))
    assert stack.rt.publisher.sync_stale() == 1 and shows_the_database(stack)


def test_reconcile_finds_a_card_whose_answer_was_lost_behind_more_than_a_page_of_messages(stack, customer):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = the_case(stack)
    post_id = case.root.id
    # The card went out but the bot never heard back: it still says "posting".
    with stack.rt.db.session() as session:
        session.execute(update(m.Case).where(m.Case.id == case.id).values(card_ts=None))
        session.execute(update(m.Post).where(m.Post.id == post_id).values(
            slack_state=SlackState.POSTING, slack_ts=None, slack_claimed_at=utcnow() - timedelta(minutes=2)))
    for i in range(450):  # a busy channel: more than two pages of history since
        stack.slack.add_message(CHANNEL, f"chatter {i}", "U0OTHER")
    assert stack.rt.publisher.reconcile() == 1
    assert stack.rt.publisher.deliver_pending() == 0
    assert len(cards(stack)) == 1 and the_case(stack).card_ts == cards(stack)[0]["ts"]
    pages = stack.slack.calls("conversations.history")
    assert len(pages) >= 3 and all(p.get("limit") in (200, "200") for p in pages)
