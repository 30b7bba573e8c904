"""The worker half of `socialdesk run` in a process of its own: the scheduled jobs and triage.

The models hold the GIL for most of a post's 2-3 ms, and the jobs (incident
detection, carding) for stretches of their own.  In the process that answers
webhooks they made every acknowledgement wait its turn: p99 52 ms while a
backlog was triaged.  In a process of their own, the kernel runs the web process
the moment a delivery arrives, even on the same core (README "Webhook
acknowledgement"); the two meet only at the database's write gate
(:class:`storage.db.WriteGate`), where a webhook's store goes first.

`socialdesk run` starts one with the scheduler (the same jobs as `--role
worker`); `--role web` starts one for triage only, its scheduler being the
separate worker's.  The web process nudges it after each store; it also looks
every few seconds by itself.  Posts are claimed in the database, so a worker
that dies loses nothing: its claims go stale and are taken up again, and the
web process starts another.  When the web process dies, the worker finishes
the batch in hand and exits.  What the worker learns of Slack's and the
networks' health it tells the web process, whose `/healthz` reports it.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time

from bot.health import Health

log = logging.getLogger(__name__)

LOOK_EVERY = 5.0  # s: triage what is stored even without a nudge (a poll in another process, stale claims)
RESTART_AFTER = 10.0  # s: a worker that keeps dying is started again at most this often
WATCH_EVERY = 1.0  # s: how often the worker checks that the web process is still there
#: Where both share a core, the kernel gives it to a waking web process at once: a delivery waiting for its
#: 200 goes before background work, as at the write gate. On an idle core the worker runs as fast as before.
NICE = 10


class WorkerProcess:
    """The web process's handle on its worker: start, nudge, restart when it died, stop."""

    def __init__(self, health: Health, *, schedule: bool) -> None:
        self.health = health  # the web process's: what the worker reports lands here
        self.schedule = schedule
        self._ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or sockets forked mid-use
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._nudges = None
        self._nudged = self._ctx.Event()  # a nudge is waiting to be read: more would only fill the pipe
        self._started = 0.0
        self._stop = threading.Event()

    def start(self) -> "WorkerProcess":
        with self._lock:
            self._spawn()
        threading.Thread(target=self._supervise, name="worker-supervisor", daemon=True).start()
        return self

    def _spawn(self) -> None:
        nudges_in, self._nudges = self._ctx.Pipe(duplex=False)
        reports, reports_out = self._ctx.Pipe(duplex=False)
        self._process = self._ctx.Process(target=main, args=(nudges_in, reports_out, self._nudged, os.getpid(), self.schedule),
                                          name="socialdesk-worker", daemon=True)
        self._started = time.monotonic()
        self._process.start()
        nudges_in.close()  # the worker's ends: when this process dies, the worker reads end-of-file
        reports_out.close()
        threading.Thread(target=self._listen, args=(reports,), name="worker-reports", daemon=True).start()
        log.info("%s in process %s", "the scheduler and triage run" if self.schedule else "triage runs", self._process.pid)

    def _supervise(self) -> None:
        """A worker that died (a crash, the OOM killer) is replaced; what it had claimed is taken up again."""
        while not self._stop.wait(WATCH_EVERY):
            with self._lock:
                if self._stop.is_set() or self._process.is_alive() or time.monotonic() - self._started < RESTART_AFTER:
                    continue
                log.warning("the worker process %s exited with %s; starting another", self._process.pid, self._process.exitcode)
                self._nudges.close()
                self._spawn()

    def _listen(self, reports) -> None:
        """Apply the worker's health reports to this process's Health, until the worker exits."""
        while True:
            try:
                outcome, *args = reports.recv()
            except (EOFError, OSError):
                reports.close()
                return
            getattr(self.health, outcome)(*args)

    def kick(self) -> None:
        """Triage what is stored now (a webhook's post just committed)."""
        with self._lock:
            if self._stop.is_set() or self._process is None or self._nudged.is_set():
                return
            self._nudged.set()
            try:
                self._nudges.send_bytes(b"")
            except OSError:  # it died: the supervisor starts another, which triages first thing
                pass

    def stop(self, timeout: float) -> bool:
        """Ask it to finish the batch in hand and its running jobs, then exit; True when it did within `timeout` s."""
        with self._lock:
            self._stop.set()
            process = self._process
        if process is None or not process.is_alive():
            return True
        process.terminate()  # SIGTERM: it drains as `socialdesk run` does
        process.join(timeout)
        if process.is_alive():
            log.warning("the worker process %s did not stop in %.0fs; killed (its claims are taken up again)", process.pid, timeout)
            process.kill()
            process.join(5)
            return False
        return True


class _Reporting(Health):
    """The worker's Health: each outcome is also sent to the web process."""

    def __init__(self, reports) -> None:
        super().__init__()
        self._reports, self._send = reports, threading.Lock()

    def success(self, name: str) -> None:
        super().success(name)
        self._report("success", name)

    def failure(self, name: str, error: str) -> None:
        super().failure(name, error)
        self._report("failure", name, error)

    def _report(self, *event) -> None:
        try:
            with self._send:
                self._reports.send(event)
        except OSError:  # the web process is gone; the watcher stops this one
            pass


def main(nudges, reports, nudged, parent: int, schedule: bool) -> None:
    """The worker: its scheduler (if asked), and triage when nudged or every LOOK_EVERY s."""
    from bot import logs
    from bot.config import load_file_config, load_settings
    from bot.flows import workflows
    from bot.runtime import build_runtime
    from bot.scheduler import Scheduler
    from bot.serve import freeze_startup_objects
    from bot.triage.model import get_model

    os.nice(NICE)
    settings = load_settings()
    logs.configure(settings)
    rt = build_runtime(settings, load_file_config(settings.socialdesk_config), health=_Reporting(reports))

    def on_signal(_signum, _frame):
        rt.stopping.set()  # loops stop between items; what is not claimed yet waits for the next process

    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C reaches the whole process group
        signal.signal(sig, on_signal)
    get_model()
    freeze_startup_objects()
    threading.Thread(target=_watch, args=(parent, rt.stopping), name="watch-web-process", daemon=True).start()
    scheduler = Scheduler(rt) if schedule else None
    if scheduler:
        scheduler.start()
    last = 0.0
    try:
        while not rt.stopping.is_set():
            try:
                nudge = nudges.poll(WATCH_EVERY)
                while nudges.poll(0):
                    nudges.recv_bytes()
            except (EOFError, OSError):
                break  # the web process is gone
            if nudge or time.monotonic() - last >= LOOK_EVERY:
                nudged.clear()  # before triage starts: a post stored from here on is seen by it or nudges again
                last = time.monotonic()
                workflows.kick_triage(rt)  # one triage loop, shared with the scheduler's triage job
    finally:
        rt.stopping.set()
        if scheduler:
            scheduler.stop(wait=True)
        rt.close()
        log.info("worker process stopped")


def _watch(parent: int, stopping: threading.Event) -> None:
    """The web process died (kill -9): stop after the batch in hand instead of working for no one."""
    while not stopping.wait(WATCH_EVERY):
        if os.getppid() != parent:
            log.warning("the web process %s is gone; its worker stops", parent)
            stopping.set()
