"""Exactly one process runs the scheduler: a lock only one holder can take.

PostgreSQL: a session advisory lock on a connection kept open. SQLite (one
host): an exclusive flock on a file beside the database. Released when the
process exits, so another process can take over.
"""
from __future__ import annotations

import fcntl
import logging
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)
LOCK_KEY = 0x50C1A1  # arbitrary constant shared by every socialdesk process


class LeaderLock:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._handle = None

    def acquire(self) -> bool:
        if self._handle is not None:
            return True
        url = make_url(str(self.engine.url))
        if url.get_backend_name() == "postgresql":
            connection = self.engine.connect()
            if connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar():
                self._handle = connection
                return True
            connection.close()
            return False
        path = Path(url.database or "socialdesk.db").with_suffix(".scheduler.lock") if url.database not in (None, "", ":memory:") else None
        if path is None:
            self._handle = True  # in-memory database: only this process can see it anyway
            return True
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None or handle is True:
            return
        if hasattr(handle, "execute"):
            handle.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            handle.close()
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
