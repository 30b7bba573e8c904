"""Per-request plumbing: drop Slack's event retries, and one error handler for everything."""
from __future__ import annotations

import logging
import uuid

from slack_bolt import App, BoltResponse

log = logging.getLogger(__name__)


def register(app: App) -> None:
    @app.middleware
    def skip_event_retries(req, next):
        # Events are handled idempotently already; a retried delivery only costs work.
        # Interactions are never dropped here: their idempotency lives in the outbox.
        if req.headers.get("x-slack-retry-num") and (req.body or {}).get("type") == "event_callback":
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return next()

    @app.error
    def on_error(error, body, client, logger):
        ref = uuid.uuid4().hex[:8]
        log.exception("unhandled error %s: %s", ref, type(error).__name__, exc_info=error)
        user = (body or {}).get("user", {})
        user_id = user.get("id") if isinstance(user, dict) else (body or {}).get("user_id")
        channel = ((body or {}).get("channel") or {}).get("id") or (body or {}).get("channel_id")
        if user_id and channel:
            try:
                client.chat_postEphemeral(channel=channel, user=user_id, text=f":warning: Something went wrong on our side (ref `{ref}`). Nothing was sent.")
            except Exception:  # noqa: BLE001 - already failing; the log has the trace
                log.warning("could not tell %s about error %s", user_id, ref)
