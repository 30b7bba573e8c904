"""SLA policy: when a case is due, on a clock that may run only in business hours.

Pure functions over configuration and aware datetimes: no Slack, no HTTP, no
database. All arithmetic is done in UTC; local times are only used to find
where business days open and close, so DST changes move nothing by an hour.
"""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

from bot.config import WEEKDAYS, FileConfig, parse_window

UTC = timezone.utc
_SEARCH_DAYS = 800  # a business calendar with no open day in two years is a config error


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in `zone` (a time skipped by DST counts with the old offset)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


class WallClock:
    """The clock runs around the day: business time is plain elapsed time."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        return end - duration

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        return max(end - start, timedelta(0))

    def is_open(self, at: datetime) -> bool:
        return True


class BusinessClock(WallClock):
    """The clock runs only inside opening hours on business days, in one timezone."""

    def __init__(self, opens: time, closes: time, days: set[int], holidays: set[date], zone: ZoneInfo):
        if not days:
            raise ValueError("a business clock needs at least one business day")
        self.opens, self.closes, self.days, self.holidays, self.zone = opens, closes, days, holidays, zone

    def _interval(self, day: date) -> tuple[datetime, datetime] | None:
        """When business is open on `day` (the opening's local date); closing at or before opening runs past midnight."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        end_day = day if self.closes > self.opens else day + timedelta(days=1)
        return local_instant(day, self.opens, self.zone), local_instant(end_day, self.closes, self.zone)

    def _intervals(self, around: datetime, step: int) -> Iterator[tuple[datetime, datetime]]:
        day = around.astimezone(self.zone).date() - timedelta(days=step)
        for _ in range(_SEARCH_DAYS):
            interval = self._interval(day)
            if interval:
                yield interval
            day += timedelta(days=step)
        raise ValueError("no business hours found within two years; check [sla] business_days and holidays")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        remaining = duration
        for opens, closes in self._intervals(start, +1):
            if closes <= start:
                continue
            opens = max(opens, start)
            if remaining <= closes - opens:
                return opens + remaining
            remaining -= closes - opens
        raise AssertionError("unreachable")

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        remaining = duration
        for opens, closes in self._intervals(end, -1):
            if opens >= end:
                continue
            closes = min(closes, end)
            if remaining <= closes - opens:
                return closes - remaining
            remaining -= closes - opens
        raise AssertionError("unreachable")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta(0)
        for opens, closes in self._intervals(start, +1):
            if opens >= end:
                return total
            total += max(min(closes, end) - max(opens, start), timedelta(0))
        return total

    def is_open(self, at: datetime) -> bool:
        local_day = at.astimezone(self.zone).date()
        for day in (local_day - timedelta(days=1), local_day):
            interval = self._interval(day)
            if interval and interval[0] <= at < interval[1]:
                return True
        return False


def clock(config: FileConfig) -> WallClock:
    """The clock the SLA runs on: business hours if configured, otherwise around the day."""
    window = parse_window(config.sla.business_hours)
    if window is None:
        return WallClock()
    zone = ZoneInfo(config.sla.timezone or config.oncall.timezone)
    days = {WEEKDAYS.index(day) for day in config.sla.business_days}
    return BusinessClock(window[0], window[1], days, set(config.sla.holidays), zone)


def due_at(config: FileConfig, network: str, priority: str, start: datetime) -> datetime:
    """When the first response is due for a case opened at `start`."""
    return clock(config).add(start, config.sla.target(network, priority))


def nudge_at(config: FileConfig, created_at: datetime, due: datetime) -> datetime:
    """The thread nudge comes `nudge_before` the due time (business time), never before the card exists."""
    return max(clock(config).subtract(due, config.sla.nudge_before), created_at)


def met(due: datetime | None, responded_at: datetime) -> bool:
    return due is None or responded_at <= due


def _span(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, rest = divmod(minutes, 24 * 60)
    hours = rest // 60
    return f"{days} d {hours} h" if hours else f"{days} d"


def duration_text(delta: timedelta) -> str:
    """ "7 min", "1 h 20 min", "2 d 3 h"."""
    return _span(max(int(delta.total_seconds() // 60), 0))


def _coarse(minutes: float, up: bool) -> int:
    """Whole minutes under an hour, 5 minutes under a day, then hours: fewer card edits for far-off clocks."""
    unit = 1 if minutes < 60 else 5 if minutes < 24 * 60 else 60
    return int((math.ceil if up else math.floor)(minutes / unit) * unit)


def clock_text(due: datetime, now: datetime) -> str:
    """ "due in 12 min", "due now" or "overdue by 5 min"."""
    seconds = (due - now).total_seconds()
    if seconds >= 60:
        return f"due in {_span(_coarse(seconds / 60, up=True))}"
    if seconds > -60:
        return "due now"
    return f"overdue by {_span(_coarse(-seconds / 60, up=False))}"


def is_overdue(due: datetime | None, now: datetime) -> bool:
    return due is not None and now > due
