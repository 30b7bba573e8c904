"""One place wires everything: the Bolt app, its listeners, and the HTTP surface."""
from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import health, metrics
from bot.clock import utcnow
from bot.config import secret
from bot.domain import ingest
from bot.runtime import Runtime
from handlers import actions, commands, editor, home, incidents, lane, middleware, oncall, stats, views, webhooks

log = logging.getLogger(__name__)


def build_bolt(rt: Runtime) -> App:
    app = App(
        client=rt.slack,
        signing_secret=secret(rt.settings.slack_signing_secret) or None,
        token_verification_enabled=False,  # auth.test on first request, so start-up works offline
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        # Listeners only touch the database before acking; more threads than Bolt's 5, so a few
        # slow Slack calls after an ack (views.open, a private note) never delay the next click's ack.
        listener_executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="listener"),
    )
    middleware.register(app, rt)
    actions.register(app, rt)
    editor.register(app, rt)
    views.register(app, rt)
    commands.register(app, rt, [incidents.INCIDENT, oncall.ONCALL, stats.STATS, stats.EXPORT, lane.REVIEW])
    oncall.register(app, rt)
    incidents.register(app, rt)
    home.register(app, rt)
    lane.register(app, rt)
    return app


def build_web(rt: Runtime, bolt: App | None) -> Starlette:
    """The HTTP surface; in Socket Mode `bolt` is None and /slack/events is not served."""

    async def slack_events(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_SLACK_BODY:
            return JSONResponse({"error": "request too large"}, status_code=413)
        body = await request.body()
        refusal = malformed_slack_request(request.headers, body)
        if refusal is not None:
            return JSONResponse({"error": refusal[1]}, status_code=refusal[0])
        with metrics.SLACK_REQUESTS.time():
            bolt_response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def check() -> tuple[int, dict]:
        """Probe the database for writes and Slack when nothing has called it lately; then report."""
        checked_at = utcnow()
        database_error = await _within(run_in_threadpool(health.probe_database, rt.db.engine), "the database")
        last = rt.health.last_call("slack")
        if last is None or checked_at - last > timedelta(seconds=rt.settings.poll_interval_seconds):
            problem = await _within(run_in_threadpool(rt.slack.auth_test), "Slack")
            if problem and "did not answer" in problem:
                rt.health.failure("slack", problem)  # a hung call is not recorded by the client until it ends
        mode = "http" if bolt else "socket"
        status, body = health.report(rt.health, database_error=database_error, checked_at=checked_at, networks=sorted(rt.networks),
                                     poll_seconds=rt.settings.poll_interval_seconds, slack_mode=mode)
        metrics.record_health(body)
        return status, body

    async def healthz(request: Request) -> Response:
        status, body = await check()
        body["ingest"] = await _within_value(run_in_threadpool(_ingest_summary, rt))
        return JSONResponse(body, status_code=status)

    async def prometheus(request: Request) -> Response:
        await check()
        summary = await _within_value(run_in_threadpool(_ingest_summary, rt))
        if summary:
            metrics.POSTS_WAITING.set(summary["waiting_for_triage"])
            metrics.POSTS_KEPT_ASIDE.set(summary["set_aside"])
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/healthz", healthz), Route("/metrics", prometheus), *webhooks.routes(rt)]
    if bolt is not None:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes)


MAX_SLACK_BODY = 1_000_000  # Slack's own payloads are a few kB; a modal with 100 blocks stays far below this


def malformed_slack_request(headers, body: bytes) -> tuple[int, str] | None:
    """What must be refused before Bolt sees it (nothing else happens, no one is messaged): (status, reason) or None."""
    if len(body) > MAX_SLACK_BODY:
        return 413, "request too large"
    if not headers.get("x-slack-request-timestamp", "").isdigit():
        return 401, "invalid request"  # Bolt would fail parsing it, and its error handler would post to whoever the body names
    if body.startswith(b"payload="):
        try:
            json.loads(parse_qs(body.decode("utf-8"), keep_blank_values=True).get("payload", [""])[0])
        except (UnicodeDecodeError, ValueError):
            return 400, "payload is not JSON"
    return None


async def _within(call, what: str) -> str | None:
    """None when the call ends well within the probe time, else what went wrong, in a few words."""
    try:
        await asyncio.wait_for(call, timeout=health.PROBE_SECONDS + 1)
    except asyncio.TimeoutError:
        return f"{what} did not answer within {health.PROBE_SECONDS + 1:.0f} s"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}".rstrip(": ")
    return None


async def _within_value(call):
    """The call's result, or None when it fails or takes longer than a probe may."""
    try:
        return await asyncio.wait_for(call, timeout=health.PROBE_SECONDS + 1)
    except Exception:  # noqa: BLE001 - the database part of the report says what is wrong
        return None


def _ingest_summary(rt: Runtime) -> dict:
    """How many posts wait for triage or were set aside (and why)."""
    with rt.db.session() as session:
        return ingest.set_aside_summary(session)
