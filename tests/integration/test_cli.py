"""The `socialdesk` command as a person runs it: real subprocesses, real HTTP."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
import sqlalchemy

from bot.emulators.slack import SlackEmulator
from bot.emulators.x import XEmulator
from tests.helpers import ROOT

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-test",
    "SLACK_SIGNING_SECRET": "signing-secret-do-not-log",
    "X_BEARER_TOKEN": "x-bearer",
    "X_API_KEY": "x-api-key-do-not-log",
    "X_API_SECRET": "x-consumer-secret",
    "X_ACCESS_TOKEN": "x-access-token-do-not-log",
    "X_ACCESS_TOKEN_SECRET": "x-access-secret-do-not-log",
}


def socialdesk(*args: str, env: dict | None = None, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture
def emulators():
    with SlackEmulator() as slack, XEmulator() as x:
        yield slack, x


def bot_env(slack, x, tmp_path) -> dict:
    return {
        **SECRETS,
        "SLACK_API_URL": slack.api_url,
        "X_API_URL": x.url,
        "SOCIALDESK_CHANNEL": "C0CASES",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


def test_classify_reads_text_and_json_lines_and_explains_bad_lines():
    lines = "\n".join([
        "@acme my order never arrived and I want a refund now",
        json.dumps({"id": 7, "text": "Love the new app, thank you!", "followers": 120000}),
        "{not json",
        json.dumps({"body": "no text field"}),
        "",
    ])
    result = socialdesk("classify", stdin=lines)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 4
    assert rows[0]["category"] == "complaint" and rows[0]["priority"] in ("urgent", "high", "normal", "low")
    assert {"category", "priority", "sentiment"} <= rows[1].keys() and rows[1]["id"] == 7
    assert rows[2] == {"line": 3, "error": rows[2]["error"]} and "invalid JSON" in rows[2]["error"]
    assert "text" in rows[3]["error"]


def test_db_upgrade_creates_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = socialdesk("db", "upgrade", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    tables = sqlalchemy.inspect(sqlalchemy.create_engine(url)).get_table_names()
    assert {"cases", "posts", "replies", "cursors", "audit_events", "alembic_version"} <= set(tables)


def test_check_says_what_works(emulators, tmp_path):
    slack, x = emulators
    (tmp_path / "socialdesk.toml").write_text('[oncall]\nmembers = ["U01AAA"]\ntimezone = "Europe/London"\n')
    result = socialdesk("check", env={**bot_env(slack, x, tmp_path), "SOCIALDESK_CONFIG": str(tmp_path / "socialdesk.toml")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "connected as @acme" in result.stdout and "HTTP mode" in result.stdout
    assert "loaded" in result.stdout and "now: U01AAA" in result.stdout
    assert "fine-tuned encoder" in result.stdout


def test_check_says_when_the_encoder_did_not_load(emulators, tmp_path):
    slack, x = emulators
    env = {**bot_env(slack, x, tmp_path), "SOCIALDESK_TRIAGE_ENCODER": str(tmp_path / "no-encoder")}
    result = socialdesk("check", env=env)
    assert result.returncode == 1
    assert "did not load" in result.stdout and "n-gram model alone" in result.stdout
    off = socialdesk("check", env={**env, "SOCIALDESK_TRIAGE_ENCODER": "off"})
    assert off.returncode == 0, off.stdout + off.stderr
    assert "SOCIALDESK_TRIAGE_ENCODER=off" in off.stdout


def test_check_says_what_to_fix(emulators, tmp_path):
    slack, x = emulators
    env = {**bot_env(slack, x, tmp_path), "SLACK_BOT_TOKEN": "xoxb-wrong", "X_BEARER_TOKEN": "", "SOCIALDESK_CHANNEL": ""}
    result = socialdesk("check", env=env)
    assert result.returncode == 1
    assert "invalid_auth" in result.stdout and "Bot User OAuth Token" in result.stdout
    assert "SOCIALDESK_CHANNEL is not set" in result.stdout
    assert "xoxb-wrong" not in result.stdout


def test_run_refuses_to_start_without_slack_credentials(tmp_path):
    result = socialdesk("run", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "socialdesk demo" in result.stderr


def test_run_stops_on_a_bad_config_file_naming_the_key(tmp_path):
    (tmp_path / "bad.toml").write_text('[oncall]\nhandoff = "25:00"\n')
    result = socialdesk("run", env={**SECRETS, "SOCIALDESK_CHANNEL": "C1", "SOCIALDESK_CONFIG": str(tmp_path / "bad.toml")})
    assert result.returncode == 2
    assert "line 2" in result.stderr and "handoff" in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_serves_health_and_metrics_and_never_logs_secrets(emulators, tmp_path):
    slack, x = emulators
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **bot_env(slack, x, tmp_path), "PORT": str(port), "HOST": "127.0.0.1", "POLL_INTERVAL_SECONDS": "5"}
    user = x.add_user(username="cli_customer", followers=3)
    x.add_tweet("@acme my card was charged twice and I need a refund", user)
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + 60
        while True:
            try:
                health = session.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the bot did not start serving"
                time.sleep(0.1)
        assert health.status_code == 200 and list(health.json()["networks"]) == ["x"]
        slack.wait_for(lambda: slack.messages("C0CASES"), timeout=30, what="the scheduler polled X and posted a card")
        assert "socialdesk_posts_ingested_total" in session.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        forged = session.post(f"http://127.0.0.1:{port}/slack/events", data=b"payload=%7B%7D", headers={"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": str(int(time.time()))}, timeout=5)
        assert forged.status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    for value in SECRETS.values():
        if "do-not-log" in value:
            assert value not in output


def test_the_demo_runs_the_whole_loop_offline(tmp_path):
    result = socialdesk("demo", "--script", env={"HOME": str(tmp_path)}, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for step in ("Customers post about @acme", "clicks Approve", "bot -> X: reply", "Move to DM", "Demo finished"):
        assert step in out, out[-3000:]


@pytest.mark.timeout(320)  # a full refit in a subprocess: its own 300 s limit applies, plus start-up
def test_train_uses_the_teams_stored_corrections(tmp_path):
    from datetime import datetime, timezone

    from storage import models as m
    from storage.db import Database

    url = f"sqlite:///{tmp_path / 'team.db'}"
    db = Database(url)
    db.upgrade()
    with db.session() as session:
        case = m.Case(network="x", status="dismissed", dismissed_reason="not_a_complaint", created_at=datetime.now(timezone.utc))
        session.add(case)
        session.flush()
        session.add(m.Post(network="x", external_id="1", case_id=case.id, text="@acme where do I find the size guide?", created_at=datetime.now(timezone.utc)))
    out = tmp_path / "model.joblib"
    result = socialdesk("train", "--out", str(out), env={"DATABASE_URL": url}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1 stored corrections" in result.stdout and out.stat().st_size > 100_000


def test_socket_mode_serves_slack_over_the_websocket_and_still_serves_health(emulators, tmp_path):
    slack, x = emulators
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), **bot_env(slack, x, tmp_path), "SLACK_APP_TOKEN": slack.app_token,
           "SLACK_SIGNING_SECRET": "", "PORT": str(port), "HOST": "127.0.0.1"}
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)  # the Socket Mode client ignores NO_PROXY
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--role", "web"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        command = {"type": "slash_commands", "accepts_response_payload": True, "payload": {
            "command": "/socialdesk", "text": "help", "user_id": "U0AGENT", "channel_id": "C0CASES", "team_id": "T0001",
            "api_app_id": "A0001", "response_url": slack.new_response_url(), "trigger_id": "1.2.3"}}
        envelope_id = slack.socket_send(command, timeout=60)
        ack = slack.wait_for(lambda: next((a for a in slack.socket_acks if a.get("envelope_id") == envelope_id), None), timeout=30, what="the ack")
        assert "/socialdesk help" in json.dumps(ack["payload"])
        session = requests.Session()
        session.trust_env = False
        health = slack.wait_for(lambda: _get(session, f"http://127.0.0.1:{port}/healthz"), timeout=30, what="health")
        assert health.json()["slack_mode"] == "socket"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _get(session, url):
    try:
        return session.get(url, timeout=2)
    except requests.ConnectionError:
        return None
