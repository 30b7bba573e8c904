"""What /healthz and /metrics say about each dependency: did the last call work, and since when has it failed.

A process that answers 200 "ok" while Slack and every network refuse it hides an
outage from whoever watches it, so each call's outcome is recorded where it
happens (the Slack client, each poll) and the database gets a write probe.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.clock import utcnow

FAILING_POLLS = 3  # "degraded" once a dependency has failed for this many poll intervals
PROBE_SECONDS = 2.0
# Slack answered, but it means we cannot work: the dependency is failing, not our request.
# (A 429 is Slack asking the publisher to slow down, not an outage.)
SLACK_DOWN_ERRORS = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "fatal_error", "internal_error", "service_unavailable", "request_timeout",
    "team_access_not_granted", "channel_not_found", "not_in_channel",
})


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


@dataclass
class Dependency:
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failing_since: datetime | None = None

    @property
    def ok(self) -> bool | None:
        """None until the first call: unknown, neither up nor down."""
        if self.failing_since is not None:
            return False
        return True if self.last_success else None

    def failing_for(self, now: datetime) -> float:
        return (now - self.failing_since).total_seconds() if self.failing_since else 0.0

    def report(self, now: datetime) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "last_success": _iso(self.last_success),
            "last_error": {"at": _iso(self.last_error_at), "error": self.last_error} if self.last_error else None,
            "failing_for_seconds": round(self.failing_for(now)) if self.failing_since else 0,
        }


class Health:
    """Outcome of the last calls to Slack and each network, shared by the threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deps: dict[str, Dependency] = {}

    def success(self, name: str) -> None:
        with self._lock:
            dep = self._deps.setdefault(name, Dependency())
            dep.last_success, dep.failing_since = utcnow(), None

    def failure(self, name: str, error: str) -> None:
        with self._lock:
            dep = self._deps.setdefault(name, Dependency())
            now = utcnow()
            dep.last_error, dep.last_error_at = error[:300], now
            dep.failing_since = dep.failing_since or now

    def get(self, name: str) -> Dependency:
        with self._lock:
            dep = self._deps.get(name) or Dependency()
            return Dependency(dep.last_success, dep.last_error, dep.last_error_at, dep.failing_since)

    def last_call(self, name: str) -> datetime | None:
        dep = self.get(name)
        return max((t for t in (dep.last_success, dep.last_error_at) if t), default=None)


class TrackedWebClient(WebClient):
    """A WebClient that tells `health` whether each Slack call worked."""

    def __init__(self, *args, health: Health, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.health = health

    def api_call(self, api_method: str, *args, **kwargs):
        try:
            response = super().api_call(api_method, *args, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            status = getattr(exc.response, "status_code", 200)
            if error in SLACK_DOWN_ERRORS or status >= 500:
                self.health.failure("slack", f"{api_method}: {error or f'HTTP {status}'}")
            else:
                self.health.success("slack")  # Slack works; this one request was refused
            raise
        except (URLError, OSError) as exc:
            self.health.failure("slack", f"{api_method}: no answer ({type(exc).__name__})")
            raise
        self.health.success("slack")
        return response


def probe_database(engine: Engine) -> None:
    """A write-capable check: take the write lock with a short timeout, then roll back.

    SELECT 1 passes on a read-only replica, a full disk's locked file or a database
    another process holds for writing; an UPDATE (of no row) does not.
    """
    ms = int(PROBE_SECONDS * 1000)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        settings = [f"PRAGMA busy_timeout={ms}"] if sqlite else [f"SET statement_timeout = {ms}", f"SET lock_timeout = {ms}"]
        restore = ["PRAGMA busy_timeout=30000"] if sqlite else ["RESET statement_timeout", "RESET lock_timeout"]
        for statement in settings:
            connection.exec_driver_sql(statement)
        connection.commit()
        try:
            connection.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 1 = 0"))
        finally:
            connection.rollback()
            for statement in restore:
                connection.exec_driver_sql(statement)
            connection.commit()


def report(health: Health, *, database_error: str | None, checked_at: datetime, networks: list[str], poll_seconds: int,
           slack_mode: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /healthz."""
    now = utcnow()
    limit = FAILING_POLLS * poll_seconds
    slack = health.get("slack")
    nets = {name: health.get(name) for name in networks}
    failing = [name for name, dep in {"slack": slack, **nets}.items() if dep.failing_for(now) > limit]
    if database_error:
        status = "down"
    elif failing:
        status = "degraded"
    else:
        status = "ok"
    body: dict[str, Any] = {
        "status": status,
        "database": {"ok": database_error is None, "checked_at": _iso(checked_at), "error": database_error},
        "slack": {**slack.report(now), "mode": slack_mode},
        "networks": {name: dep.report(now) for name, dep in nets.items()},
        "failing": failing,
        "degraded_after_seconds": limit,
        "slack_mode": slack_mode,
    }
    return (503 if database_error else 200), body
