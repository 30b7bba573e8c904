"""The stats tests again, on a real PostgreSQL: the same SQL must give the same numbers.

Plus a cross-check of our portable percentiles against PostgreSQL's own
percentile_cont, and one end-to-end run of the bot on PostgreSQL.
"""
from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bot.domain import stats
from bot.emulators.stack import CHANNEL, LocalStack
from storage.db import Database
from tests.postgres import postgres_server  # noqa: F401 - the session fixture
from tests.integration.test_stats import MANAGER, MANAGERS, NOW, StatsContract, add_case, command, seed_recent, text_of

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def pg_url(postgres_server):  # noqa: F811 - the imported fixture
    url = postgres_server.create_database("stats")
    db = Database(url)
    db.upgrade()
    db.dispose()
    return url


@pytest.fixture(scope="module")
def pg_db(pg_url):
    db = Database(pg_url)
    yield db
    db.dispose()


def empty(db: Database) -> None:
    with db.engine.begin() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")).scalars().all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


class TestStatsOnPostgres(StatsContract):
    @pytest.fixture
    def db(self, pg_db):
        empty(pg_db)
        return pg_db


def test_our_percentiles_match_postgres_percentile_cont(pg_db):
    empty(pg_db)
    rnd = random.Random(7)
    with pg_db.session() as session:
        for network, size in (("x", 1), ("facebook", 2), ("instagram", 10), ("tiktok", 37)):
            for _ in range(size):
                add_case(session, NOW - timedelta(hours=rnd.uniform(1, 100)), network=network, response=round(rnd.uniform(1, 9000), 3), agent="U0AGENT")
    from sqlalchemy import case

    with pg_db.session() as session:
        ours = stats._latencies(session, [], [stats.cases.c.network, case((stats.cases.c.network == "tiktok", "t"))])
        theirs = session.execute(text(
            "SELECT network, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at)),"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at))"
            " FROM cases WHERE first_response_at IS NOT NULL GROUP BY network"
        )).all()
    assert len(theirs) == 4
    for network, count, median, p90 in theirs:
        assert ours[0][network] == stats.Latency(count, pytest.approx(float(median), abs=0.002), pytest.approx(float(p90), abs=0.002))
    assert ours[1]["t"] == ours[0]["tiktok"]


def test_stats_and_export_end_to_end_on_postgres(pg_url, pg_db):
    empty(pg_db)
    stack = LocalStack(pg_url, config=MANAGERS).start()
    try:
        stack.slack.add_user(MANAGER, "maria", tz="America/New_York")
        seed_recent(stack, datetime.now(timezone.utc))
        command(stack, MANAGER, "stats 7d")
        numbers = stack.slack.wait_for(lambda: [r for r in stack.slack.responses if r.get("blocks")], what="the numbers", timeout=20)[0]
        assert "*Cases opened*\n3" in text_of(numbers) and "America/New_York" in text_of(numbers)
        stack.slack.wait_for(lambda: [u for u in stack.slack.uploads.values() if u.get("completed")], what="chart", timeout=20)
        command(stack, MANAGER, "export 30d")
        stack.slack.wait_for(lambda: len([u for u in stack.slack.uploads.values() if u.get("completed")]) == 2, what="csv", timeout=20)
        csv_upload = next(u for u in stack.slack.uploads.values() if u["filename"].endswith(".csv"))
        rows = list(csv.DictReader(io.StringIO(csv_upload["content"].decode())))
        assert len(rows) == 3 and rows[0]["created"].endswith(("-04:00", "-05:00"))
        assert stack.slack.calls("files.completeUploadExternal")[0]["channel_id"] == CHANNEL
    finally:
        stack.stop()
