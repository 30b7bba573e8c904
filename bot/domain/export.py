"""CSV export: one row per case opened in a period, the columns support teams ask for.

Rows stream from one SQL query (root-post link joined in the database), so a
month of cases never becomes a month of ORM objects.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Iterator

from sqlalchemy import and_, case, false, func, or_, select, true

from bot.domain.stats import ROOT_POST_ID, UNRESOLVED, Db, Period, cases, posts, tune_for_reporting, zone

COLUMNS = ("network", "link", "category", "priority", "created", "first_response", "resolved", "sla_met", "agent", "status")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _agent():
    """Who answered, or who has it claimed while it is still open."""
    return func.coalesce(cases.c.answered_by, cases.c.claimed_by)


def _query(period: Period, now: datetime):
    responded = cases.c.first_response_at.is_not(None)
    sla = case(
        (and_(responded, cases.c.sla_met == true()), "yes"),
        (or_(and_(responded, cases.c.sla_met == false()), and_(~responded, cases.c.status.in_(UNRESOLVED), cases.c.due_at < now)), "no"),
        else_="",
    )
    return (
        select(
            cases.c.network, func.coalesce(posts.c.url, "").label("link"), cases.c.category, cases.c.priority,
            cases.c.created_at, cases.c.first_response_at, cases.c.resolved_at, sla.label("sla_met"),
            func.coalesce(_agent(), "").label("agent"), cases.c.status,
        )
        .select_from(cases.outerjoin(posts, posts.c.id == ROOT_POST_ID))
        .where(cases.c.created_at >= period.start, cases.c.created_at < period.end)
        .order_by(cases.c.created_at, cases.c.id)
        .execution_options(stream_results=True, yield_per=2000)
    )


def agents(db: Db, period: Period) -> list[str]:
    """The Slack ids that appear in the export, so the caller can look their names up once."""
    query = select(_agent()).where(cases.c.created_at >= period.start, cases.c.created_at < period.end, _agent().is_not(None)).distinct()
    return sorted(db.execute(query).scalars())


def _cell(value: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading quote (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def rows(db: Db, period: Period, *, now: datetime, names: dict[str, str] | None = None) -> Iterator[list[str]]:
    tz = zone(period.tz)
    names = names or {}
    tune_for_reporting(db)

    def when(value: datetime | None) -> str:
        return value.astimezone(tz).isoformat(timespec="seconds") if value else ""

    for row in db.execute(_query(period, now)):
        yield [
            row.network, _cell(row.link), row.category, row.priority, when(row.created_at), when(row.first_response_at),
            when(row.resolved_at), row.sla_met, _cell(names.get(row.agent, row.agent)), row.status,
        ]


def to_csv(db: Db, period: Period, *, now: datetime, names: dict[str, str] | None = None) -> tuple[bytes, int]:
    """The CSV file (RFC 4180, UTF-8, times in the period's timezone with their offset) and its row count."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for count, row in enumerate(rows(db, period, now=now, names=names), start=1):
        writer.writerow(row)
    return out.getvalue().encode("utf-8"), count
