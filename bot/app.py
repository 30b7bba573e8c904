"""One place wires everything: the Bolt app, its listeners, and the HTTP surface."""
from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.config import secret
from bot.runtime import Runtime
from handlers import actions, commands, editor, home, incidents, middleware, oncall, views, webhooks
from handlers import stats as _stats  # noqa: F401 - importing it registers the stats and export subcommands

log = logging.getLogger(__name__)


def build_bolt(rt: Runtime) -> App:
    app = App(
        client=rt.slack,
        signing_secret=secret(rt.settings.slack_signing_secret) or None,
        token_verification_enabled=False,  # auth.test on first request, so start-up works offline
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    middleware.register(app)
    actions.register(app, rt)
    editor.register(app, rt)
    views.register(app, rt)
    commands.register(app, rt)
    oncall.register(app, rt)
    incidents.register(app, rt)
    home.register(app, rt)
    return app


def build_web(rt: Runtime, bolt: App | None) -> Starlette:
    """The HTTP surface; in Socket Mode `bolt` is None and /slack/events is not served."""

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        with metrics.SLACK_REQUESTS.time():
            bolt_response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(request: Request) -> Response:
        try:
            await run_in_threadpool(_db_ok, rt)
            db = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            db = f"error: {type(exc).__name__}"
        body = {"status": "ok" if db == "ok" else "degraded", "database": db, "networks": sorted(rt.networks), "slack_mode": "http" if bolt else "socket"}
        return JSONResponse(body, status_code=200 if db == "ok" else 503)

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/healthz", healthz), Route("/metrics", prometheus), *webhooks.routes(rt)]
    if bolt is not None:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes)


def _db_ok(rt: Runtime) -> None:
    with rt.db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
