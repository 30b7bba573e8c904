"""Two-stage ingest on a real PostgreSQL: atomic with the cursor, no post stored or settled twice by racing processes."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import event, func, select

from bot.config import FileConfig
from bot.domain import ingest
from bot.domain.posts import Author, Post
from bot.flows import workflows
from storage import models as m
from storage.db import Database
from tests.postgres import postgres_server  # noqa: F401 - the session fixture

pytestmark = pytest.mark.timeout(180)


def posts(n: int, start: int = 0) -> list[Post]:
    now = datetime.now(timezone.utc)
    return [Post(network="x", external_id=str(5000 + i), text=f"@acme my order #{i} never arrived, I want a refund",
                 author=Author(external_id=f"a{i}", handle=f"h{i}", name=f"N {i}"), created_at=now)
            for i in range(start, start + n)]


@pytest.fixture
def pg_url(postgres_server):  # noqa: F811 - the imported fixture
    url = postgres_server.create_database("ingest")
    db = Database(url)
    db.upgrade()
    db.dispose()
    return url


def runtime(url: str) -> SimpleNamespace:
    return SimpleNamespace(db=Database(url), config=FileConfig(), channel="C0CASES", stopping=threading.Event())


def test_a_failed_cursor_write_takes_the_posts_stored_with_it(pg_url):
    rt = runtime(pg_url)

    def crash_on_cursor(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO CURSORS"):
            raise RuntimeError("killed before the cursor moved")

    event.listen(rt.db.engine, "before_cursor_execute", crash_on_cursor)
    with pytest.raises(RuntimeError):
        with rt.db.session() as session:
            ingest.store(session, posts(5), own_ids=set())
            session.add(m.Cursor(stream="x:mentions", value="5004"))
    event.remove(rt.db.engine, "before_cursor_execute", crash_on_cursor)
    with rt.db.session() as session:
        assert session.scalar(select(func.count(m.Post.id))) == 0
        again = ingest.store(session, [*posts(5), *posts(2)], own_ids={"a1"})
    assert len(again.stored) == 4 and again.dropped == 1 and again.duplicates == 2
    rt.db.dispose()


def test_racing_stores_and_triage_from_three_processes_store_and_settle_each_post_once(pg_url):
    runtimes = [runtime(pg_url) for _ in range(3)]
    start = threading.Barrier(3, timeout=30)
    stored, settled, errors = [], [], []

    def work(rt, offset):
        try:
            start.wait()
            # Overlapping deliveries (poll and webhooks): each post arrives three times.
            for chunk in range(0, 150, 25):
                with rt.db.session() as session:
                    stored.append(ingest.store(session, posts(25, start=(chunk + offset * 25) % 150), own_ids=set()))
            settled.append(workflows.triage_stored(rt, batch=16))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(rt, i)) for i, rt in enumerate(runtimes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert not errors
    assert sum(len(r.stored) for r in stored) == 150 and sum(r.duplicates for r in stored) == 300
    opened = [c for r in settled for c in r.new_cases]
    assert len(opened) == len(set(opened)) == 150
    with runtimes[0].db.session() as session:
        assert session.scalar(select(func.count(m.Case.id))) == 150
        assert session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state != "done")) == 0
        assert session.scalar(select(func.count(func.distinct(m.Post.case_id)))) == 150
    for rt in runtimes:
        rt.db.dispose()


def test_processes_counting_the_days_first_spam_at_once_lose_no_count(pg_url):
    # Each counts in its own transactions; the day's row does not exist yet when all three start.
    dbs = [Database(pg_url) for _ in range(3)]
    start = threading.Barrier(3, timeout=30)
    errors = []
    now = datetime.now(timezone.utc)

    def count(db):
        try:
            start.wait()
            for _ in range(20):
                with db.session() as session:
                    ingest.bump_counter(session, "spam", now, 2)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=count, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with dbs[0].session() as session:
        assert session.get(m.Counter, (now.date().isoformat(), "spam")).value == 120
    for db in dbs:
        db.dispose()
