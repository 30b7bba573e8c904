"""Everything built once from configuration: database, Slack client, networks."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import FileConfig, Settings, load_file_config, secret
from bot.domain.approvals import ApprovalPolicy
from bot.health import Health, TrackedWebClient
from bot.logs import error_ref
from bot.networks import build_networks
from bot.networks.base import Network
from bot.slack.publisher import Publisher
from storage.db import Database

log = logging.getLogger(__name__)


def slack_client(settings: Settings, health: Health | None = None, *, retry_rate_limited: bool = True, timeout: int = 15) -> WebClient:
    """Retries 429s after Retry-After; connection errors are not retried blindly (a post could double).

    The publisher's client does not retry 429s itself: it paces every channel and
    shares Slack's Retry-After with every other sender instead of sleeping on it.
    With `health`, every call's outcome is recorded for /healthz.
    """
    kwargs = dict(
        token=secret(settings.slack_bot_token) or None,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)] if retry_rate_limited else [],
    )
    return TrackedWebClient(health=health, **kwargs) if health is not None else WebClient(**kwargs)


@dataclass
class Runtime:
    settings: Settings
    config: FileConfig
    db: Database
    slack: WebClient
    networks: dict[str, Network]
    publisher: Publisher
    health: Health = field(default_factory=Health)
    background: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="socialdesk"))
    own_ids: dict[str, set[str]] = field(default_factory=dict)
    poll_backoff: dict[str, datetime] = field(default_factory=dict)  # network -> do not poll before
    stopping: threading.Event = field(default_factory=threading.Event)  # set when draining: loops stop between items
    # Set in a process that answers webhooks: its triage runs in a worker process of its own (bot.worker_process), woken by this.
    triage_elsewhere: Callable[[], None] | None = None
    _singles: dict[str, bool] = field(default_factory=dict)  # submit_single: key -> asked again while running
    _singles_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def policy(self) -> ApprovalPolicy:
        return ApprovalPolicy(self.config.approvals, self.config.roles)

    @property
    def channel(self) -> str:
        return self.settings.socialdesk_channel

    def own_ids_for(self, name: str) -> set[str]:
        """The brand's own account ids per network, looked up once."""
        if name not in self.own_ids:
            self.own_ids[name] = self.networks[name].own_ids()
        return self.own_ids[name]

    def submit(self, work: Callable[..., object], /, *args, on_failure: Callable[[str], None] | None = None, **kwargs) -> Future:
        """Run `work` on the background pool, after the request was acknowledged.

        A failure is logged with a short reference (nothing is lost silently in the
        pool); `on_failure(ref)` lets the person who started it see the same reference.
        """
        name = getattr(work, "__qualname__", repr(work))

        def run() -> object:
            try:
                return work(*args, **kwargs)
            except Exception:  # noqa: BLE001 - the pool would swallow it; log it with a reference instead
                ref = error_ref()
                log.exception("background work %s failed (ref %s)", name, ref)
                if on_failure is not None:
                    try:
                        on_failure(ref)
                    except Exception:  # noqa: BLE001 - already failing; the log has the trace
                        log.warning("could not report failure %s", ref)
                return None

        return self.background.submit(run)

    def submit_single(self, key: str, work: Callable[[], object]) -> None:
        """Run `work` on the background pool unless it already runs; asked meanwhile, it runs once more after.

        For work that drains a queue (triage of stored posts): a burst of webhooks
        starts one loop, not one per delivery, so the pool stays free for sends and
        card edits.
        """
        with self._singles_lock:
            if key in self._singles:
                self._singles[key] = True
                return
            self._singles[key] = False

        def loop() -> None:
            while True:
                try:
                    work()
                except Exception:  # noqa: BLE001 - logged with a reference; the next request runs it again
                    log.exception("background work %s failed (ref %s)", key, error_ref())
                with self._singles_lock:
                    if not self._singles.get(key) or self.stopping.is_set():
                        self._singles.pop(key, None)
                        return
                    self._singles[key] = False

        try:
            self.background.submit(loop)
        except RuntimeError:  # the pool is shut down: the process is stopping
            with self._singles_lock:
                self._singles.pop(key, None)

    def drain(self) -> None:
        """Finish the background work already handed over (sends, card edits); take no new work."""
        self.stopping.set()
        self.publisher.close()
        self.background.shutdown(wait=True, cancel_futures=False)

    def close(self) -> None:
        self.drain()
        self.db.dispose()


def build_runtime(settings: Settings, config: FileConfig | None = None, *, health: Health | None = None) -> Runtime:
    config = config if config is not None else load_file_config(settings.socialdesk_config)
    db = Database(settings.database_url)
    from bot.flows import incidents as incident_flow  # it builds on Runtime itself

    health = health if health is not None else Health()
    client = slack_client(settings, health)
    publisher = Publisher(slack_client(settings, health, retry_rate_limited=False), db)
    incident_flow.install(publisher)
    return Runtime(
        health=health,
        settings=settings,
        config=config,
        db=db,
        slack=client,
        networks=build_networks(settings, config, db),
        publisher=publisher,
    )
