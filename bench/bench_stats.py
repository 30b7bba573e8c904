"""How long `stats 30d` and `export 30d` take on a year of cases (default one million).

    python bench/bench_stats.py                      # SQLite in a temp file, 1,000,000 cases
    python bench/bench_stats.py --cases 200000       # quicker
    python bench/bench_stats.py --postgres           # a throwaway local PostgreSQL (Debian binaries)
    python bench/bench_stats.py --database-url URL   # an existing, EMPTY database

The process is pinned to one core. Baselines measured in the same run, on the same data:
  * naive: load the period's cases into Python (ORM) and compute the numbers there;
  * no indexes: the same SQL after dropping the indexes this feature added.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import Index, select, text  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402

from bot.domain import export, stats  # noqa: E402
from storage import models as m  # noqa: E402
from storage.db import Database  # noqa: E402

console = Console(width=max(Console().width, 130))  # the table stays readable when piped to a file
CHUNK = 10_000
AGENTS = [f"U0AGENT{i:02d}" for i in range(12)]
TOPICS = ["delivery", "refund", "billing", "app", "account", "general", "store"]
SLA = {"x": timedelta(minutes=15), "facebook": timedelta(hours=1)}
FEATURE_INDEXES = [("posts", "ix_posts_case"), ("replies", "ix_replies_case_kind")]  # what this feature added


def fill(db: Database, total: int, days: int, now: datetime, seed: int = 42) -> None:
    """`total` cases spread evenly over `days`, each with a root post and the replies it got."""
    rnd = random.Random(seed)
    span = days * 86400
    case_rows, post_rows, reply_rows = [], [], []
    reply_id = 0
    columns = TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()
    with Progress(*columns, console=console) as progress, db.engine.connect() as conn:
        task = progress.add_task("filling cases, posts, replies", total=total)
        offsets = sorted(rnd.random() * span for _ in range(total))
        for case_id, offset in enumerate(offsets, start=1):
            created = now - timedelta(seconds=span - offset)
            network = "x" if rnd.random() < 0.65 else "facebook"
            category = rnd.choices(("complaint", "question", "praise"), (55, 30, 15))[0]
            age = now - created
            roll = rnd.random()
            open_share = 0.35 if age < timedelta(days=2) else 0.002
            status = "open" if roll < open_share else ("dismissed" if roll < open_share + 0.08 else "answered")
            due = created + SLA[network]
            first = created + timedelta(seconds=rnd.lognormvariate(6.4, 1.0)) if status == "answered" else None
            if first and first > now:
                first, status = None, "open"
            agent = rnd.choice(AGENTS) if status == "answered" else None
            case_rows.append(dict(
                id=case_id, network=network, conversation_id=str(case_id), author_external_id=str(rnd.randrange(200_000)),
                status=status, category=category, priority=rnd.choices(("low", "normal", "high", "urgent"), (20, 60, 15, 5))[0],
                severity=0, sentiment=0.0, topic=rnd.choice(TOPICS), reasons=[], suggested_reply="", channel="C0CASES",
                created_at=created, due_at=due, first_response_at=first, resolved_at=first or (created + timedelta(hours=2) if status == "dismissed" else None),
                sla_met=(first <= due) if first else None, answered_by=agent, claimed_by=agent, updated_at=first or created,
            ))
            handle = f"customer{rnd.randrange(200_000)}"
            post_rows.append(dict(
                id=case_id, network=network, external_id=str(10**12 + case_id), case_id=case_id, kind="mention",
                text="my order never arrived and nobody answers", url=f"https://x.com/{handle}/status/{10**12 + case_id}",
                author_external_id=handle, author_handle=handle, created_at=created, ingested_at=created, slack_state="posted",
            ))
            if status == "answered":
                approval = str(uuid.UUID(int=rnd.getrandbits(128)))
                for kind in (("public", "private") if rnd.random() < 0.08 else ("public",)):
                    reply_id += 1
                    reply_rows.append(dict(
                        id=reply_id, case_id=case_id, approval_id=approval, kind=kind, text="sorry", requested_by=agent,
                        status="sent", attempts=1, next_attempt_at=first, created_at=first, sent_at=first,
                    ))
            if len(case_rows) >= CHUNK or case_id == total:
                with conn.begin():
                    conn.execute(m.Case.__table__.insert(), case_rows)
                    conn.execute(m.Post.__table__.insert(), post_rows)
                    if reply_rows:
                        conn.execute(m.Reply.__table__.insert(), reply_rows)
                progress.advance(task, len(case_rows))
                case_rows, post_rows, reply_rows = [], [], []
        with conn.begin():
            conn.execute(text("ANALYZE"))


def timed(func, repeat: int) -> tuple[list[float], float, object]:
    """Wall times of each run, the best CPU time (steadier on a shared machine), and the last result."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = func()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return times, min(cpu), result


def naive_stats(db: Database, period: stats.Period, now: datetime) -> dict:
    """The obvious way: load every case of both periods, with replies, and count in Python."""
    out = {}
    with db.session() as session:
        for name, start, end in (("current", period.start, period.end), ("previous", period.previous_start, period.previous_end)):
            rows = session.scalars(
                select(m.Case).options(selectinload(m.Case.replies)).where(m.Case.created_at >= start, m.Case.created_at < end)
            ).all()
            times = sorted((c.first_response_at - c.created_at).total_seconds() for c in rows if c.first_response_at)
            out[name] = dict(
                opened=len(rows), answered=sum(c.status == "answered" for c in rows),
                moved=sum(c.status == "answered" and any(r.kind == "private" and r.status == "sent" for r in c.replies) for c in rows),
                median=statistics.median(times) if times else None,
                p90=statistics.quantiles(times, n=10, method="inclusive")[-1] if len(times) > 1 else None,
            )
            by_agent: dict[str, list[float]] = {}
            for c in rows:
                if c.answered_by and c.first_response_at:
                    by_agent.setdefault(c.answered_by, []).append((c.first_response_at - c.created_at).total_seconds())
            out[name]["agents"] = {a: statistics.median(v) for a, v in by_agent.items()}
    return out


def with_deadline(db: Database, seconds: float, func):
    """Run `func`, abandoning it after `seconds` (SQLite only); returns (elapsed, finished)."""
    started = time.perf_counter()
    if db.engine.dialect.name != "sqlite":
        func()
        return time.perf_counter() - started, True
    from sqlalchemy import event

    db.engine.dispose()  # so the query below gets a fresh connection we can watch

    deadline = started + seconds

    @event.listens_for(db.engine, "connect")
    def _watch(dbapi_connection, _record):
        dbapi_connection.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, 100_000)

    try:
        func()
        return time.perf_counter() - started, True
    except Exception as exc:  # noqa: BLE001 - an interrupted query is the expected outcome here
        if "interrupted" not in str(exc):
            raise
        return time.perf_counter() - started, False
    finally:
        event.remove(db.engine, "connect", _watch)
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="an existing empty database (default: a temporary SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway local PostgreSQL for the run")
    parser.add_argument("--no-index-limit", type=float, default=120.0, help="give up on the no-index baseline after this many seconds")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    server = None
    workdir = Path(tempfile.mkdtemp(prefix="socialdesk-bench-"))
    if args.postgres:
        from tests.postgres import PostgresServer, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            sys.exit("no PostgreSQL binaries found (install the `postgresql` package)")
        if os.geteuid() == 0:
            os.chmod(workdir, 0o755)
        server = PostgresServer(bin_dir, workdir / "pg", "postgres" if os.geteuid() == 0 else None)
        server.root.mkdir()
        server.start()
        url = server.create_database("bench")
    else:
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    try:
        run(url, args)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def run(url: str, args) -> None:
    db = Database(url)
    db.upgrade()
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:  # one core: no parallel workers
            conn.execute(text(f"ALTER DATABASE {db.engine.url.database} SET max_parallel_workers_per_gather = 0"))
        db.engine.dispose()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    console.print(f"[bold]socialdesk stats benchmark[/] · {db.engine.dialect.name} · {args.cases:,} cases over {args.days} days · one core")
    started = time.perf_counter()
    fill(db, args.cases, args.days, now)
    console.print(f"filled in {time.perf_counter() - started:.1f}s")

    period30 = stats.period_ending_now("30d", now, "Europe/London")
    results = Table(title="results (seconds)")
    for column in ("what", "wall best", "wall median", "cpu best", "runs", "note"):
        results.add_column(column)

    def report(key: str):
        with db.session() as session:
            return stats.report(session, stats.period_ending_now(key, now, "Europe/London"), now=now)

    for key in ("30d", "7d", "today"):
        times, cpu, result = timed(lambda key=key: report(key), args.repeat)
        note = f"{result.current.opened:,} cases opened, {len(result.slots)} slots"
        results.add_row(f"stats {key}", f"{min(times):.3f}", f"{statistics.median(times):.3f}", f"{cpu:.3f}", str(len(times)), note)

    def export_30d():
        with db.session() as session:
            return export.to_csv(session, period30, now=now)

    times, cpu, (content, count) = timed(export_30d, max(1, args.repeat // 2))
    results.add_row("export 30d", f"{min(times):.3f}", f"{statistics.median(times):.3f}", f"{cpu:.3f}", str(len(times)), f"{count:,} rows, {len(content) / 1e6:.1f} MB CSV")

    times, cpu, naive = timed(lambda: naive_stats(db, period30, now), 1)
    sql = report("30d")
    agree = naive["current"]["opened"] == sql.current.opened and naive["current"]["moved"] == sql.current.moved_to_dm \
        and abs(naive["current"]["median"] - sql.current.response.median) < 0.01
    results.add_row("baseline: naive Python, 30d", f"{min(times):.3f}", "", f"{cpu:.3f}", "1",
                    f"ORM load of both periods + replies; {'same numbers' if agree else 'NUMBERS DIFFER'}")

    existing = {(t, i.name) for t in ("posts", "replies") for i in m.Base.metadata.tables[t].indexes}
    dropped = [(t, name) for t, name in FEATURE_INDEXES if (t, name) in existing]
    with db.engine.begin() as conn:
        for _, name in dropped:
            conn.execute(text(f"DROP INDEX {name}"))
    elapsed, finished = with_deadline(db, args.no_index_limit, lambda: report("30d"))
    results.add_row("baseline: stats 30d without the new indexes", f"{elapsed:.3f}" if finished else f"> {elapsed:.0f}",
                    "", "", "1", "dropped " + ", ".join(n for _, n in dropped) + ("" if finished else " (stopped: too slow)"))
    with db.engine.begin() as conn:
        for table, name in dropped:
            index = next(i for i in m.Base.metadata.tables[table].indexes if i.name == name)
            Index(index.name, *index.columns).create(conn)
    console.print(results)
    if db.engine.dialect.name != "sqlite":
        console.print("cpu best is this process only; the database server does the work in its own process.")
    db.dispose()


if __name__ == "__main__":
    main()
