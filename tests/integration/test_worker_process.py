"""`socialdesk run` is a web process and a worker process (scheduler and triage) that lives and dies with it.

The web process only stores a delivery and acknowledges it; the worker triages
and cards it, and polls.  Either process can die at any moment: nothing is lost.
"""
from __future__ import annotations

import os
import signal

import pytest
import requests
from sqlalchemy import select

from bot.emulators.process import BotProcess
from bot.emulators.stack import X_SECRET
from bot.emulators.x import sign_webhook
from storage import models as m

pytestmark = pytest.mark.timeout(180)
COMPLAINT = "@acme my order never arrived and nobody answers my emails, I want a refund"
QUIET = {"POLL_INTERVAL_SECONDS": "3600"}  # only webhooks bring posts


def deliver(stack, bot: BotProcess, text: str) -> str:
    """A signed X webhook with one post that no poll finds (a reply in a thread of ours)."""
    tweet_id = stack.x.add_tweet(text, stack.x.add_user(username="hooked"))
    body = stack.x.account_activity_payload([tweet_id])
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(f"{bot.url}/webhooks/x", data=body, timeout=10,
                             headers={"Content-Type": "application/json", "x-twitter-webhooks-signature": sign_webhook(X_SECRET, body)})
    assert response.status_code == 200
    return tweet_id


def triage_state(stack, tweet_id: str) -> str | None:
    with stack.rt.db.session() as session:
        return session.scalar(select(m.Post.triage_state).where(m.Post.external_id == tweet_id))


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] == "Z"  # exited, not yet reaped


def test_the_web_process_stores_and_acknowledges_and_its_worker_cards(stack, tmp_path):
    bot = BotProcess(stack, tmp_path / "bot.log", extra_env=QUIET).start().wait_ready()
    try:
        stack.slack.wait_for(lambda: bot.worker_pid() is not None, timeout=30, what="the worker process")
        worker = bot.worker_pid()
        os.kill(worker, signal.SIGSTOP)  # the worker frozen: the web process still answers, and does not triage itself
        try:
            tweet_id = deliver(stack, bot, COMPLAINT.replace("@acme ", ""))
            assert triage_state(stack, tweet_id) == "new"  # stored before the 200, left to the worker
        finally:
            os.kill(worker, signal.SIGCONT)
        stack.slack.wait_for(lambda: len(stack.cards()) == 1, timeout=60, what="the card, from the worker process")
        assert triage_state(stack, tweet_id) == "done"
        # /metrics adds up both processes: the web process's webhook and the worker's card; /healthz has the worker's polls.
        def metrics() -> str:
            return bot.http.get(f"{bot.url}/metrics", timeout=10).text

        stack.slack.wait_for(lambda: "socialdesk_slack_messages_posted_total 1.0" in metrics(), timeout=30, what="the worker's count")
        assert 'socialdesk_webhooks_total{network="x",outcome="ok"} 1.0' in metrics()
        stack.slack.wait_for(lambda: bot.http.get(f"{bot.url}/healthz", timeout=10).json()["networks"]["x"]["ok"], timeout=30,
                             what="the worker's poll of X in the web process's /healthz")
    finally:
        assert bot.stop() == 0
    assert gone(worker)
    assert "worker process stopped" in (tmp_path / "bot.log").read_text()


def test_kill_9_of_the_web_process_ends_its_worker_too(stack, tmp_path):
    bot = BotProcess(stack, tmp_path / "bot.log", extra_env=QUIET).start().wait_ready()
    stack.slack.wait_for(lambda: bot.worker_pid() is not None, timeout=30, what="the worker process")
    worker = bot.worker_pid()
    bot.signal(signal.SIGKILL)
    bot.wait(10)
    stack.slack.wait_for(lambda: gone(worker), timeout=60, what="the orphaned worker process gone")


def test_a_worker_that_dies_is_started_again_and_the_posts_stored_meanwhile_are_carded(stack, tmp_path):
    bot = BotProcess(stack, tmp_path / "bot.log", extra_env=QUIET).start().wait_ready()
    try:
        stack.slack.wait_for(lambda: bot.worker_pid() is not None, timeout=30, what="the worker process")
        first = bot.worker_pid()
        os.kill(first, signal.SIGKILL)  # the OOM killer, a crash in a native library
        stack.slack.wait_for(lambda: gone(first), timeout=10, what="the worker process gone")
        tweet_id = deliver(stack, bot, COMPLAINT.replace("@acme ", ""))
        assert triage_state(stack, tweet_id) == "new"
        stack.slack.wait_for(lambda: bot.worker_pid() not in (None, first), timeout=60, what="another worker process")
        stack.slack.wait_for(lambda: len(stack.cards()) == 1, timeout=60, what="the card, from the new worker process")
    finally:
        assert bot.stop() == 0
    assert "starting another" in (tmp_path / "bot.log").read_text()
