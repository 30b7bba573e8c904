"""A reply whose outcome is unknown is looked up on the network before anything is sent again; the card never lies."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from bot.clock import utcnow
from bot.domain.states import CaseStatus, ReplyStatus
from bot.emulators.stack import card_text
from bot.flows import workflows
from bot.slack.ids import Action
from storage import models as m

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund"


def the_case(stack) -> m.Case:
    with stack.rt.db.session() as session:
        return session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies))).one()


def settled(stack) -> m.Case:
    stack.x.wait_for(lambda: the_case(stack).status in (CaseStatus.ANSWERED, CaseStatus.FAILED), what="case settled")
    stack.x.wait_for(lambda: the_case(stack).card_shown >= the_case(stack).card_version and the_case(stack).card_lease is None,
                     what="card caught up")
    return the_case(stack)


def card(stack) -> str:
    return card_text(stack.cards()[0])


def test_x_took_the_reply_but_the_answer_was_lost_it_is_found_and_recorded_with_its_link(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    stack.x.fail("create_tweet", status=None, drop=True)  # posted on X, but the bot never hears back
    stack.click("U0AGENT", Action.APPROVE, the_case(stack).id)
    case = settled(stack)
    [reply] = stack.x.replies_to(tweet_id)
    assert case.status == CaseStatus.ANSWERED and case.replies[0].external_id == reply["id"]
    assert "Replied by" in card(stack) and reply["id"] in card(stack)


def test_when_the_lookup_fails_the_card_says_may_have_been_sent_and_retry_finds_it_instead_of_posting_again(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    stack.x.fail("create_tweet", status=None, drop=True)
    stack.x.fail("search", status=503)  # and X cannot tell us right away
    stack.click("U0AGENT", Action.APPROVE, the_case(stack).id)
    case = settled(stack)
    assert case.status == CaseStatus.FAILED
    assert "Nothing went out" not in card(stack) and "May have been sent" in card(stack) and "could not look on X" in card(stack)
    assert "Retry" in card(stack)
    stack.click("U0AGENT", Action.RETRY, case.id)
    stack.x.wait_for(lambda: the_case(stack).status == CaseStatus.ANSWERED, what="retry settled")
    assert len(stack.x.replies_to(tweet_id)) == 1  # found, not posted a second time
    assert [c["text"] for c in stack.x.created] == [stack.x.replies_to(tweet_id)[0]["text"]]
    settled(stack)
    assert "Replied by" in card(stack)


def test_retry_after_a_lookup_that_found_nothing_sends_once(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case_id = the_case(stack).id
    approval = workflows.approve(stack.rt, case_id, "U0AGENT", {"public": "Sorry, we are on it"})
    with stack.rt.db.session() as session:  # the process died right after claiming the reply
        session.execute(update(m.Reply).where(m.Reply.id == approval.reply_ids[0]).values(
            status=ReplyStatus.SENDING, next_attempt_at=utcnow() - timedelta(minutes=5)))
    workflows.process_outbox(stack.rt)
    case = settled(stack)
    assert case.status == CaseStatus.FAILED and "the bot stopped while sending it" in card(stack)
    assert "found no reply from the brand" in card(stack) and "Nothing went out" not in card(stack)
    stack.click("U0AGENT", Action.RETRY, case_id)
    stack.x.wait_for(lambda: the_case(stack).status == CaseStatus.ANSWERED, what="retry sent")
    assert len(stack.x.replies_to(tweet_id)) == 1


def test_a_send_cut_off_by_a_crash_after_x_took_it_is_found_after_restart(stack, customer):
    tweet_id = stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    case = the_case(stack)
    approval = workflows.approve(stack.rt, case.id, "U0AGENT", {"public": "Sorry, we are on it"})
    stack.rt.networks["x"].reply_public(workflows.target_of(case), "Sorry, we are on it")  # went out...
    with stack.rt.db.session() as session:  # ...and the process died before recording it
        session.execute(update(m.Reply).where(m.Reply.id == approval.reply_ids[0]).values(
            status=ReplyStatus.SENDING, next_attempt_at=utcnow() - timedelta(minutes=5)))
    stack.restart()
    workflows.process_outbox(stack.rt)
    case = settled(stack)
    assert case.status == CaseStatus.ANSWERED and len(stack.x.replies_to(tweet_id)) == 1
    assert "Replied by" in card(stack)
