"""`socialdesk check` says what the X app's permission lets socialdesk do (OAuth 1.0a's x-access-level)."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from bot.check import run_checks
from bot.emulators.slack import SlackEmulator
from bot.emulators.x import XEmulator


@pytest.fixture
def x(monkeypatch, tmp_path):
    with SlackEmulator() as slack, XEmulator() as emulator:
        for name, value in {
            "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.api_url,
            "SOCIALDESK_CHANNEL": "C0CASES", "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
            "SOCIALDESK_CONFIG": str(tmp_path / "none.toml"), "X_API_URL": emulator.url, "X_BEARER_TOKEN": emulator.bearer_token,
            "X_API_KEY": "k", "X_API_SECRET": emulator.consumer_secret, "X_ACCESS_TOKEN": "t", "X_ACCESS_TOKEN_SECRET": "ts",
        }.items():
            monkeypatch.setenv(name, value)
        yield emulator


def x_row(x) -> tuple[int, str]:
    out = io.StringIO()
    code = run_checks(Console(file=out, width=500))
    return code, next(line for line in out.getvalue().splitlines() if line.startswith("│ X "))


def test_full_permission_says_replies_and_dms_work(x):
    code, row = x_row(x)
    assert "│ yes │" in row and "@acme" in row and "replies and direct messages on" in row


def test_read_write_warns_that_move_to_dm_will_fail(x):
    x.access_level = "read-write"
    _, row = x_row(x)
    assert "│ yes │" in row and "Move to DM will fail" in row and "Read and write and Direct message" in row


def test_read_only_is_a_no_with_the_fix(x):
    x.access_level = "read"
    code, row = x_row(x)
    assert code == 1 and "│ no  │" in row and "can only read" in row and "regenerate X_ACCESS_TOKEN" in row
