"""`socialdesk check` checks what breaks on day one, and `socialdesk run` fails in one sentence."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bot.check import manifest_scopes, run_checks
from bot.emulators.slack import SlackEmulator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slack(monkeypatch, tmp_path):
    with SlackEmulator(known_channels=["C0CASES", "C0OTHER"]) as emulator:
        for name, value in {
            "SLACK_BOT_TOKEN": emulator.token, "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": emulator.api_url,
            "SOCIALDESK_CHANNEL": "C0CASES", "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
            "SOCIALDESK_CONFIG": str(tmp_path / "socialdesk.toml"),
        }.items():
            monkeypatch.setenv(name, value)
        yield emulator


def check() -> tuple[int, str]:
    out = io.StringIO()
    code = run_checks(Console(file=out, width=500))
    return code, out.getvalue()


def test_a_channel_the_bot_is_in_and_every_scope_is_fine(slack):
    code, text = check()
    assert "the bot is a member" in text and "#social-care" in text
    assert f"all {len(manifest_scopes())} the manifest asks for" in text
    assert slack.calls("conversations.info")[-1]["channel"] == "C0CASES"
    assert code == 1 and "no network configured" in text  # only because no network is set up here


def test_a_channel_that_does_not_exist_is_a_no(slack, monkeypatch):
    monkeypatch.setenv("SOCIALDESK_CHANNEL", "C0NOSUCH")
    code, text = check()
    assert code == 1
    row = next(line for line in text.splitlines() if "channel" in line and "C0NOSUCH" in line)
    assert "no " in row and "there is no channel C0NOSUCH" in text


def test_a_channel_without_the_bot_says_how_to_invite_it(slack):
    slack.outside_channels.add("C0CASES")
    code, text = check()
    assert code == 1 and "not a member" in text and "/invite @socialdesk" in text


def test_missing_scopes_are_named(slack):
    slack.scopes = ["chat:write", "users:read"]
    code, text = check()
    assert code == 1
    for scope in set(manifest_scopes()) - {"chat:write", "users:read"}:
        assert scope in text
    assert "reinstall the app" in text


def test_without_the_scope_for_channel_info_history_tells_membership(slack):
    slack.fail("conversations.info", status=200, body={"ok": False, "error": "missing_scope", "needed": "channels:read"}, times=1)
    slack.fail("conversations.history", status=200, body={"ok": False, "error": "not_in_channel"}, times=1)
    code, text = check()
    assert code == 1 and "not a member of C0CASES" in text


def test_config_errors_keep_the_section_and_suggest_the_key(slack, tmp_path):
    (tmp_path / "socialdesk.toml").write_text('[oncall]\nmembers = ["U01AAA"]\nhandof = "09:00"\n')
    code, text = check()
    assert code == 1
    assert "[oncall] handof" in text and "did you mean `handoff`?" in text and "line 3" in text


# -- start-up failures end in one sentence ------------------------------------------------------


def _run(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", "run"], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path, **extra) -> dict:
    return {"SLACK_SIGNING_SECRET": "s", "SOCIALDESK_CHANNEL": "C0CASES", "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
            "SOCIALDESK_CONFIG": str(tmp_path / "none.toml"), "PORT": "0", "HOST": "127.0.0.1", **extra}


def _one_sentence(result: subprocess.CompletedProcess) -> str:
    assert result.returncode not in (0, 1), result.stderr  # 1 would be an unhandled error
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("socialdesk: "), result.stderr  # the logs may say more; the end is one sentence
    assert lines[-1].count(". ") <= 1 and len(lines[-1]) < 300, lines[-1]
    return lines[-1]


def test_unreachable_slack_stops_the_start_in_one_sentence(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    line = _one_sentence(_run(_env(tmp_path, SLACK_BOT_TOKEN="xoxb-test", SLACK_API_URL=url)))
    assert line.startswith("socialdesk: Could not reach Slack at " + url)


def test_a_wrong_bot_token_stops_the_start_in_one_sentence(tmp_path):
    with SlackEmulator() as emulator:
        line = _one_sentence(_run(_env(tmp_path, SLACK_BOT_TOKEN="xoxb-wrong", SLACK_API_URL=emulator.api_url)))
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in line and "xoxb-wrong" not in line


def test_a_bad_socket_mode_token_stops_the_start_in_one_sentence(tmp_path):
    with SlackEmulator() as emulator:
        result = _run(_env(tmp_path, SLACK_BOT_TOKEN=emulator.token, SLACK_APP_TOKEN="xapp-wrong", SLACK_API_URL=emulator.api_url))
    line = _one_sentence(result)
    assert "Slack refused SLACK_APP_TOKEN for Socket Mode (invalid_auth)" in line and "xapp-wrong" not in result.stderr
