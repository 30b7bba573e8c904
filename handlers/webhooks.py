"""Network webhooks: verify the signature over the raw body first, then store once."""
from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics, workflows
from bot.runtime import Runtime

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
            rt.background.submit(workflows.deliver, rt)
        return PlainTextResponse("ok", status_code=200)

    return [Route("/webhooks/x", x_webhook, methods=["GET", "POST"])]
