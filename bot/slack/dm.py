"""Direct messages to people in Slack: who can still be reached, and what happened to a DM.

Used by the on-call flows; Slack's answers become three outcomes: Sent, NotSent
(Slack refused, safe to try again) and Unreachable (the person is gone, skip them).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)
# Slack's ways of saying a person cannot be reached any more: skip them, never retry.
GONE = frozenset({"user_not_found", "user_disabled", "account_inactive", "cannot_dm_bot", "user_is_bot", "users_not_found"})


class Unreachable(Exception):
    """The person left Slack or was deactivated."""

    def __init__(self, user: str, error: str, name: str | None = None):
        super().__init__(f"{user}: {error}")
        self.user, self.error, self.name = user, error, name or user


class NotSent(Exception):
    """Slack answered and nothing was sent: safe to try again on the next check."""


@dataclass(frozen=True)
class Sent:
    user: str
    name: str
    channel: str
    ts: str


def slack_error(exc: SlackApiError) -> str:
    return (exc.response.get("error") if exc.response is not None else None) or "error"


def user_name(client: WebClient, user: str) -> str:
    """A person's name for thread notes; Unreachable if Slack says they are gone."""
    try:
        info = client.users_info(user=user)["user"]
    except SlackApiError as exc:
        if slack_error(exc) in GONE:
            raise Unreachable(user, slack_error(exc)) from None
        return user  # e.g. a missing users:read scope: still try to reach them
    except (URLError, OSError) as exc:
        raise NotSent(f"users.info: {type(exc).__name__}") from None
    name = info.get("real_name") or (info.get("profile") or {}).get("real_name") or info.get("name") or user
    if info.get("deleted"):
        raise Unreachable(user, "user_disabled", name)
    return name


def direct_message(client: WebClient, user: str, text: str, blocks: list[dict]) -> Sent:
    """DM one person. Unreachable: they are gone. NotSent: Slack refused, try later. Other errors: unknown outcome."""
    name = user_name(client, user)
    try:
        channel = client.conversations_open(users=user)["channel"]["id"]
    except SlackApiError as exc:
        if slack_error(exc) in GONE:
            raise Unreachable(user, slack_error(exc), name) from None
        raise NotSent(f"conversations.open: {slack_error(exc)}") from None
    except (URLError, OSError) as exc:
        raise NotSent(f"conversations.open: {type(exc).__name__}") from None
    try:
        response = client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
    except SlackApiError as exc:
        if slack_error(exc) in GONE:
            raise Unreachable(user, slack_error(exc), name) from None
        raise NotSent(f"chat.postMessage: {slack_error(exc)}") from None
    return Sent(user, name, response["channel"], response["ts"])


def permalink(client: WebClient, channel: str, ts: str | None) -> str | None:
    if not ts:
        return None
    try:
        return client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    except (SlackApiError, URLError, OSError) as exc:
        log.warning("no permalink for %s/%s: %s", channel, ts, type(exc).__name__)
        return None
