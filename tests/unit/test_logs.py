"""Secrets never reach a log line, whoever logs them."""
from __future__ import annotations

import io
import logging

import pytest

from bot import logs
from bot.config import Settings


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("apscheduler", "urllib3", "tweepy", "slack_sdk", "slack_bolt")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def capture(settings: Settings) -> tuple[logging.Logger, io.StringIO]:
    logs.configure(settings)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    return logging.getLogger("anything"), stream


def test_configured_secrets_and_token_shapes_are_replaced(tmp_path):
    settings = Settings(_env_file=None, slack_signing_secret="sign-me-not-1234", x_api_secret="consumer-secret-987")
    log, stream = capture(settings)
    log.warning("calling with %s and %s", "sign-me-not-1234", "Bearer AAAAAAAAAAAAAAAAAAAAAabcdef123")
    log.warning("token xoxb-1234567890-abcdef and xapp-1-A0-123456-abc and EAAGm0PX4ZCpsBAKZAabc123456")
    try:
        raise RuntimeError("failed with consumer-secret-987")
    except RuntimeError:
        log.exception("boom")
    out = stream.getvalue()
    for secret in ("sign-me-not-1234", "AAAAAAAAAAAAAAAAAAAAAabcdef123", "xoxb-1234567890", "xapp-1-A0", "EAAGm0PX4ZCps", "consumer-secret-987"):
        assert secret not in out
    assert out.count("***") >= 5 and "RuntimeError" in out
