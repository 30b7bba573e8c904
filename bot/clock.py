"""The one clock: every "now" in socialdesk is timezone-aware UTC, and time-machine moves it in tests."""
from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
