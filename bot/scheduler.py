"""Background jobs: named, idempotent, one item failing never stops the rest."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from bot import workflows
from bot.leader import LeaderLock
from bot.runtime import Runtime

log = logging.getLogger(__name__)
CLAIM_TIMEOUT = timedelta(hours=2)


def _safely(name: str, func, *args):
    def job():
        try:
            func(*args)
        except Exception:  # noqa: BLE001 - a job must survive to run again
            log.exception("job %s failed", name)

    job.__name__ = name
    return job


class Scheduler:
    """Owns the APScheduler instance; only the process holding the leader lock runs jobs."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.lock = LeaderLock(rt.db.engine)
        self.scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        self.leading = False

    def start(self) -> None:
        self.scheduler.add_job(self._lead, "interval", seconds=30, id="leader", next_run_time=datetime.now(timezone.utc))
        self.scheduler.start()

    def _lead(self) -> None:
        if self.leading or not self.lock.acquire():
            return
        self.leading = True
        log.info("this process runs the scheduled jobs")
        rt, now = self.rt, datetime.now(timezone.utc)
        for name in rt.networks:
            self.scheduler.add_job(
                _safely(f"poll:{name}", workflows.poll, rt, name), "interval", seconds=rt.settings.poll_interval_seconds, id=f"poll:{name}", next_run_time=now
            )
        self.scheduler.add_job(_safely("deliver", workflows.deliver, rt), "interval", seconds=10, id="deliver", next_run_time=now)
        self.scheduler.add_job(_safely("outbox", workflows.process_outbox, rt), "interval", seconds=5, id="outbox")
        self.scheduler.add_job(_safely("release_claims", workflows.release_stale_claims, rt, CLAIM_TIMEOUT), "interval", minutes=5, id="release_claims")

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        self.lock.release()
