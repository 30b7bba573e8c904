"""The whole product on one machine: emulated Slack, X and Graph API, and the real bot serving HTTP.

Used by `socialdesk demo` and by the integration tests, so both exercise the
same path a real deployment takes: real SDKs, real HTTP, signed requests.
"""
from __future__ import annotations

import os
import socket
import threading
import time

import requests
import uvicorn
from sqlalchemy import select

from bot.flows import workflows
from bot.app import build_bolt, build_web
from bot.config import FileConfig, Settings
from bot.emulators import slack_client
from bot.emulators.graph import GraphEmulator, webhook_body, webhook_headers
from bot.emulators.slack import SlackEmulator
from bot.emulators.x import XEmulator, sign_webhook
from bot.runtime import Runtime, build_runtime
from bot.slack.ids import case_ref
from storage import models as m

SIGNING_SECRET = "local-signing-secret"
CHANNEL = "C0CASES"
X_SECRET = "x-consumer-secret"
FB_APP_SECRET = "graph-app-secret"
FB_VERIFY_TOKEN = "graph-verify-token"


class Server:
    """uvicorn serving an ASGI app on a free loopback port, in a thread."""

    def __init__(self, app):
        # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on connections whose socket says TCP, and
        # without it every response waited ~40 ms for the client's delayed ACK (Nagle).
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the bot's HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class LocalStack:
    def __init__(self, database_url: str, *, config: FileConfig | None = None, search_query: str = "",
                 instagram: bool = False, **settings):
        self.database_url = database_url
        self.instagram = instagram  # connect the Instagram account linked to the emulated Page too
        self.config = config or FileConfig()
        self.search_query = search_query
        self.extra = settings
        self.slack = SlackEmulator()
        self.x = XEmulator(consumer_secret=X_SECRET)
        self.graph = GraphEmulator(app_secret=FB_APP_SECRET, verify_token=FB_VERIFY_TOKEN)
        self.signer = slack_client.SlackSigner(SIGNING_SECRET)
        self.rt: Runtime | None = None
        self.server: Server | None = None

    def settings(self) -> Settings:
        values = dict(
            slack_bot_token=self.slack.token,
            slack_signing_secret=SIGNING_SECRET,
            socialdesk_channel=CHANNEL,
            database_url=self.database_url,
            slack_api_url=self.slack.api_url,
            x_bearer_token=self.x.bearer_token,
            x_api_key="x-api-key",
            x_api_secret=X_SECRET,
            x_access_token="x-access-token",
            x_access_token_secret="x-access-secret",
            x_api_url=self.x.url,
            x_search_query=self.search_query,
            facebook_page_id=self.graph.page_id,
            facebook_page_access_token=self.graph.page_token,
            facebook_app_secret=FB_APP_SECRET,
            facebook_verify_token=FB_VERIFY_TOKEN,
            facebook_graph_url=self.graph.url + "/",
            socialdesk_config="/nonexistent/socialdesk.toml",
        )
        if self.instagram:
            values["instagram_account_id"] = self.graph.ig_account_id
        values.update(self.extra)
        return Settings(_env_file=None, **values)

    def start(self) -> "LocalStack":
        os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
        self.slack.start()
        self.x.start()
        self.graph.start()
        self.boot()
        return self

    def boot(self) -> None:
        """Start (or restart) the bot against the running emulators and database."""
        self.rt = build_runtime(self.settings(), self.config)
        self.rt.db.upgrade()
        self.server = Server(build_web(self.rt, build_bolt(self.rt))).start()

    def restart(self) -> None:
        self.shutdown_bot()
        self.boot()

    def shutdown_bot(self) -> None:
        if self.server:
            self.server.stop()
        if self.rt:
            self.rt.close()

    def stop(self) -> None:
        self.shutdown_bot()
        self.x.stop()
        self.graph.stop()
        self.slack.stop()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the outside world does -------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    def poll(self, network: str = "x"):
        return workflows.poll(self.rt, network)

    def cards(self) -> list[dict]:
        """Top-level messages in the cases channel (not thread replies, not connection notices), oldest first."""
        lanes = self._lane_ts()
        return [msg for msg in self.slack.messages(CHANNEL)
                if (not msg.get("thread_ts") or msg.get("thread_ts") == msg.get("ts")) and not _is_notice(msg) and msg["ts"] not in lanes]

    def lanes(self) -> list[dict]:
        """The low-priority lane message(s) in the cases channel (there should be one)."""
        lanes = self._lane_ts()
        return [msg for msg in self.slack.messages(CHANNEL) if msg["ts"] in lanes]

    def _lane_ts(self) -> set[str]:
        with self.rt.db.session() as session:
            return {ts for ts in session.scalars(select(m.Notice.ts).where(m.Notice.key.like("lane:%"))) if ts}

    def notices(self) -> list[dict]:
        """Connection notices ("Reconnect Facebook") in the cases channel."""
        return [msg for msg in self.slack.messages(CHANNEL) if _is_notice(msg)]

    def send_to_slack_endpoint(self, body: bytes, **kwargs) -> requests.Response:
        return slack_client.post(f"{self.url}/slack/events", body, self.signer, **kwargs)

    def click(self, user_id: str, action_id: str, case_id: int, *, message_ts: str = "", value: str | None = None, channel: str = CHANNEL, **kwargs) -> requests.Response:
        """A click on a card (or, with `channel`, on a bot message elsewhere such as a DM)."""
        body = slack_client.block_actions(
            user_id, action_id, value or case_ref(case_id), channel=channel, message_ts=message_ts or "1.0", trigger_id=kwargs.pop("trigger_id", None)
        )
        return self.send_to_slack_endpoint(body, **kwargs)

    def submit(self, user_id: str, callback_id: str, case_id: int, values: dict[str, str], *, metadata: str | None = None) -> requests.Response:
        state = {block: {"text": text} for block, text in values.items()}
        body = slack_client.view_submission(user_id, callback_id, metadata if metadata is not None else case_ref(case_id), state)
        return self.send_to_slack_endpoint(body)

    def command(self, user_id: str, text: str) -> requests.Response:
        return self.send_to_slack_endpoint(slack_client.slash_command(user_id, text=text, channel_id=CHANNEL))

    def x_webhook(self, tweet_ids: list[str], *, signature: str | None = None) -> requests.Response:
        body = self.x.account_activity_payload(tweet_ids)
        headers = {"Content-Type": "application/json", "x-twitter-webhooks-signature": signature or sign_webhook(X_SECRET, body)}
        with requests.Session() as session:
            session.trust_env = False
            return session.post(f"{self.url}/webhooks/x", data=body, headers=headers, timeout=10)

    def facebook_webhook(self, payload: dict | bytes, *, signature: str | None = None) -> requests.Response:
        """POST a delivery to /webhooks/facebook signed as Meta signs it (or with the given signature)."""
        return self._meta_webhook("facebook", payload, signature)

    def instagram_webhook(self, payload: dict | bytes, *, signature: str | None = None) -> requests.Response:
        """POST a delivery to /webhooks/instagram, signed with the Meta app secret as Meta signs it."""
        return self._meta_webhook("instagram", payload, signature)

    def _meta_webhook(self, network: str, payload: dict | bytes, signature: str | None) -> requests.Response:
        body = payload if isinstance(payload, bytes) else webhook_body(payload)
        headers = webhook_headers(FB_APP_SECRET, body)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        with requests.Session() as session:
            session.trust_env = False
            return session.post(f"{self.url}/webhooks/{network}", data=body, headers=headers, timeout=10)


def _is_notice(message: dict) -> bool:
    return (message.get("metadata") or {}).get("event_type") == "socialdesk_notice"


def card_text(message: dict) -> str:
    """All the text of a message's blocks, for printing and assertions."""
    parts = []
    for block in message.get("blocks") or []:
        if "text" in block and isinstance(block["text"], dict):
            parts.append(block["text"].get("text", ""))
        for element in block.get("elements", []) or []:
            if isinstance(element, dict) and "text" in element:
                text = element["text"]
                parts.append(text.get("text", "") if isinstance(text, dict) else str(text))
    return "\n".join(parts) or message.get("text", "")

