"""Logging that never prints a secret, whatever library logs it."""
from __future__ import annotations

import logging
import re
import uuid

from bot.config import Settings

_TOKEN_SHAPES = re.compile(r"(xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|EAA[A-Za-z0-9]{12,}|Bearer\s+[A-Za-z0-9%._~+/=-]{8,}|oauth_signature=\"[^\"]+\")")


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then replaces secret values and anything token-shaped (tracebacks too)."""

    def __init__(self, fmt: str, secrets: list[str]):
        super().__init__(fmt)
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "***")
        return _TOKEN_SHAPES.sub("***", text)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


def error_ref() -> str:
    """A short reference shown to the person and written beside the trace, so support can find one from the other."""
    return uuid.uuid4().hex[:8]


def secret_values(settings: Settings) -> list[str]:
    from bot.networks import secret_values as network_secrets  # adapters read their own settings (INSTAGRAM_*...)

    return [
        value.get_secret_value()
        for name, value in settings
        if value is not None and hasattr(value, "get_secret_value")
    ] + network_secrets(settings)


def configure(settings: Settings, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "urllib3", "tweepy", "slack_sdk", "slack_bolt"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
