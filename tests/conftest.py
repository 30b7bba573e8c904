"""Shared fixtures: a clean environment and the whole product on emulators."""
from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

from bot.config import FileConfig
from bot.emulators.stack import LocalStack
from storage.db import Database

_PREFIXES = ("SLACK_", "X_", "FACEBOOK_", "INSTAGRAM_", "SOCIALDESK_", "DATABASE_URL", "POLL_INTERVAL", "PORT", "HOST")


def _missing(marker: str) -> str | None:
    """Why a marked test cannot run here, or None when it can."""
    if marker == "train" and importlib.util.find_spec("torch") is None:
        return "needs the train extra (pip install -e '.[train]'): torch is not installed"
    if marker == "browser" and not (importlib.util.find_spec("playwright") and shutil.which(os.environ.get("SOCIALDESK_CHROMIUM", "chromium"))):
        return "needs playwright and a chromium (apt-get install chromium)"
    return None


def pytest_runtest_setup(item):
    """Skip what needs torch or a browser when absent, unless CI says it must run (then it fails)."""
    for marker in ("train", "browser"):
        if item.get_closest_marker(marker) and (why := _missing(marker)):
            if os.environ.get(f"SOCIALDESK_REQUIRE_{marker.upper()}"):
                pytest.fail(f"SOCIALDESK_REQUIRE_{marker.upper()} is set but the test {why}")
            pytest.skip(why)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No real credentials, no proxies, and no stray .env from the developer's machine."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name.lower() in ("http_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db(tmp_path):
    """A migrated SQLite database file, for the domain on its own."""
    database = Database(f"sqlite:///{tmp_path / 'domain.db'}")
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def make_stack(tmp_path):
    """Build a LocalStack with custom config; stopped after the test."""
    stacks = []

    def make(config: FileConfig | None = None, **settings) -> LocalStack:
        stack = LocalStack(f"sqlite:///{tmp_path / 'socialdesk.db'}", config=config, **settings).start()
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture
def stack(make_stack) -> LocalStack:
    return make_stack()


@pytest.fixture
def customer(stack):
    """A customer with a following on the emulated X."""
    return stack.x.add_user(username="jordan_k", name="Jordan K", followers=48_200)


@pytest.fixture
def clock(time_machine):
    """Real time that keeps ticking, which a test can jump forward with `clock.shift(seconds)`."""
    import datetime as dt

    time_machine.move_to(dt.datetime.now(dt.timezone.utc), tick=True)
    return time_machine
