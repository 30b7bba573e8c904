"""Background jobs: named, idempotent, one item failing never stops the rest.

Each domain contributes its jobs through a provider function returning `Job`s;
only the process holding the leader lock schedules them.
"""
from __future__ import annotations

import logging
import threading
from datetime import timezone
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from bot.clock import utcnow
from bot.flows import incidents as incident_flow
from bot.flows import escalation, workflows
from bot.flows.digest import digest_jobs
from bot.jobs import Job
from bot.leader import LeaderLock
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def core_jobs(rt: Runtime) -> list[Job]:
    jobs = [
        Job(f"poll:{name}", lambda name=name: workflows.poll(rt, name), "interval", {"seconds": rt.settings.poll_interval_seconds}, True)
        for name in rt.networks
    ]
    jobs += [
        # Keeps draining the queue at Slack's pace; one run waits for budget rather than returning early.
        Job("deliver", lambda: workflows.deliver(rt, max_wait=25), "interval", {"seconds": 5}, True),
        # Cards whose last edit failed (Slack errors, a crash) are edited again until they show the case.
        Job("cards", lambda: rt.publisher.sync_stale(), "interval", {"seconds": 5}, True),
        # Posts stored but not yet triaged (a webhook's, or a crashed process's claim gone stale).
        Job("triage", lambda: workflows.kick_triage(rt), "interval", {"seconds": 5}, True),
        Job("outbox", lambda: workflows.process_outbox(rt), "interval", {"seconds": 5}),
        Job("release_claims", lambda: workflows.release_stale_claims(rt), "interval", {"minutes": 5}),
    ]
    return jobs


PROVIDERS: list[Callable[[Runtime], list[Job]]] = [core_jobs, digest_jobs, escalation.jobs, incident_flow.jobs]


def all_jobs(rt: Runtime) -> list[Job]:
    return [job for provider in PROVIDERS for job in provider(rt)]


def _safely(job: Job):
    def run():
        try:
            job.func()
        except Exception:  # noqa: BLE001 - a job must survive to run again
            log.exception("job %s failed", job.id)

    return run


class Scheduler:
    """Owns the APScheduler instance; only the process holding the leader lock runs jobs."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.lock = LeaderLock(rt.db.engine)
        self.scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        self.leading = False
        # APScheduler's shutdown(wait=True) holds its job-store lock while it waits for running jobs, and _lead adds
        # jobs under that lock: a stop during _lead hung for ever. _lead runs under this lock, and not once stopping.
        self._leading = threading.Lock()
        self._stopping = False

    def start(self) -> None:
        # Non-leaders keep trying, so a standby takes over when the leader dies.
        self.scheduler.add_job(self._lead, "interval", seconds=30, id="leader", next_run_time=utcnow())
        self.scheduler.start()

    def _lead(self) -> None:
        with self._leading:
            if self._stopping or self.leading or not self.lock.acquire():
                return
            self.leading = True
            log.info("this process runs the scheduled jobs")
            now = utcnow()
            for job in all_jobs(self.rt):
                extra = {"next_run_time": now} if job.run_at_start else {}
                self.scheduler.add_job(_safely(job), job.trigger, id=job.id, name=job.id, replace_existing=True, **job.trigger_args, **extra)

    def stop(self, wait: bool = False) -> None:
        """Stop scheduling; with `wait`, running jobs finish first (the lock is held until they do)."""
        with self._leading:
            self._stopping = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.lock.release()
