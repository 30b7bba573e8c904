"""Triage never holds SQLite's write lock through the classifier, and yields it to a waiting webhook store.

A webhook is acknowledged only once its post is committed, so every write
transaction of the background triage is a wait for the network's next delivery.
"""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timezone
from types import SimpleNamespace

from sqlalchemy import func, select

from bot.config import FileConfig
from bot.domain import ingest
from bot.domain.posts import Author, Post
from bot.flows import workflows
from storage import models as m

ANGRY = [
    "@acme my order never arrived and nobody answers my emails. I want a refund",
    "@acme still no refund, this is the worst service I have ever had",
    "@acme third time asking: where is my money? your support ignores me",
    "@acme I was charged twice and the app keeps crashing at checkout",
]


def flood(n: int, *, start: int = 0, authors: int = 1) -> list[Post]:
    """One (or a few) angry customers posting again and again, as in a crisis."""
    now = datetime.now(timezone.utc)
    return [Post(network="x", external_id=str(9000 + start + i), text=f"{ANGRY[i % len(ANGRY)]} #{start + i}",
                 author=Author(external_id=f"angry{i % authors}", handle=f"angry{i % authors}", name="Angry"), created_at=now)
            for i in range(n)]


def runtime(db):
    return SimpleNamespace(db=db, config=FileConfig(), channel="C0CASES", stopping=threading.Event())


def write_lock_is_free(db) -> bool:
    """Another connection takes the write lock at once (no busy wait): nobody holds it."""
    connection = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def test_a_repeat_complainer_is_counted_without_reading_the_posts_again(db):
    with db.session() as session:
        ingest.store(session, flood(12), own_ids=set())
    calls = []

    def classifier(items):
        calls.append(([item.prior_complaints for item in items], write_lock_is_free(db)))
        return ingest.classify_all(items)

    result = workflows.triage_stored(runtime(db), batch=64, classifier=classifier)
    assert len(result.new_cases) == 12
    assert all(free for _, free in calls), "the classifier ran inside a write transaction"
    # The batch was triaged once, with no earlier complaint; settle counted the cases opened before each post.
    assert [priors for priors, _ in calls] == [[0] * 12]
    with db.session() as session:
        reasons = [c.reasons for c in session.scalars(select(m.Case).order_by(m.Case.id))]
        assert session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state != ingest.DONE)) == 0
    one_by_one = [ingest.classify(p.text, prior_complaints=n).reasons for n, p in enumerate(flood(12))]
    assert reasons == [list(r) for r in one_by_one]


def test_settle_stops_between_posts_when_a_webhook_waits_and_the_rest_stay_claimed(db):
    rt = runtime(db)
    with db.session() as session:
        ingest.store(session, flood(6, authors=6), own_ids=set())
    with db.writing() as session:
        ids = ingest.claim(session, "me", limit=10)
    with db.session() as session:
        outcomes = dict(zip(ids, ingest.classify_all(ingest.to_triage(session, ids))))
    with db.writing() as session:
        done = ingest.settle(session, "me", outcomes, config=rt.config, channel=rt.channel, stop_early=lambda: True)
    assert len(done.new_cases) == 1 and done.unsettled == ids[1:]
    with db.session() as session:
        states = dict(session.execute(select(m.Post.id, m.Post.triage_state)).all())
        claims = set(session.scalars(select(m.Post.triage_claim).where(m.Post.id.in_(ids[1:]))))
    assert states[ids[0]] == ingest.DONE and {states[i] for i in ids[1:]} == {ingest.CLAIMED} and claims == {"me"}
    with db.writing() as session:  # the holder settles the rest in the next transaction, each post once
        rest = ingest.settle(session, "me", {i: outcomes[i] for i in done.unsettled}, config=rt.config, channel=rt.channel)
    assert len(rest.new_cases) == 5 and not rest.unsettled
    with db.session() as session:
        assert session.scalar(select(func.count(m.Case.id))) == 6



def test_complaints_of_a_batch_that_failed_to_settle_are_not_counted(db):
    """A batch whose write fails is settled again one by one: only the complaint cases that were committed count."""
    with db.session() as session:
        ingest.store(session, flood(4), own_ids=set())

    def classifier(items):
        outcomes = ingest.classify_all(items)
        # The first post's case cannot be written (its reasons are not JSON), so the batch's transaction fails.
        outcomes[0] = replace(outcomes[0], reasons=(*outcomes[0].reasons, object()))
        return outcomes

    result = workflows.triage_stored(runtime(db), batch=64, classifier=classifier)
    assert result.set_aside == 1 and len(result.new_cases) == 3
    with db.session() as session:
        reasons = [c.reasons for c in session.scalars(select(m.Case).order_by(m.Case.id))]
    # The three written cases count each other, and neither the failed post nor the rolled-back attempt.
    one_by_one = [ingest.classify(p.text, prior_complaints=n).reasons for n, p in enumerate(flood(4)[1:])]
    assert reasons == [list(r) for r in one_by_one]
