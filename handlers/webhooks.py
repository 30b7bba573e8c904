"""Network webhooks: verify the signature over the raw body first, then store once."""
from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.flows import workflows
from bot.domain import visibility
from bot.runtime import Runtime
from bot.slack import blocks

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000


def routes(rt: Runtime) -> list[Route]:
    async def x_webhook(request: Request) -> Response:
        network = rt.networks.get("x")
        if network is None:
            return JSONResponse({"error": "X is not configured"}, status_code=404)
        if request.method == "GET":
            status, body = network.webhook_challenge(request.query_params)
            return Response(body, status_code=status, media_type="application/json")
        body = await request.body()
        if len(body) > MAX_BODY or not network.verify_webhook(request.headers, body):
            metrics.WEBHOOKS.labels(network="x", outcome="bad_signature").inc()
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        return await run_in_threadpool(_ingest, "x", network, body)

    def _ingest(name: str, network, body: bytes) -> Response:
        try:
            posts = network.parse_webhook(body)
        except (ValueError, KeyError, TypeError) as exc:
            # Answer 200 so the network keeps the subscription; the log says what was wrong.
            metrics.WEBHOOKS.labels(network=name, outcome="malformed").inc()
            log.warning("ignored a malformed %s webhook (%d bytes): %s", name, len(body), type(exc).__name__)
            return PlainTextResponse("ignored", status_code=200)
        result = workflows.ingest_pushed(rt, name, posts)
        metrics.WEBHOOKS.labels(network=name, outcome="ok").inc()
        if result.new_cases or result.follow_ups:
            rt.submit(workflows.deliver, rt)
        return PlainTextResponse("ok", status_code=200)

    async def facebook_webhook(request: Request) -> Response:
        network = rt.networks.get("facebook")
        if network is None:
            return JSONResponse({"error": "Facebook is not configured"}, status_code=404)
        if request.method == "GET":
            status, body = network.webhook_challenge(request.query_params)
            return PlainTextResponse(body, status_code=status)
        body = await request.body()
        if len(body) > MAX_BODY or not network.verify_webhook(request.headers, body):
            metrics.WEBHOOKS.labels(network="facebook", outcome="bad_signature").inc()
            return JSONResponse({"error": "invalid signature"}, status_code=403)
        return await run_in_threadpool(_ingest_facebook, network, body)

    def _ingest_facebook(network, body: bytes) -> Response:
        try:
            events = network.parse_webhook_events(body)
        except (ValueError, KeyError, TypeError) as exc:
            # 200 all the same: Meta disables subscriptions that keep failing; the log says what was wrong.
            metrics.WEBHOOKS.labels(network="facebook", outcome="malformed").inc()
            log.warning("ignored a malformed facebook webhook (%d bytes): %s", len(body), type(exc).__name__)
            return PlainTextResponse("ignored", status_code=200)
        for problem in events.problems:
            log.warning("facebook webhook: skipped part of a delivery: %s", problem)
        if events.ignored:
            log.info("facebook webhook: nothing to do for %s", ", ".join(events.ignored))
        result = workflows.ingest_pushed(rt, "facebook", events.posts)
        touched = []
        if events.changes:
            with rt.db.session() as session:
                for change in events.changes:
                    touched += visibility.apply(session, "facebook", change.external_id, change.state, cascade=change.kind == "post")
        metrics.WEBHOOKS.labels(network="facebook", outcome="ok" if not events.problems else "partly_malformed").inc()
        if result.new_cases or result.follow_ups or touched:
            rt.submit(_after_facebook, network.label, touched)
        return PlainTextResponse("ok", status_code=200)

    def _after_facebook(label: str, touched) -> None:
        workflows.deliver(rt)
        for item in touched:
            rt.publisher.refresh(item.case_id)
            rt.publisher.note(item.case_id, blocks.visibility_note(label, item.state, is_root=item.is_root, closed=item.closed))

    return [
        Route("/webhooks/x", x_webhook, methods=["GET", "POST"]),
        Route("/webhooks/facebook", facebook_webhook, methods=["GET", "POST"]),
    ]
