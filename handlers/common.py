"""Small helpers the Slack listeners share."""
from __future__ import annotations

from slack_sdk import WebClient


def tell(client: WebClient, body: dict, text: str) -> None:
    """A short private note to whoever clicked, in the channel they clicked in."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or body.get("channel_id")
    user = (body.get("user") or {}).get("id") or body["user_id"]
    if channel:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    else:
        client.chat_postMessage(channel=user, text=text)


NOT_ALLOWED = ":lock: You are not on the list of people who may answer customers, so nothing was sent. Ask a manager to add you to `[roles] agents`."
STALE = "This card comes from an older version of socialdesk and can no longer be used. Nothing was changed."
