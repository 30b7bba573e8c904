"""Small helpers the Slack listeners share."""
from __future__ import annotations

from typing import Callable, TypeVar

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.config import RolesConfig
from bot.slack.ids import StaleReference

Ref = TypeVar("Ref")


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


def allowed_click(ack: Ack, body: dict, client: WebClient, action: dict, parse: Callable[[str | None], Ref], roles: RolesConfig) -> Ref | None:
    """Ack within Slack's 3 seconds, then the button's reference if it is current and the clicker may answer.

    For buttons that carry no case (incidents, lane posts); case buttons go through the case_action middleware.
    """
    ack()
    try:
        ref = parse(action.get("value"))
    except StaleReference:
        tell(client, body, STALE)
        return None
    if not roles.may_answer(body["user"]["id"]):
        tell(client, body, NOT_ALLOWED)
        return None
    return ref
