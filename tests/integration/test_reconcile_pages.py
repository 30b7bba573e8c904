"""Looking for a message whose answer was lost reads every page, even when Slack gives 15 messages a page."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import utcnow
from bot.domain.states import SlackState
from bot.emulators.stack import CHANNEL
from storage import models as m

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund"


def case_of(stack) -> m.Case:
    with stack.rt.db.session() as session:
        return session.scalars(select(m.Case)).one()


def test_a_thread_note_whose_answer_was_lost_is_found_behind_pages_of_replies(stack, customer):
    stack.slack.page_cap = 15  # a commercially distributed app outside the Marketplace, since 2025-05-29
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = case_of(stack)
    for i in range(40):  # the team has talked in the card's thread: the note lands on its fourth page
        stack.slack.add_message(CHANNEL, f"looking {i}", "U0OTHER", thread_ts=case.card_ts)
    note = stack.rt.publisher.enqueue(CHANNEL, "note", case.id, "<@U0AGENT> is on it")
    stack.rt.publisher.deliver_pending()
    with stack.rt.db.session() as session:  # posted, but the bot never heard back: it still says "posting"
        session.execute(update(m.SlackMessage).where(m.SlackMessage.id == note).values(
            state=SlackState.POSTING, ts=None, claimed_at=utcnow() - timedelta(minutes=2)))
    for i in range(40):  # and the channel moved on
        stack.slack.add_message(CHANNEL, f"chatter {i}", "U0OTHER")
    assert stack.rt.publisher.reconcile_messages() == 1
    assert stack.rt.publisher.deliver_pending() == 0  # found, so not posted again
    notes = [msg for msg in stack.slack.messages(CHANNEL) if msg.get("text") == "<@U0AGENT> is on it"]
    assert len(notes) == 1
    with stack.rt.db.session() as session:
        row = session.get(m.SlackMessage, note)
        assert row.state == SlackState.POSTED and row.ts == notes[0]["ts"]
    assert len(stack.slack.calls("conversations.replies")) >= 3


def test_a_card_whose_answer_was_lost_is_found_behind_pages_of_15(stack, customer):
    stack.slack.page_cap = 15
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = case_of(stack)
    with stack.rt.db.session() as session:
        session.execute(update(m.Case).where(m.Case.id == case.id).values(card_ts=None))
        session.execute(update(m.Post).where(m.Post.case_id == case.id).values(
            slack_state=SlackState.POSTING, slack_ts=None, slack_claimed_at=utcnow() - timedelta(minutes=2)))
    for i in range(50):
        stack.slack.add_message(CHANNEL, f"chatter {i}", "U0OTHER")
    assert stack.rt.publisher.reconcile() == 1
    assert stack.rt.publisher.deliver_pending() == 0
    cards = [msg for msg in stack.slack.messages(CHANNEL) if (msg.get("metadata") or {}).get("event_type") == "socialdesk_post"]
    assert len(cards) == 1 and case_of(stack).card_ts == cards[0]["ts"]
    assert len(stack.slack.calls("conversations.history")) >= 4
