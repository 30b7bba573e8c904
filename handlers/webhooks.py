"""Network webhooks, one route per network (`/webhooks/<name>`): verify the signature over the raw body first, then store once (triage follows the acknowledgement)."""
from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.flows import workflows
from bot.domain import visibility
from bot.networks import catalogue
from bot.networks.base import NetworkInfo
from bot.runtime import Runtime
from bot.slack import blocks

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000


def routes(rt: Runtime) -> list[Route]:
    def endpoint(known: NetworkInfo):
        name = known.name

        async def webhook(request: Request) -> Response:
            network = rt.networks.get(name)
            if network is None:
                return JSONResponse({"error": f"{known.label} is not configured"}, status_code=404)
            if request.method == "GET":
                status, body = network.webhook_challenge(request.query_params)
                return Response(body, status_code=status, media_type=known.challenge_media_type)
            body = await request.body()
            if len(body) > MAX_BODY or not network.verify_webhook(request.headers, body):
                metrics.WEBHOOKS.labels(network=name, outcome="bad_signature").inc()
                return JSONResponse({"error": "invalid signature"}, status_code=known.bad_signature_status)
            return await run_in_threadpool(_ingest, name, network, body)

        webhook.__name__ = f"{name}_webhook"
        return webhook

    def _ingest(name: str, network, body: bytes) -> Response:
        try:
            events = network.parse_webhook_events(body)
        except (ValueError, KeyError, TypeError) as exc:
            # 200 all the same: networks disable subscriptions that keep failing; the log says what was wrong.
            metrics.WEBHOOKS.labels(network=name, outcome="malformed").inc()
            log.warning("ignored a malformed %s webhook (%d bytes): %s", name, len(body), type(exc).__name__)
            return PlainTextResponse("ignored", status_code=200)
        for problem in events.problems:
            log.warning("%s webhook: skipped part of a delivery: %s", name, problem)
        if events.ignored:
            log.info("%s webhook: nothing to do for %s", name, ", ".join(events.ignored))
        result = workflows.ingest_pushed(rt, name, events.posts)
        touched = []
        if events.changes:
            with rt.db.session() as session:
                for change in events.changes:
                    touched += visibility.apply(session, name, change.external_id, change.state, cascade=change.kind == "post")
        metrics.WEBHOOKS.labels(network=name, outcome="ok" if not events.problems else "partly_malformed").inc()
        if result.stored:  # stored before the ack; triaged and carded after it
            workflows.kick_triage(rt)
        if touched:
            rt.submit(_after, network.label, touched)
        return PlainTextResponse("ok", status_code=200)

    def _after(label: str, touched) -> None:
        workflows.deliver(rt)
        for item in touched:
            rt.publisher.refresh(item.case_id)
            rt.publisher.note(item.case_id, blocks.visibility_note(label, item.state, is_root=item.is_root, closed=item.closed))

    return [Route(f"/webhooks/{name}", endpoint(known), methods=["GET", "POST"]) for name, known in catalogue().items()]
