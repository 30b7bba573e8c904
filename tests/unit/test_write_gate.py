"""The write gate: a webhook's store takes SQLite's one write lock before background work that waits for it."""
from __future__ import annotations

import threading
import time

from storage.db import WriteGate


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def writer(gate: WriteGate, name: str, order: list[str], *, urgent: bool) -> threading.Thread:
    def run():
        with gate.hold(urgent=urgent):
            order.append(name)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_an_urgent_writer_goes_before_background_writers_that_waited_longer():
    gate, order = WriteGate(), []
    with gate.hold(urgent=False):  # a triage batch holds the lock
        background = writer(gate, "triage", order, urgent=False)
        wait_until(lambda: gate.waiting == 1)  # queued first
        webhook = writer(gate, "webhook", order, urgent=True)
        wait_until(lambda: gate.waiting == 2 and gate.urgent_waiting())
        assert order == []
    webhook.join(5)
    background.join(5)
    assert order == ["webhook", "triage"]
    assert not gate.urgent_waiting()


def test_the_holder_sees_an_urgent_writer_waiting_so_it_can_commit_early():
    gate, order = WriteGate(), []
    with gate.hold(urgent=False):
        assert not gate.urgent_waiting()
        webhook = writer(gate, "webhook", order, urgent=True)
        wait_until(gate.urgent_waiting)
        assert order == []  # it waits for the holder, however urgent
    webhook.join(5)
    assert order == ["webhook"] and not gate.urgent_waiting()


def test_a_write_inside_a_write_of_the_same_thread_does_not_wait_for_itself():
    gate = WriteGate(wait=5)
    start = time.monotonic()
    with gate.hold(urgent=False), gate.hold(urgent=True):
        pass
    assert time.monotonic() - start < 1
    with gate.hold(urgent=True):  # released: free for the next one
        pass


def test_a_writer_stuck_behind_a_holder_goes_on_to_sqlites_own_lock_after_the_wait():
    gate, order = WriteGate(wait=0.2), []
    with gate.hold(urgent=False):
        late = writer(gate, "late", order, urgent=False)
        late.join(5)
        assert order == ["late"]  # not blocked for ever: SQLite's busy timeout decides from here
    with gate.hold(urgent=True):  # the holder's release leaves the gate usable
        pass
