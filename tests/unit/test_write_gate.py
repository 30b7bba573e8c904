"""The write gate: a webhook's store takes SQLite's one write lock before background work that waits for it, in this process or another."""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from storage.db import Database, WriteGate

ROOT = Path(__file__).resolve().parents[2]


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


# -- across processes: the web process and its triage process share one database file ------------------------------

HOLD_IN_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from storage.db import WriteGate
gate = WriteGate(Path({db!r}))
print("waiting", flush=True)
with gate.hold(urgent={urgent}):
    with open({log!r}, "a") as f:
        f.write("{name}\\n")
    print("holding", flush=True)
    time.sleep({linger})
"""


def child_writer(tmp_path, name: str, *, urgent: bool, linger: float = 0.0) -> subprocess.Popen:
    code = HOLD_IN_CHILD.format(root=str(ROOT), db=str(tmp_path / "bot.db"), log=str(tmp_path / "order.log"), urgent=urgent,
                                name=name, linger=linger)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "waiting"
    return child


def order(tmp_path) -> list[str]:
    path = tmp_path / "order.log"
    return path.read_text().split() if path.exists() else []


def test_an_urgent_writer_in_another_process_is_seen_by_the_holder_and_goes_before_our_background_writers(tmp_path):
    gate = WriteGate(tmp_path / "bot.db")
    with gate.hold(urgent=False):  # the triage process settles a batch
        webhook = child_writer(tmp_path, "webhook", urgent=True)  # the web process stores a delivery
        wait_until(gate.urgent_waiting)  # so the batch commits early
        with open(tmp_path / "order.log", "a") as f:
            f.write("holder\n")

        def background():
            with gate.hold(urgent=False):
                with open(tmp_path / "order.log", "a") as f:
                    f.write("triage\n")

        later = threading.Thread(target=background, daemon=True)
        later.start()  # it waits for the other process's urgent writer before it queues here
    assert webhook.wait(10) == 0
    later.join(10)
    assert order(tmp_path) == ["holder", "webhook", "triage"]
    assert not gate.urgent_waiting()


def test_a_process_killed_while_it_holds_the_gate_does_not_block_the_others(tmp_path):
    holder = child_writer(tmp_path, "killed", urgent=False, linger=600)
    assert holder.stdout.readline().strip() == "holding"
    gate = WriteGate(tmp_path / "bot.db")
    waiter = writer(gate, "next", [], urgent=True)
    holder.send_signal(signal.SIGKILL)  # kill -9 mid-transaction: the kernel drops its locks
    holder.wait(10)
    waiter.join(10)
    assert not waiter.is_alive()


def test_an_in_memory_database_has_a_gate_for_this_process_only():
    db = Database("sqlite://")
    with db.writing(urgent=True):
        assert not db.urgent_waiting()


# -- every session that writes queues at the gate, not only the ingest stages' ---------------------------------------


def test_a_plain_session_queues_at_the_gate_before_its_first_write_and_leaves_when_its_transaction_ends(tmp_path):
    from storage import models as m

    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    db.upgrade()
    done = []

    def publisher_write():  # the card publisher, the outbox, a job: no writing() of their own
        with db.session() as session:
            session.get(m.Cursor, "x:mentions")  # a read does not queue
            session.add(m.Cursor(stream="x:mentions", value="1"))
        done.append("written")

    with db.gate.hold(urgent=False):  # a triage batch holds the lock
        thread = threading.Thread(target=publisher_write, daemon=True)
        thread.start()
        wait_until(lambda: db.gate.waiting == 1)
        assert done == []
    thread.join(10)
    assert done == ["written"]
    with db.gate.hold(urgent=True):  # released at commit
        pass

    def failing_write():
        try:
            with db.session() as session:
                session.add(m.Cursor(stream="x:mentions", value="2"))  # the same key: the flush fails
                session.flush()
        except Exception:  # noqa: BLE001 - the rollback is what is tested
            done.append("rolled back")

    failing = threading.Thread(target=failing_write, daemon=True)
    failing.start()
    failing.join(10)
    assert done[-1] == "rolled back"
    other = writer(db.gate, "after the rollback", done, urgent=False)
    other.join(5)
    assert done[-1] == "after the rollback"  # the failed transaction left the gate
    db.dispose()
