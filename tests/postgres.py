"""A real PostgreSQL server for the test run, started from the Debian binaries.

Import `postgres_server` into a test module (or conftest) to use it. The server
lives in a temporary directory, listens only on a Unix socket there (no port to
clash with), and is stopped at the end of the session. Without the binaries the
tests that need it are skipped, unless SOCIALDESK_REQUIRE_POSTGRES=1 (CI), where
a missing or broken server fails them instead.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 30.0
REQUIRED = os.environ.get("SOCIALDESK_REQUIRE_POSTGRES") == "1"


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"PostgreSQL is required (SOCIALDESK_REQUIRE_POSTGRES=1) but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    for initdb in reversed(candidates):
        bin_dir = Path(initdb).parent
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    return None


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    user: str | None  # run the server as this OS user (postgres refuses to run as root)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def start(self) -> None:
        self.socket_dir.mkdir()
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        done = self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[-800:]}")
        options = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options,
                         "-w", "-t", str(int(STARTUP_TIMEOUT)), "start", timeout=STARTUP_TIMEOUT + 10)
        if done.returncode:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()[-400:]}\n{self.log_tail()}")
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg2

        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                psycopg2.connect(host=str(self.socket_dir), user="postgres", dbname="postgres", connect_timeout=2).close()
                return
            except psycopg2.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not accept connections within {STARTUP_TIMEOUT:.0f}s: {exc}\n{self.log_tail()}") from None
                time.sleep(0.1)

    def log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-1500:] if log.exists() else "(no server log)"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://postgres@/{database}?host={self.socket_dir}"

    def create_database(self, prefix: str = "test") -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg2

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        connection = psycopg2.connect(host=str(self.socket_dir), user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        connection.close()
        return self.url(name)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL for the whole session (skipped or failed when it cannot run, see module doc)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _unavailable("psycopg2 is not installed (pip install psycopg2-binary)")
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _unavailable("no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin; install the `postgresql` package")
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no `postgres` user to run the server as")
        user = "postgres"
    root = Path(tempfile.mkdtemp(prefix="socialdesk-pg-"))
    server = PostgresServer(bin_dir, root, user)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        _unavailable(f"the server did not start: {exc}")
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)
