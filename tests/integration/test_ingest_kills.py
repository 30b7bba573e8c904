"""`kill -9` of a real `socialdesk run` during ingest: no post lost, none triaged or carded twice.

The kill moments are random (seeded): whatever the process was doing (fetching,
storing with the cursor, triaging a claimed batch, settling, carding), the next
process on the same database finishes the work exactly once.
"""
from __future__ import annotations

import random
import signal
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from bot.emulators.process import BotProcess
from bot.emulators.stack import X_SECRET
from bot.emulators.x import sign_webhook
from storage import models as m

pytestmark = pytest.mark.timeout(300)
COMPLAINT = "@acme my order never arrived and nobody answers my emails, I want a refund"


def settled(stack, expected: int) -> bool:
    with stack.rt.db.session() as session:
        done = session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state.in_(("done", "set_aside"))))
        return done == expected


def unfinished(stack, delivered: int) -> tuple[int, int]:
    with stack.rt.db.session() as session:
        stored = session.scalar(select(func.count(m.Post.id)))
        waiting = session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state.in_(("new", "claimed"))))
    return delivered - stored, waiting


def check_each_post_once(stack, expected: int) -> None:
    with stack.rt.db.session() as session:
        rows = session.execute(select(m.Post.id, m.Post.case_id, m.Post.slack_state, m.Post.triage_state)).all()
        events = session.execute(select(m.AuditEvent.action, m.AuditEvent.detail).where(m.AuditEvent.action.in_(("opened", "follow_up")))).all()
        cases = session.scalar(select(func.count(m.Case.id)))
    assert len(rows) == expected, "every delivered post is stored once"
    assert {r.triage_state for r in rows} <= {"done", "set_aside"}, "every stored post is triaged"
    assert all(r.case_id is not None or r.slack_state in ("lane", "hidden") for r in rows), "every post reaches a person"
    per_post = Counter(detail["post_id"] for _, detail in events)
    assert all(n == 1 for n in per_post.values()), f"a post was settled twice: {[p for p, n in per_post.items() if n > 1]}"
    assert sum(1 for action, _ in events if action == "opened") == cases
    carded = Counter(card["metadata"]["event_payload"]["post_id"] for card in stack.cards()
                     if "post_id" in (card.get("metadata") or {}).get("event_payload", {}))
    assert all(n == 1 for n in carded.values()), "a post was carded twice"


def test_kill_9_at_random_moments_of_polling_and_triage_loses_no_post_and_settles_none_twice(stack, tmp_path):
    rnd = random.Random(15)
    authors = [stack.x.add_user(username=f"kill{i}") for i in range(25)]
    total, interrupted = 0, []
    for round_ in range(4):
        for _ in range(60 if round_ == 0 else 25):
            stack.x.add_tweet(f"{COMPLAINT} ({total})", authors[total % len(authors)])
            total += 1
        bot = BotProcess(stack, tmp_path / "bot.log", extra_env={"POLL_INTERVAL_SECONDS": "5"}).start().wait_ready()
        stack.x.wait_for(lambda: stack.x.received(), timeout=30, what="the first poll")  # the scheduler is running
        # A random moment of the poll under way: fetch, store with the cursor, triage, settle or card.
        time.sleep(rnd.uniform(0.0, 1.5))  # the kill moment itself, not a wait for a condition
        bot.signal(signal.SIGKILL)
        bot.wait(10)
        interrupted.append(unfinished(stack, total))
    print("unfinished work left by each kill (not stored, not triaged):", interrupted)
    final = BotProcess(stack, tmp_path / "bot.log", extra_env={"POLL_INTERVAL_SECONDS": "5"}).start().wait_ready()
    try:
        stack.slack.wait_for(lambda: settled(stack, total), timeout=120, what=f"all {total} posts triaged")
    finally:
        final.stop()
    check_each_post_once(stack, total)


def test_a_webhook_acknowledged_then_killed_at_once_is_triaged_and_carded_by_the_next_process(stack, tmp_path):
    author = stack.x.add_user(username="hooked")
    # Not a mention (a reply in a thread of ours): only the webhook brings it, no poll finds it.
    tweet_id = stack.x.add_tweet(COMPLAINT.replace("@acme ", ""), author)
    body = stack.x.account_activity_payload([tweet_id])
    bot = BotProcess(stack, tmp_path / "bot.log", extra_env={"POLL_INTERVAL_SECONDS": "3600"}).start().wait_ready()
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(f"{bot.url}/webhooks/x", data=body, timeout=10,
                             headers={"Content-Type": "application/json", "x-twitter-webhooks-signature": sign_webhook(X_SECRET, body)})
    bot.signal(signal.SIGKILL)  # within a millisecond of the 200: triage and carding had no time to run
    bot.wait(10)
    assert response.status_code == 200
    with stack.rt.db.session() as session:
        assert session.scalars(select(m.Post.external_id)).all() == [tweet_id]  # durable before the 200
    again = BotProcess(stack, tmp_path / "bot.log", extra_env={"POLL_INTERVAL_SECONDS": "3600"}).start().wait_ready()
    try:
        stack.slack.wait_for(lambda: len(stack.cards()) == 1, timeout=60, what="the card, from the next process")
    finally:
        again.stop()
    check_each_post_once(stack, 1)
