"""Engine, sessions and migrations."""
from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """SQLite gets WAL and a busy timeout so the web and worker threads can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL, not NORMAL: under WAL, NORMAL survives a kill -9 but a power cut can lose the last commits, and
            # a webhook delivery acknowledged after its commit is never sent again. The fsync costs the ack ~0.5 ms.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None: in memory)."""
    name = engine.url.database
    return Path(name).resolve() if name and name != ":memory:" and not name.startswith("file:") else None


class WriteGate:
    """The order in which SQLite writers take the database's one write lock: urgent ones first, across processes.

    A writer that finds SQLite's lock taken sleeps and polls (1, 2, 5, 10 ... 100 ms
    steps), and the background transaction that just committed often takes the lock
    again before it wakes: a webhook's store waited behind several triage batches.
    Writers that pass through here queue instead: the lock passes on the moment it is
    free, and an urgent writer (a delivery waiting for its 200) goes before background
    work.

    Within a process the writers queue on a condition; between processes (`socialdesk
    run`'s web and worker processes share one file) on ``flock`` locks on two files
    beside the database, so the kernel wakes the next writer the moment the lock is
    free.  An urgent writer holds the ``-urgent`` file shared while it waits, so a
    background writer in any process sees it (:meth:`urgent_waiting`) and lets it
    pass.  The kernel drops the locks of a process that dies.  Every ORM session that
    writes passes here (:func:`_gate_every_write`); writes on a bare connection
    (migrations, the health probe) still meet SQLite's busy timeout.
    """

    def __init__(self, path: Path | None = None, wait: float = 30.0):
        self.wait = wait  # as long as SQLite's busy timeout; after that the writer goes on to SQLite's own lock
        self._cond = threading.Condition()
        self._holder: int | None = None
        self._urgent = 0  # urgent writers of this process waiting
        self.waiting = 0  # all writers of this process waiting
        # No file (an in-memory database): one process only.
        self._files = (Path(f"{path}-gate"), Path(f"{path}-urgent")) if path is not None else None
        self._probe = threading.local()

    def _open(self, path: Path) -> int:
        # One descriptor per hold: flock belongs to the open file, so threads must not share one.
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def urgent_waiting(self) -> bool:
        """True while an urgent writer waits: a long background transaction can stop early and commit."""
        if self._urgent > 0:
            return True
        if self._files is None:
            return False
        fd = getattr(self._probe, "fd", None)
        if fd is None:
            fd = self._probe.fd = self._open(self._files[1])
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True  # another process's urgent writer holds it shared
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    @contextmanager
    def hold(self, *, urgent: bool) -> Iterator[None]:
        me = threading.get_ident()
        if self._holder == me:  # a gated write inside another: already ours
            yield
            return
        fds: list[int] = []
        try:
            if self._files is not None:
                fds.append(self._open(self._files[1]))
                if urgent:
                    fcntl.flock(fds[0], fcntl.LOCK_SH)  # seen by every process's background writers
                else:  # let every process's waiting urgent writers through first (before taking this process's turn,
                    fcntl.flock(fds[0], fcntl.LOCK_EX)  # or an urgent writer of this process would wait for us and we for it)
                    fcntl.flock(fds[0], fcntl.LOCK_UN)
            taken = self._take_turn(me, urgent)
            if taken and self._files is not None:
                fds.append(self._open(self._files[0]))
                fcntl.flock(fds[-1], fcntl.LOCK_EX)
            if fds:
                os.close(fds.pop(0))  # an urgent writer with its turn is no longer waiting
            try:
                yield
            finally:
                if taken:
                    with self._cond:
                        self._holder = None
                        self._cond.notify_all()
        finally:
            for fd in fds:
                os.close(fd)  # releases its lock

    def _take_turn(self, me: int, urgent: bool) -> bool:
        """This process's turn (False: the wait ran out and the writer goes on to SQLite's own lock)."""
        deadline = time.monotonic() + self.wait
        with self._cond:
            self._urgent += urgent
            self.waiting += 1
            try:
                while self._holder is not None or (not urgent and self._urgent):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            finally:
                self._urgent -= urgent
                self.waiting -= 1
            taken = self._holder is None
            if taken:
                self._holder = me
            return taken


def _gate_every_write(sessions: sessionmaker, gate: WriteGate) -> None:
    """Every session that writes queues at the gate just before its first write, and leaves when its transaction ends.

    The card publisher, the outbox and the jobs write through plain sessions: left
    to SQLite's busy wait, each of their transactions could keep a webhook's store
    polling for 10-50 ms.  pysqlite begins a transaction only at the first write, so
    that is where SQLite's lock is taken too.  A session opened with
    :meth:`Database.writing` holds the gate already (the same thread: no wait).
    """

    def take(session: Session) -> None:
        if "gate" not in session.info:
            held = gate.hold(urgent=False)
            held.__enter__()
            session.info["gate"] = held

    @event.listens_for(sessions, "before_flush")
    def _flush(session, _context, _instances):
        if session.new or session.dirty or session.deleted:
            take(session)

    @event.listens_for(sessions, "do_orm_execute")
    def _execute(state):
        if state.is_insert or state.is_update or state.is_delete:
            take(state.session)

    @event.listens_for(sessions, "after_transaction_end")
    def _end(session, transaction):
        if transaction.parent is None and "gate" in session.info:  # the outermost: committed or rolled back
            session.info.pop("gate").__exit__(None, None, None)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.gate = WriteGate(sqlite_file(self.engine)) if self.engine.dialect.name == "sqlite" else None  # PostgreSQL locks rows, not the database
        if self.gate is not None:
            _gate_every_write(self.sessions, self.gate)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def writing(self, *, urgent: bool = False) -> Iterator[Session]:
        """A unit of work that writes, through the gate: `urgent` for what a caller is waiting on (a webhook's 200).

        It queues before the session starts, not at its first write as other sessions
        do: the ingest stages' transactions then start and end in one turn, and a
        waiting store is seen at once.  Taking the gate at the first write instead gave
        a backlog p99 of 12-29 ms against 13-16 ms (README, "Webhook acknowledgement").
        """
        if self.gate is None:
            with self.session() as session:
                yield session
            return
        with self.gate.hold(urgent=urgent), self.session() as session:
            yield session

    def urgent_waiting(self) -> bool:
        return self.gate is not None and self.gate.urgent_waiting()

    def upgrade(self) -> None:
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(engine: Engine):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to `revision` on this engine."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
