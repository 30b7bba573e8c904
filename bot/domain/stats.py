"""Team numbers for managers, aggregated in the database.

Every figure is computed in SQL (SQLAlchemy Core) so `stats 30d` stays fast on a
year of cases; Python only shapes the few rows that come back. The same code runs
on SQLite and PostgreSQL: percentiles use ROW_NUMBER windows (SQLite has no
percentile_cont); the only dialect branches are `seconds_between` and
`tune_for_reporting`.

Counts cover the cases *opened* in the period (a cohort), so volume, outcomes,
response times and SLA all describe the same cases. Period boundaries are local
midnights in the reader's timezone, converted to UTC instants before the query.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Float, String, and_, case, cast, exists, false, func, literal, or_, select, text, true, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.clock import utcnow
from bot.domain.errors import UserFacingError
from bot.domain.incidents import IncidentNumbers
from bot.domain.incidents import numbers as incident_numbers
from bot.domain.states import CaseStatus, ReplyStatus, WAITING_STATUSES
from storage import models as m

PERIODS = {"today": 1, "7d": 7, "30d": 30}
UNRESOLVED = (*WAITING_STATUSES, CaseStatus.REPLYING)  # the customer has no answer yet: the backlog
AGE_BUCKETS = ((timedelta(hours=1), "< 1 h"), (timedelta(hours=4), "1–4 h"), (timedelta(hours=24), "4–24 h"), (timedelta(days=3), "1–3 days"))
OLDEST_AGE = "> 3 days"

cases = m.Case.__table__
posts = m.Post.__table__
replies = m.Reply.__table__


class StatsError(UserFacingError, ValueError):
    """A request for numbers that cannot be answered; the message is for the manager."""


# -- portable SQL pieces ---------------------------------------------------------


class seconds_between(FunctionElement):
    """`later - earlier` in seconds, as a float, on every dialect we support."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_between_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    # SQLite keeps UTC datetimes as ISO text; julianday() reads it (fractions included).
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_between_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"


RESPONSE_SECONDS = seconds_between(cases.c.first_response_at, cases.c.created_at)
MOVED_TO_DM = exists().where(replies.c.case_id == cases.c.id, replies.c.kind == "private", replies.c.status == ReplyStatus.SENT)


def _bucket_of(column: ColumnElement, edges: list[datetime], low: int = 0, high: int | None = None) -> ColumnElement:
    """Index i of the [edges[i], edges[i+1]) slot holding `column` (which must lie in [edges[0], edges[-1])).

    Edges are precomputed local midnights or hours, so it is exact across DST; the
    CASE is a binary search, five comparisons for 30 days instead of thirty.
    """
    high = len(edges) - 1 if high is None else high
    if high - low <= 1:
        return literal(low)
    middle = (low + high) // 2
    return case((column < edges[middle], _bucket_of(column, edges, low, middle)), else_=_bucket_of(column, edges, middle, high))


# -- periods ---------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    """The named timezone, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Period:
    """A span of time in one timezone, the span before it, and the chart's slots."""

    key: str
    label: str
    tz: str
    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime
    edges: tuple[datetime, ...]  # slot boundaries, edges[0] == start, edges[-1] == end
    unit: str  # "hour" or "day"

    @property
    def previous_label(self) -> str:
        return {"today": "yesterday by this time", "7d": "the 7 days before", "30d": "the 30 days before"}.get(self.key, "the period before")

    def local(self, when: datetime) -> datetime:
        return when.astimezone(zone(self.tz))


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def _utc(when: datetime) -> datetime:
    return when.astimezone(timezone.utc)


def parse_period(text: str | None, default: str = "7d") -> str:
    key = (text or default).strip().lower()
    if key not in PERIODS:
        raise StatsError(f"I don't know the period `{key[:20]}`: use `today`, `7d` or `30d`.")
    return key


def period_ending_now(key: str, now: datetime, tz_name: str) -> Period:
    """`today`, `7d` or `30d`: whole local days up to now (today included, so far).

    The previous period is the same span shifted back, ending at the same time of
    day, so a partly-over today is compared with yesterday by this time.
    """
    days = PERIODS[parse_period(key)]
    tz = zone(tz_name)
    local_now = now.astimezone(tz)
    today = local_now.date()
    start = _midnight(today - timedelta(days=days - 1), tz)
    previous_start = _midnight(today - timedelta(days=2 * days - 1), tz)
    previous_end = local_now - timedelta(days=days)  # wall-clock arithmetic: same time of day
    if days == 1:
        edges, unit, label = _hour_edges(start, now), "hour", "today"
    else:
        edges, unit, label = _day_edges(today - timedelta(days=days - 1), today, tz, now), "day", f"last {days} days"
    return Period(key, label, tz.key, _utc(start), _utc(now), _utc(previous_start), _utc(previous_end), tuple(edges), unit)


def last_full_days(days: int, now: datetime, tz_name: str) -> Period:
    """The `days` whole local days before today (a digest covers a finished week)."""
    tz = zone(tz_name)
    today = now.astimezone(tz).date()
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    start, end = _midnight(first, tz), _midnight(today, tz)
    label = f"{first:%-d %b} – {last:%-d %b %Y}"
    edges = _day_edges(first, last, tz, _utc(end))
    return Period(f"{days}d-full", label, tz.key, _utc(start), _utc(end), _utc(_midnight(first - timedelta(days=days), tz)), _utc(start), tuple(edges), "day")


def _day_edges(first: date, last: date, tz: ZoneInfo, end: datetime) -> list[datetime]:
    edges = [_utc(_midnight(first + timedelta(days=i), tz)) for i in range((last - first).days + 1)]
    return edges + [_utc(end)]


def _hour_edges(start: datetime, end: datetime) -> list[datetime]:
    """Real hours from local midnight (23 or 25 of them on DST days), the last one cut at `end`."""
    edges, at = [], _utc(start)
    while at < end:
        edges.append(at)
        at += timedelta(hours=1)
    return (edges or [_utc(start)]) + [_utc(end)]


# -- results ---------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Time to first response, in seconds; None when nothing was answered."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass
class Totals:
    opened: int = 0
    by_network: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    dismissed: int = 0
    moved_to_dm: int = 0
    unresolved: int = 0
    sla_met: int = 0
    sla_missed: int = 0
    response: Latency = field(default_factory=Latency)

    @property
    def sla_share(self) -> float | None:
        """Met out of decided: answered cases, plus unanswered ones already past due (missed)."""
        decided = self.sla_met + self.sla_missed
        return self.sla_met / decided if decided else None


@dataclass(frozen=True)
class AgentLine:
    agent: str
    answered: int
    median: float | None


@dataclass(frozen=True)
class Backlog:
    total: int
    overdue: int
    by_age: list[tuple[str, int]]
    oldest: datetime | None


@dataclass(frozen=True)
class Slot:
    """One bar of the chart: an hour or a local day."""

    start: datetime
    end: datetime
    opened: int
    by_network: dict[str, int]
    response: Latency


@dataclass(frozen=True)
class SlowCase:
    id: int
    network: str
    status: str
    priority: str
    category: str
    created_at: datetime
    due_at: datetime | None
    claimed_by: str | None
    url: str
    author_handle: str
    text: str


@dataclass(frozen=True)
class Report:
    period: Period
    now: datetime
    current: Totals
    previous: Totals
    agents: list[AgentLine]
    backlog: Backlog
    slots: list[Slot]
    topics: list[tuple[str, int]]
    slowest: list[SlowCase]
    incidents: IncidentNumbers | None = None


# -- queries ---------------------------------------------------------------------

Db = Session | Connection
_MEDIAN, _P90 = (1, 2), (9, 10)  # exact fractions, so Python and SQL pick the same rows


def _latencies(db: Db, where: list[ColumnElement], groupings: list[ColumnElement]) -> list[dict[str, Latency]]:
    """Median and 90th percentile of response time for each group of each grouping, like percentile_cont.

    One statement: the responded cases are read once into a CTE; for each grouping
    (an expression that is NULL for rows it leaves out) the rows are numbered in
    order within their group, and only the (at most four) rows around the two
    positions come back, with the group's size from a GROUP BY (cheaper in SQLite
    than a COUNT window). Python interpolates between them.
    """
    base = select(
        RESPONSE_SECONDS.label("v"), *[key.label(f"k{i}") for i, key in enumerate(groupings)]
    ).where(cases.c.first_response_at.is_not(None), *where).cte("responded")
    parts = []
    for i in range(len(groupings)):
        key = base.c[f"k{i}"]
        ranked = select(key.label("k"), base.c.v, func.row_number().over(partition_by=key, order_by=base.c.v).label("rn")).where(key.is_not(None)).subquery()
        n = func.count()
        positions = [((num * (n - 1)) // den + 1).label(f"lo{j}") for j, (num, den) in enumerate((_MEDIAN, _P90))]
        positions += [((num * (n - 1) + den - 1) // den + 1).label(f"hi{j}") for j, (num, den) in enumerate((_MEDIAN, _P90))]
        sizes = select(key.label("k"), n.label("n"), *positions).where(key.is_not(None)).group_by(key).subquery()
        wanted = ranked.c.rn.in_([sizes.c[p.name] for p in positions])
        parts.append(
            select(literal(i).label("g"), cast(ranked.c.k, String).label("k"), ranked.c.v, ranked.c.rn, sizes.c.n)
            .select_from(ranked.join(sizes, and_(ranked.c.k == sizes.c.k, wanted)))
        )
    groups: dict[tuple[int, str], tuple[int, dict[int, float]]] = {}
    for row in db.execute(union_all(*parts)):
        _, values = groups.setdefault((row.g, row.k), (row.n, {}))
        values[row.rn] = round(float(row.v), 3)  # julianday() is only ~0.1 ms exact
    out: list[dict[str, Latency]] = [{} for _ in groupings]
    for (g, k), (n, values) in groups.items():
        out[g][k] = Latency(n, _interpolate(values, n, _MEDIAN), _interpolate(values, n, _P90))
    return out


def _interpolate(values: dict[int, float], n: int, fraction: tuple[int, int]) -> float:
    num, den = fraction
    low = (num * (n - 1)) // den
    weight = ((num * (n - 1)) % den) / den
    below, above = values[low + 1], values.get(low + 2, values[low + 1])
    return below + (above - below) * weight if weight else below


def tune_for_reporting(db: Db) -> None:
    """PostgreSQL only, for this transaction: skip JIT and give sorts room in memory.

    The nested CASE inflates the planner's cost estimate, so PostgreSQL JIT-compiles
    these sub-second queries and spends ~0.2 s doing it; with the default 4 MB of
    work_mem the window sorts spill to disk. SET LOCAL ends with the transaction.
    """
    bind = db.get_bind() if isinstance(db, Session) else db
    if bind.dialect.name == "postgresql":
        db.execute(text("SET LOCAL jit = off"))
        db.execute(text("SET LOCAL work_mem = '32MB'"))


def _in(start: datetime, end: datetime) -> ColumnElement:
    return and_(cases.c.created_at >= start, cases.c.created_at < end)


def _count_if(condition: ColumnElement) -> ColumnElement:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _numbers(db: Db, period: Period, now: datetime, *, chart: bool) -> tuple[Totals, Totals, list[AgentLine], list[Slot]]:
    """Volume, outcomes, SLA, response times, agents and chart slots for the period and the one before.

    Two statements whatever the period: one pass of counts (grouped by period,
    slot, network and category), and one for every percentile.
    """
    current = cases.c.created_at >= period.start
    edges = list(period.edges)
    bucket = _bucket_of(cases.c.created_at, edges) if chart else literal(0)
    slot = case((current, bucket), else_=-1)  # -1: the period before
    responded = cases.c.first_response_at.is_not(None)
    missed = or_(
        and_(responded, cases.c.sla_met == false()),
        and_(~responded, cases.c.status.in_(UNRESOLVED), cases.c.due_at < now),
    )
    both = or_(_in(period.start, period.end), _in(period.previous_start, period.previous_end))
    counts = (
        select(
            slot.label("slot"),
            cases.c.network,
            cases.c.category,
            func.count().label("opened"),
            _count_if(cases.c.status == CaseStatus.ANSWERED).label("answered"),
            _count_if(cases.c.status == CaseStatus.DISMISSED).label("dismissed"),
            _count_if(cases.c.status.in_(UNRESOLVED)).label("unresolved"),
            _count_if(and_(responded, cases.c.sla_met == true())).label("met"),
            _count_if(missed).label("missed"),
            _count_if(and_(cases.c.status == CaseStatus.ANSWERED, MOVED_TO_DM)).label("moved"),
        )
        .where(both)
        .group_by(slot, cases.c.network, cases.c.category)
    )
    this, before = Totals(), Totals()
    opened: dict[int, dict[str, int]] = {}
    for row in db.execute(counts):
        _add(before if row.slot < 0 else this, row)
        if row.slot >= 0:
            per_network = opened.setdefault(row.slot, {})
            per_network[row.network] = per_network.get(row.network, 0) + row.opened
    groupings = [case((current, 1), else_=0), case((and_(current, cases.c.status == CaseStatus.ANSWERED), cases.c.answered_by))]
    if chart:
        groupings.append(case((current, bucket)))
    latency = _latencies(db, [both], groupings)
    this.response, before.response = latency[0].get("1", Latency()), latency[0].get("0", Latency())
    agents = sorted((AgentLine(agent, lat.count, lat.median) for agent, lat in latency[1].items()), key=lambda a: (-a.answered, a.agent))
    slots = [
        Slot(edges[i], edges[i + 1], sum(opened.get(i, {}).values()), opened.get(i, {}), latency[2].get(str(i), Latency()))
        for i in range(len(edges) - 1)
    ] if chart else []
    return this, before, agents, slots


def _add(totals: Totals, row) -> None:
    totals.opened += row.opened
    totals.by_network[row.network] = totals.by_network.get(row.network, 0) + row.opened
    totals.by_category[row.category] = totals.by_category.get(row.category, 0) + row.opened
    totals.answered += row.answered
    totals.dismissed += row.dismissed
    totals.unresolved += row.unresolved
    totals.sla_met += row.met
    totals.sla_missed += row.missed
    totals.moved_to_dm += row.moved


def backlog(db: Db, now: datetime) -> Backlog:
    """Cases not answered or dismissed yet, by how long they have waited."""
    edges = [now - limit for limit, _ in AGE_BUCKETS]
    age = case(*[(cases.c.created_at >= edge, index) for index, edge in enumerate(edges)], else_=len(edges)).label("age")
    query = (
        select(age, func.count().label("n"), _count_if(cases.c.due_at < now).label("overdue"), func.min(cases.c.created_at).label("oldest"))
        .where(cases.c.status.in_(UNRESOLVED))
        .group_by(age)
    )
    counts, overdue, oldest = {}, 0, None
    for row in db.execute(query):
        counts[row.age] = row.n
        overdue += row.overdue
        oldest = row.oldest if oldest is None or (row.oldest and row.oldest < oldest) else oldest
    labels = [label for _, label in AGE_BUCKETS] + [OLDEST_AGE]
    return Backlog(sum(counts.values()), overdue, [(label, counts.get(i, 0)) for i, label in enumerate(labels)], oldest)


def topics(db: Db, period: Period, limit: int = 5) -> list[tuple[str, int]]:
    """What people complained about most in the period."""
    if limit <= 0:
        return []
    n = func.count().label("n")
    query = (
        select(cases.c.topic, n)
        .where(_in(period.start, period.end), cases.c.category == "complaint")
        .group_by(cases.c.topic)
        .order_by(n.desc(), cases.c.topic)
        .limit(limit)
    )
    return [(row.topic, row.n) for row in db.execute(query)]


_first = posts.alias("first_post")
ROOT_POST_ID = select(func.min(_first.c.id)).where(_first.c.case_id == cases.c.id).correlate(cases).scalar_subquery()


def slowest_open(db: Db, limit: int = 5) -> list[SlowCase]:
    """The unanswered cases that have waited longest."""
    if limit <= 0:
        return []
    query = (
        select(
            cases.c.id, cases.c.network, cases.c.status, cases.c.priority, cases.c.category, cases.c.created_at, cases.c.due_at, cases.c.claimed_by,
            func.coalesce(posts.c.url, "").label("url"), func.coalesce(posts.c.author_handle, "").label("author_handle"),
            func.coalesce(posts.c.text, "").label("text"),
        )
        .select_from(cases.outerjoin(posts, posts.c.id == ROOT_POST_ID))
        .where(cases.c.status.in_(UNRESOLVED))
        .order_by(cases.c.created_at, cases.c.id)
        .limit(limit)
    )
    return [SlowCase(**row._mapping) for row in db.execute(query)]


def report(db: Db, period: Period, *, now: datetime | None = None, chart: bool = True, topic_limit: int = 5, slowest_limit: int = 0) -> Report:
    """Everything a manager sees for one period."""
    now = now or utcnow()
    tune_for_reporting(db)
    current, previous, agents, slots = _numbers(db, period, now, chart=chart)
    return Report(
        period=period,
        now=now,
        current=current,
        previous=previous,
        agents=agents,
        backlog=backlog(db, now),
        slots=slots,
        topics=topics(db, period, topic_limit),
        slowest=slowest_open(db, slowest_limit),
        incidents=incident_numbers(db, period.start, period.end),
    )
