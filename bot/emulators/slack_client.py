"""The Slack side of inbound traffic: realistic signed payloads sent to the bot over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from urllib.parse import urlencode

import requests

TEAM_ID = "T0001"
TEAM_DOMAIN = "acme"
API_APP_ID = "A0001"
BOT_USER_ID = "U0BOT"
_ids = itertools.count(1)


class SlackSigner:
    """Signs request bodies exactly as Slack does, so the bot's real signature check runs in tests."""

    def __init__(self, signing_secret: str) -> None:
        self.signing_secret = signing_secret

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        base = b"v0:" + ts.encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _trigger_id() -> str:
    return f"{int(time.time())}.{next(_ids)}.{hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:16]}"


def _user(user_id: str, user_name: str | None) -> dict:
    name = user_name or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": TEAM_ID}


def _form_payload(payload: dict) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _action(action_id: str, value: str, block_id: str, blocks: list[dict]) -> dict:
    """The clicked element as Slack reports it, taken from the message's own blocks when present."""
    element, found_block = {"type": "button", "text": {"type": "plain_text", "text": action_id}}, block_id
    for block in blocks:
        for candidate in block.get("elements", []) + ([block["accessory"]] if "accessory" in block else []):
            if candidate.get("action_id") == action_id:
                element, found_block = candidate, block.get("block_id", block_id)
    action = {"action_id": action_id, "block_id": found_block, "type": element["type"],
              "action_ts": f"{time.time():.6f}"}
    if "options" in element:  # static_select / overflow / radio_buttons report the chosen option
        option = next((o for o in element["options"] if o.get("value") == value),
                      {"text": {"type": "plain_text", "text": value}, "value": value})
        action["selected_option"] = option
    else:
        action.update(text=element.get("text"), value=value)
    return action


def block_actions(
    user_id: str, action_id: str, value: str, *, channel: str, message_ts: str,
    message_blocks: list[dict] | None = None, trigger_id: str | None = None, response_url: str | None = None,
    block_id: str = "b1", user_name: str | None = None,
) -> bytes:
    """A button (or select) click on a bot message: form body `payload=<json>`."""
    blocks = message_blocks or []
    return _form_payload({
        "type": "block_actions",
        "user": _user(user_id, user_name),
        "api_app_id": API_APP_ID,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "complaints"},
        "message": {"type": "message", "user": BOT_USER_ID, "bot_id": "B0001", "ts": message_ts, "text": "",
                    "blocks": blocks},
        "state": {"values": {}},
        "response_url": response_url or f"https://hooks.slack.com/actions/{TEAM_ID}/1/xyz",
        "actions": [_action(action_id, value, block_id, blocks)],
    })


def view_submission(
    user_id: str, callback_id: str, private_metadata: str, state_values: dict, *, view_id: str = "V1",
) -> bytes:
    """A modal submit. `state_values` is Slack's {block_id: {action_id: {...}}}; a plain string is a text input."""
    values = {
        block_id: {
            action_id: {"type": "plain_text_input", "value": v} if isinstance(v, str) else v
            for action_id, v in actions.items()
        }
        for block_id, actions in state_values.items()
    }
    blocks = [
        {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": block_id},
         "element": {"type": value["type"], "action_id": action_id}}
        for block_id, actions in values.items() for action_id, value in actions.items()
    ]
    return _form_payload({
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": _user(user_id, None),
        "api_app_id": API_APP_ID,
        "token": "legacy-verification-token",
        "trigger_id": _trigger_id(),
        "view": {
            "id": view_id, "team_id": TEAM_ID, "type": "modal", "callback_id": callback_id,
            "private_metadata": private_metadata, "blocks": blocks, "state": {"values": values},
            "hash": f"{int(time.time())}.abcd", "title": {"type": "plain_text", "text": "Socialdesk"},
            "submit": {"type": "plain_text", "text": "Send"}, "close": {"type": "plain_text", "text": "Cancel"},
            "previous_view_id": None, "root_view_id": view_id, "app_id": API_APP_ID, "external_id": "",
            "app_installed_team_id": TEAM_ID, "bot_id": "B0001",
        },
        "response_urls": [],
        "is_enterprise_install": False,
    })


def slash_command(
    user_id: str, command: str = "/socialdesk", text: str = "", *, channel_id: str = "C1",
    response_url: str | None = None, trigger_id: str | None = None,
) -> bytes:
    """A slash command: a plain form body, no payload wrapper."""
    return urlencode({
        "token": "legacy-verification-token", "team_id": TEAM_ID, "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id, "channel_name": "complaints", "user_id": user_id, "user_name": user_id.lower(),
        "command": command, "text": text, "api_app_id": API_APP_ID, "is_enterprise_install": "false",
        "response_url": response_url or f"https://hooks.slack.com/commands/{TEAM_ID}/1/xyz",
        "trigger_id": trigger_id or _trigger_id(),
    }).encode()


def event_callback(event: dict, *, event_id: str | None = None) -> bytes:
    """An Events API delivery wrapping `event` (JSON body)."""
    now = int(time.time())
    return json.dumps({
        "token": "legacy-verification-token", "team_id": TEAM_ID, "api_app_id": API_APP_ID,
        "event": {"event_ts": f"{now}.000100", **event},
        "type": "event_callback", "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": now,
        "event_context": "4-emulator",
        "authorizations": [{"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }).encode()


def url_verification(challenge: str) -> bytes:
    return json.dumps({"token": "legacy-verification-token", "challenge": challenge,
                       "type": "url_verification"}).encode()


def post(
    url: str, body: bytes, signer: SlackSigner, *, content_type: str | None = None,
    retry_num: int | None = None, retry_reason: str = "http_timeout", timestamp: int | None = None,
    timeout: float = 10.0,
) -> requests.Response:
    """Deliver a signed body like Slack does (never through a proxy: the bot listens on loopback)."""
    headers: dict[str, str] = {
        "Content-Type": content_type or (
            "application/json" if body.lstrip().startswith(b"{") else "application/x-www-form-urlencoded"),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        **signer.headers(body, timestamp),
    }
    if retry_num is not None:
        headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason})
    with requests.Session() as session:
        session.trust_env = False
        return session.post(url, data=body, headers=headers, timeout=timeout)
