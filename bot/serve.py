"""`socialdesk run`: migrations, then the HTTP server and/or the scheduler in one process."""
from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager

from urllib.error import URLError

import uvicorn
from slack_sdk.errors import SlackApiError

from bot import logs
from bot.app import build_bolt, build_web
from bot.config import ConfigError, StartupError, load_file_config, load_settings, secret
from bot.runtime import build_runtime
from bot.scheduler import Scheduler
from bot.triage.model import get_model
from bot.worker_process import WorkerProcess

log = logging.getLogger("socialdesk")
# SIGTERM to exit: HTTP stops taking requests and finishes those in flight, the scheduler
# stops, running jobs and sends finish; whatever is still running after this is abandoned
# (an uncertain send is looked up on the network before it is ever sent again).
DRAIN_SECONDS = float(os.environ.get("SOCIALDESK_DRAIN_SECONDS", "20"))


class _Server(uvicorn.Server):
    """uvicorn with the process's own signal handling: its own re-raises the signal after
    serving, which kills the process before the scheduler and the sends in flight are drained."""

    @contextmanager
    def capture_signals(self):
        yield


def drain(scheduler, rt, budget: float, worker: WorkerProcess | None = None) -> bool:
    """Stop the scheduler and the worker process and wait for running work, within `budget` seconds; True if all finished."""
    deadline = time.monotonic() + budget
    done = threading.Event()

    def stop_everything():
        stopped = worker.stop(budget) if worker else True  # it drains its own jobs meanwhile
        if scheduler:
            scheduler.stop(wait=True)
        rt.drain()
        if stopped:
            done.set()

    threading.Thread(target=stop_everything, name="socialdesk-drain", daemon=True).start()
    finished = done.wait(max(0.0, deadline - time.monotonic()))
    if not finished:
        log.warning("stopping with work still running after %.0fs; it is abandoned and settled after restart", budget)
    return finished


def freeze_startup_objects() -> None:
    """The model, its vocabularies and the app live as long as the process: moved out of the collector's sight.

    Otherwise every full collection walks them all while holding the GIL: measured at
    150-330 ms, during which no webhook is acknowledged.
    """
    gc.collect()
    gc.freeze()


def missing_settings(settings, *, socket_mode: bool) -> list[str]:
    needed = {"SLACK_BOT_TOKEN": settings.slack_bot_token, "SOCIALDESK_CHANNEL": settings.socialdesk_channel}
    if socket_mode:
        needed["SLACK_APP_TOKEN"] = settings.slack_app_token
    else:
        needed["SLACK_SIGNING_SECRET"] = settings.slack_signing_secret
    return [name for name, value in needed.items() if not (secret(value) if not isinstance(value, str) else value)]


def _reach_slack(rt) -> None:
    """auth.test once at start: a wrong token or an unreachable Slack ends here, in one sentence."""
    settings = rt.settings
    try:
        rt.slack.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "an error") if exc.response is not None else "an error"
        raise StartupError(f"Slack refused SLACK_BOT_TOKEN ({error}): copy the Bot User OAuth Token (xoxb-...) from the app's "
                           "OAuth & Permissions page; `socialdesk check` says more.") from None
    except (URLError, OSError) as exc:
        raise StartupError(f"Could not reach Slack at {settings.slack_api_url} ({type(exc).__name__}): check this machine's "
                           "network, proxy and SLACK_API_URL, then start again.") from None


def run(role: str = "all") -> int:
    settings = load_settings()
    config = load_file_config(settings.socialdesk_config)
    logs.configure(settings)
    socket_mode = bool(secret(settings.slack_app_token))
    missing = missing_settings(settings, socket_mode=socket_mode)
    if missing:
        raise ConfigError(
            "missing " + ", ".join(missing) + ". Set them in the environment or a .env file "
            "(README: 'Connect a real workspace'), or try everything offline with `socialdesk demo`."
        )
    # Load triage before anything is served: a model that cannot load stops the start
    # here, instead of the first post failing (it is never retrained on the fly).
    get_model()
    stop = threading.Event()
    server: _Server | None = None

    def on_signal(signum, _frame):
        if stop.is_set() and signum == signal.SIGINT:
            log.warning("second Ctrl-C: exiting without waiting")
            os._exit(1)
        log.info("received %s: draining (at most %.0fs)", signal.Signals(signum).name, DRAIN_SECONDS)
        stop.set()
        if server is not None:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    rt = build_runtime(settings, config)
    try:
        _reach_slack(rt)
    except StartupError:
        rt.close()
        raise
    rt.db.upgrade()
    if not rt.networks:
        log.warning("no network is configured (X_* or FACEBOOK_* variables); only Slack is served")
    bolt = build_bolt(rt)
    freeze_startup_objects()
    # A process that acknowledges webhooks leaves triage and the jobs to a worker process of its own: the models and the
    # jobs would hold its GIL. With `--role web` the separate `--role worker` runs the jobs.
    worker = WorkerProcess(rt.health, schedule=role == "all").start() if role in ("all", "web") else None
    if worker:
        rt.triage_elsewhere = worker.kick
    scheduler = Scheduler(rt) if role == "worker" else None
    socket_handler = None
    if scheduler:
        scheduler.start()
    if socket_mode and role in ("all", "web"):
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(bolt, app_token=secret(settings.slack_app_token))
        try:
            socket_handler.connect()
        except SlackApiError as exc:
            if scheduler:
                scheduler.stop()
            worker.stop(DRAIN_SECONDS / 2)
            rt.close()
            error = exc.response.get("error", "an error") if exc.response is not None else "an error"
            raise StartupError(
                f"Slack refused SLACK_APP_TOKEN for Socket Mode ({error}): copy the App-Level Token (xapp-...) with the "
                "connections:write scope from the app's Basic Information page, or unset SLACK_APP_TOKEN to use HTTP mode."
            ) from None
        except (URLError, OSError) as exc:
            if scheduler:
                scheduler.stop()
            worker.stop(DRAIN_SECONDS / 2)
            rt.close()
            raise StartupError(f"Could not open the Socket Mode connection to Slack ({type(exc).__name__}): check this machine's "
                               "network and proxy settings.") from None
        log.info("connected to Slack in Socket Mode")
    finished = False
    try:
        if role == "worker":
            log.info("worker running the scheduler; Ctrl-C to stop")
            stop.wait()
        elif not stop.is_set():
            web = build_web(rt, None if socket_handler else bolt)
            log.info("serving on http://%s:%s", settings.host, settings.port)
            server = _Server(uvicorn.Config(web, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                                            timeout_graceful_shutdown=max(1, int(DRAIN_SECONDS / 2))))
            if not stop.is_set():
                server.run()
    finally:
        if socket_handler:
            socket_handler.close()
        finished = drain(scheduler, rt, DRAIN_SECONDS / 2, worker)
        rt.db.dispose()
        log.info("stopped")
    if not finished:
        # Threads still stuck in a network call would keep the interpreter alive: leave now.
        logging.shutdown()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(run())
