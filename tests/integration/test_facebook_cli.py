"""`socialdesk check` and `socialdesk demo` for Facebook, run in-process against the emulators."""
from __future__ import annotations

import io
import tempfile

import pytest
from rich.console import Console

from bot.check import run_checks
from bot.demo import run_demo
from bot.emulators.graph import GraphEmulator
from bot.emulators.slack import SlackEmulator


@pytest.fixture
def env(monkeypatch, tmp_path):
    with SlackEmulator() as slack, GraphEmulator() as graph:
        for name, value in {
            "SLACK_BOT_TOKEN": slack.token, "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": slack.api_url,
            "SOCIALDESK_CHANNEL": "C0CASES", "DATABASE_URL": f"sqlite:///{tmp_path / 'check.db'}",
            "SOCIALDESK_CONFIG": str(tmp_path / "none.toml"), "FACEBOOK_PAGE_ID": graph.page_id,
            "FACEBOOK_PAGE_ACCESS_TOKEN": graph.page_token, "FACEBOOK_APP_SECRET": graph.app_secret,
            "FACEBOOK_VERIFY_TOKEN": graph.verify_token, "FACEBOOK_GRAPH_URL": graph.url,
        }.items():
            monkeypatch.setenv(name, value)
        yield graph


def check() -> tuple[int, str]:
    out = io.StringIO()
    code = run_checks(Console(file=out, width=400))
    return code, out.getvalue()


def test_check_says_facebook_works(env):
    code, text = check()
    assert code == 0, text
    assert "connected as Page Acme" in text and "Graph v21.0" in text and "webhooks on" in text


def test_check_explains_an_expired_page_token_without_printing_it(env):
    env.expire_token()
    code, text = check()
    assert code == 1
    assert "it expired (code 190/463)" in text and "How to fix" in text and "FACEBOOK_PAGE_ACCESS_TOKEN" in text
    assert "/me/accounts" in text and env.page_token not in text


def test_check_names_a_missing_permission(env):
    env.permissions.discard("pages_read_engagement")
    code, text = check()
    assert code == 1 and "pages_read_engagement" in text


def test_check_notices_a_page_id_without_a_token(env, monkeypatch):
    monkeypatch.delenv("FACEBOOK_PAGE_ACCESS_TOKEN")
    code, text = check()
    assert code == 1 and "FACEBOOK_PAGE_ACCESS_TOKEN is not" in text


def test_the_demo_answers_a_facebook_comment(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the demo's database goes under the test's directory
    out = io.StringIO()
    assert run_demo(console=Console(file=out, width=400)) == 0
    text = out.getvalue()
    for step in ("comment on the brand's Facebook Page", "POST /webhooks/facebook", "1 already in from the webhook",
                 "card: On: Our spring sale", "bot -> Facebook: POST /v21.0/", "comment_id="):
        assert step in text, text[-3000:]
