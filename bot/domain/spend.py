"""What paid network APIs cost: every billed call recorded, the month's total, and how long polling waits to stay in budget.

X bills per post read and per post written (pay per use since February 2026), so a
busy month can run past what the team meant to spend. Spend is paced along a
straight line from the first of the month to the budget, with one day's share
allowed up front: a quiet month never waits, a storm slows polling down instead
of spending next week's money today. Webhooks and replies are never held back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from bot.clock import utcnow
from bot.config import XConfig
from bot.domain.replylength import has_link
from storage import models as m
from storage.db import Database

MICROS = 1_000_000


def write_operation(what: str, text: str) -> str:
    """X's price-list line for a post we write (`what`: reply, post or dm): any post with a URL is billed as one with a link."""
    if what == "dm":
        return "dm"
    return "post_with_link" if has_link(text) else what


def write_cost(x: XConfig, network: str, what: str, text: str) -> float:
    """Dollars one write costs: X bills each post it takes; Meta's Graph API charges nothing for a reply or a Page post."""
    if network != "x":
        return 0.0
    return getattr(x.prices, write_operation(what, text))


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) `now` falls in: X's bills and our budget run per month."""
    start = now.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def pace_wait(spent: float, budget: float, now: datetime) -> timedelta:
    """How long to wait before spending more so the month stays within `budget` (zero: go ahead)."""
    if budget <= 0:
        return timedelta(0)
    start, end = month_bounds(now)
    if spent >= budget:
        return end - now
    allowance = timedelta(days=1)  # one day's share may be spent ahead of the line
    may_spend_from = start + (end - start) * (spent / budget) - allowance
    return max(timedelta(0), may_spend_from - now)


@dataclass(frozen=True)
class MonthSpend:
    network: str
    spent: float
    budget: float
    calls: int

    @property
    def share(self) -> float | None:
        return self.spent / self.budget if self.budget > 0 else None


def record(session, network: str, operation: str, units: int, cost: float, now: datetime | None = None) -> None:
    session.add(m.NetworkSpend(network=network, operation=operation, units=units, cost_micros=round(cost * MICROS),
                               at=now or utcnow()))


def spent_between(session, network: str, start: datetime, end: datetime) -> tuple[float, int]:
    """Dollars spent and calls made on `network` in [start, end)."""
    total, calls = session.execute(
        select(func.coalesce(func.sum(m.NetworkSpend.cost_micros), 0), func.count(m.NetworkSpend.id))
        .where(m.NetworkSpend.network == network, m.NetworkSpend.at >= start, m.NetworkSpend.at < end)
    ).one()
    return int(total) / MICROS, int(calls)


def this_month(session, network: str, budget: float, now: datetime | None = None) -> MonthSpend:
    start, end = month_bounds(now or utcnow())
    spent, calls = spent_between(session, network, start, end)
    return MonthSpend(network, spent, budget, calls)


class Meter:
    """A network adapter's view of its spend: it records each billed call and asks what the month has cost."""

    def __init__(self, db: Database, network: str):
        self.db = db
        self.network = network

    def record(self, operation: str, units: int, cost: float) -> None:
        if units <= 0:
            return
        with self.db.session() as session:
            record(session, self.network, operation, units, cost)

    def spent_this_month(self, now: datetime | None = None) -> float:
        start, end = month_bounds(now or utcnow())
        with self.db.session() as session:
            return spent_between(session, self.network, start, end)[0]
