"""/healthz and /metrics tell the truth: per dependency, the last call and since when it fails."""
from __future__ import annotations

import sqlite3
import threading

import pytest
import requests


def get(stack, path: str) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        return http.get(stack.url + path, timeout=15)


@pytest.fixture
def complaint(stack, customer):
    stack.x.add_tweet("@acme my order never arrived and nobody answers", customer)


def test_all_working_is_ok_with_each_dependencys_last_success(stack, complaint):
    stack.poll()
    health = get(stack, "/healthz")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "ok", body
    assert body["database"]["ok"] is True and body["database"]["error"] is None
    assert body["slack"]["ok"] is True and body["slack"]["last_success"] and body["slack"]["last_error"] is None
    assert body["networks"]["x"]["ok"] is True and body["networks"]["x"]["last_success"]
    assert body["networks"]["facebook"]["ok"] is None  # never polled in this test: unknown, not "ok"
    assert body["failing"] == []


def test_a_network_failing_for_a_few_poll_intervals_is_degraded(stack, complaint, clock):
    stack.poll()
    stack.x.fail("mentions", status=503, times=2)  # two polls fail, the third works
    stack.poll()
    body = get(stack, "/healthz").json()
    assert body["status"] == "ok"  # one failed poll is not an outage yet
    assert body["networks"]["x"]["ok"] is False and body["networks"]["x"]["last_error"]["error"]
    clock.shift(body["degraded_after_seconds"] + 1)
    stack.rt.poll_backoff.clear()
    stack.poll()
    health = get(stack, "/healthz")
    body = health.json()
    assert health.status_code == 200 and body["status"] == "degraded" and body["failing"] == ["x"], body
    assert body["networks"]["x"]["failing_for_seconds"] > body["degraded_after_seconds"]
    metrics = get(stack, "/metrics").text
    assert 'socialdesk_dependency_up{dependency="x"} 0.0' in metrics
    assert "socialdesk_health_status 1.0" in metrics
    # it works again: back to ok at once
    stack.rt.poll_backoff.clear()
    stack.poll()
    body = get(stack, "/healthz").json()
    assert body["status"] == "ok" and body["networks"]["x"]["ok"] is True and body["networks"]["x"]["failing_for_seconds"] == 0


def test_slack_unreachable_is_found_by_the_probe_and_becomes_degraded(stack, clock):
    stack.slack.stop()
    body = get(stack, "/healthz").json()
    assert body["slack"]["ok"] is False and "auth.test" in body["slack"]["last_error"]["error"]
    clock.shift(body["degraded_after_seconds"] + 1)
    health = get(stack, "/healthz")
    assert health.status_code == 200 and health.json()["status"] == "degraded" and "slack" in health.json()["failing"]
    assert 'socialdesk_dependency_up{dependency="slack"} 0.0' in get(stack, "/metrics").text


def test_a_revoked_slack_token_counts_as_failing(stack):
    stack.slack.fail("auth.test", status=200, body={"ok": False, "error": "token_revoked"}, times=5)
    body = get(stack, "/healthz").json()
    assert body["slack"]["ok"] is False and "token_revoked" in body["slack"]["last_error"]["error"]


def test_a_database_that_cannot_be_written_answers_503(stack, tmp_path):
    """Another connection holds the write lock: SELECT 1 still works, a write cannot."""
    path = stack.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        health = get(stack, "/healthz")
    finally:
        holder.rollback()
        holder.close()
    body = health.json()
    assert health.status_code == 503 and body["status"] == "down", body
    assert body["database"]["ok"] is False and "locked" in body["database"]["error"]
    assert get(stack, "/healthz").status_code == 200  # the lock is gone


def test_a_database_without_its_tables_answers_503(stack):
    with stack.rt.db.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
    health = get(stack, "/healthz")
    assert health.status_code == 503 and "alembic_version" in health.json()["database"]["error"]
    assert "socialdesk_health_status 2.0" in get(stack, "/metrics").text


def test_health_never_hangs_on_a_stuck_slack(stack):
    """Slack accepts the connection but never answers: /healthz still answers, within seconds."""
    stack.slack.fail("auth.test", status=None, delay=30, times=1)
    done = threading.Event()
    result = {}

    def call():
        result["body"] = get(stack, "/healthz").json()
        done.set()

    threading.Thread(target=call, daemon=True).start()
    assert done.wait(10), "healthz hung"
    assert result["body"]["slack"]["ok"] is False and "did not answer" in result["body"]["slack"]["last_error"]["error"]
