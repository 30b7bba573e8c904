"""An approval is in the outbox before Slack hears the click acknowledged, and the ack never waits past 2.5 s."""
from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import select

from bot.domain.states import CaseStatus
from bot.slack.ids import Action
from storage import models as m

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund"


def case_id(stack) -> int:
    with stack.rt.db.session() as session:
        return session.scalars(select(m.Case.id)).one()


def replies(stack) -> list[str]:
    with stack.rt.db.session() as session:
        return list(session.scalars(select(m.Reply.status)))


def hold_write_lock(stack, seconds: float) -> threading.Event:
    """Another writer holds SQLite's write lock for `seconds` (reads still work: WAL)."""
    held = threading.Event()
    path = stack.rt.db.url.removeprefix("sqlite:///")

    def hold():
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        connection.commit()
        connection.close()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
    return held


def test_the_click_is_acknowledged_only_once_the_approval_is_written(stack, customer):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    target = case_id(stack)
    hold_write_lock(stack, 1.0)  # the approval's write has to wait for the lock
    started = time.monotonic()
    response = stack.click("U0AGENT", Action.APPROVE, target, timeout=10)
    took = time.monotonic() - started
    assert response.status_code == 200
    # Acknowledged after the lock was released, with the reply already in the outbox.
    assert took >= 0.9 and replies(stack), (took, replies(stack))
    stack.x.wait_for(lambda: replies(stack) == ["sent"], timeout=20, what="the reply went out")


def test_a_slow_database_still_gets_the_click_acknowledged_within_slacks_3_seconds(stack, customer):
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    target = case_id(stack)
    hold_write_lock(stack, 4.0)
    started = time.monotonic()
    response = stack.click("U0AGENT", Action.APPROVE, target, timeout=10)
    took = time.monotonic() - started
    assert response.status_code == 200 and took < 3.0, took
    stack.x.wait_for(lambda: replies(stack) == ["sent"], timeout=30, what="the approval landed once the lock was free")
    with stack.rt.db.session() as session:
        assert session.get(m.Case, target).status == CaseStatus.ANSWERED
