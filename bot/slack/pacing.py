"""Our pace into Slack: about one message per second per channel, shared by every sender and process.

A token bucket per channel lives in the database, so the poll job, the delivery job,
webhook threads and a second process all draw from the same budget, and a Retry-After
Slack gave to one of them holds back all of them, across a restart too.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from bot.clock import utcnow
from storage import models as m
from storage.db import Database

RATE = 1.0   # messages per second per channel: Slack's chat.postMessage limit
BURST = 8    # a short burst, kept under what Slack tolerates


def take(db: Database, channel: str, *, rate: float = RATE, burst: int = BURST, now: datetime | None = None) -> float:
    """Take one message's worth of budget for `channel`: 0.0 if taken, else seconds to wait first."""
    for _ in range(5):  # another sender won the compare-and-set: read again
        now = now or utcnow()
        with db.session() as session:
            row = session.get(m.SlackChannel, channel)
            if row is None:
                try:
                    with session.begin_nested():
                        session.add(m.SlackChannel(channel=channel, tokens=burst - 1.0, refilled_at=now, version=0))
                    return 0.0
                except IntegrityError:
                    continue
            if row.not_before is not None and now < row.not_before:
                return (row.not_before - now).total_seconds()
            tokens = min(float(burst), row.tokens + max(0.0, (now - row.refilled_at).total_seconds()) * rate)
            if tokens < 1.0:
                return (1.0 - tokens) / rate
            won = session.execute(
                update(m.SlackChannel)
                .where(m.SlackChannel.channel == channel, m.SlackChannel.version == row.version)
                .values(tokens=tokens - 1.0, refilled_at=now, not_before=None, version=row.version + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won:
                return 0.0
        now = None
    return 1.0 / rate


def hold(db: Database, channel: str, seconds: float, *, now: datetime | None = None) -> None:
    """Slack said 429: nobody posts to `channel` before Retry-After has passed, and the bucket starts empty."""
    now = now or utcnow()
    until = now + timedelta(seconds=seconds)
    with db.session() as session:
        row = session.get(m.SlackChannel, channel)
        if row is None:
            session.add(m.SlackChannel(channel=channel, tokens=0.0, refilled_at=until, not_before=until, version=0))
            return
        row.tokens, row.refilled_at, row.version = 0.0, max(until, row.refilled_at), row.version + 1
        row.not_before = max(until, row.not_before or until)
