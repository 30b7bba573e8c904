"""A change made while another thread is finishing the card's edit still reaches the card, with no job to rescue it."""
from __future__ import annotations

from sqlalchemy import event, select, update

from bot.emulators.stack import card_text
from storage import models as m

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund"


def test_a_change_that_found_the_lease_taken_is_shown_by_the_holder(stack, customer):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    with stack.rt.db.session() as session:
        case_id = session.scalar(select(m.Case.id))
    bumped = []

    def claim_while_the_holder_lets_go(conn, cursor, statement, parameters, context, executemany):
        # The holder has shown the newest version and is about to release its lease: another
        # thread claims the case now, bumps the version, and finds the lease still taken.
        if not bumped and statement.startswith("UPDATE cases SET") and statement.endswith("AND cases.card_lease = ?"):
            bumped.append(True)
            conn.exec_driver_sql("UPDATE cases SET claimed_by = 'U0CLAIMER', card_version = card_version + 1 WHERE id = ?", (case_id,))

    event.listen(stack.rt.db.engine, "before_cursor_execute", claim_while_the_holder_lets_go)
    try:
        with stack.rt.db.session() as session:
            session.execute(update(m.Case).where(m.Case.id == case_id).values(priority="high"))
        assert stack.rt.publisher.refresh(case_id) is None
    finally:
        event.remove(stack.rt.db.engine, "before_cursor_execute", claim_while_the_holder_lets_go)
    assert bumped, "the race was not staged"
    with stack.rt.db.session() as session:
        case = session.get(m.Case, case_id)
        assert (case.card_shown, case.card_lease) == (case.card_version, None)
    assert "<@U0CLAIMER> is on it" in card_text(stack.cards()[0])
