"""A stateful local Slack Web API (plus upload URLs, response URLs and Socket Mode) for tests and the offline demo."""

from __future__ import annotations

import copy
import itertools
import json
import math
import mimetypes
import threading
import time
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from bot.emulators.http import EmulatorServer, Reply, Request

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")  # structured args that form bodies carry as JSON text


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _ts_key(ts: Any) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        return Decimal(0)


def _ok(**data: Any) -> Reply:
    return 200, {}, {"ok": True, **data}


def _err(error: str, **extra: Any) -> Reply:
    return 200, {}, {"ok": False, "error": error, **extra}


class SlackEmulator(EmulatorServer):
    """Answers the Slack Web API methods socialdesk uses, with state that tests can inspect."""

    raw_routes = frozenset({"upload"})

    def __init__(
        self,
        token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = "T0001",
        bot_user_id: str = "U0BOT",
        known_channels: list[str] | None = None,
        post_rate: float = 1.0,
        post_burst: int = 10,
    ) -> None:
        super().__init__()
        self.token = token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = "B0001"
        self.app_id = "A0001"
        self.known_channels = None if known_channels is None else set(known_channels)
        # Slack's chat.postMessage limit: about one message per second per channel, short bursts allowed.
        self.post_rate = post_rate
        self.post_burst = post_burst
        self.outside_channels: set[str] = set()  # channels that exist but the bot is not a member of
        self.scopes: list[str] | None = None  # what auth.test's x-oauth-scopes says; None: the manifest's bot scopes
        self._ws_server = None
        self._sockets: list[ServerConnection] = []
        self._reset_state()

    def _reset_state(self) -> None:
        self._ids = itertools.count(1)
        self._last_ts = 0
        self._messages: dict[str, list[dict]] = {}
        self._updates: dict[tuple[str, str], list[dict]] = {}
        self._ephemerals: list[dict] = []
        self._users: dict[str, dict] = {}
        self._dm_channels: dict[str, str] = {}
        self._views: dict[str, dict] = {}
        self._opened_views: list[dict] = []
        self._home_views: dict[str, dict] = {}
        self._uploads: dict[str, dict] = {}
        self._responses: list[Any] = []
        self._socket_acks: list[dict] = []
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._retry_until: dict[str, float] = {}  # channel -> monotonic time its last Retry-After ends
        self.rate_limited: list[dict] = []  # one entry per 429: channel, retry_after, early (came before a Retry-After ended)
        # The most conversations.history/.replies return per page whatever `limit` asks: Slack caps it (at 15 for
        # commercially distributed apps outside the Marketplace since 2025-05-29).
        self.page_cap = 1000
        self.add_user(self.bot_user_id, "socialdesk", "Socialdesk", is_bot=True)

    def reset(self) -> None:
        """Back to an empty workspace; a connected Socket Mode app stays connected."""
        with self._lock:
            super().reset()
            self._reset_state()

    def stop(self) -> None:
        if self._ws_server is not None:
            self._ws_server.shutdown()
            self._ws_server = None
        super().stop()

    @property
    def api_url(self) -> str:
        """What `WebClient(base_url=...)` takes."""
        return f"{self.url}/api/"

    # -- seeding -----------------------------------------------------------
    def add_user(
        self, id: str, name: str, real_name: str | None = None, tz: str = "Europe/London",
        deleted: bool = False, is_bot: bool = False,
    ) -> dict:
        """Seed a workspace member for users.info / conversations.open."""
        now = datetime.now(ZoneInfo(tz))
        real_name = real_name or name
        user = {
            "id": id, "team_id": self.team_id, "name": name, "deleted": deleted, "real_name": real_name,
            "tz": tz, "tz_label": now.tzname(), "tz_offset": int(now.utcoffset().total_seconds()),
            "is_bot": is_bot, "is_admin": False, "updated": 1700000000,
            "profile": {"real_name": real_name, "display_name": name, "team": self.team_id},
        }
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def add_message(self, channel: str, text: str, user: str, thread_ts: str | None = None) -> str:
        """Put a message from a person into a channel (e.g. a human reply in a card's thread); returns its ts."""
        with self._lock:
            return self._store_message(channel, {"type": "message", "user": user, "text": text}, thread_ts)["ts"]

    def new_response_url(self) -> str:
        """A response_url that points back here, so Bolt's respond() is recorded in `responses`."""
        return f"{self.url}/response/{next(self._ids)}"

    # -- inspection --------------------------------------------------------
    def messages(self, channel: str) -> list[dict]:
        """Every message in the channel (thread replies included), oldest first, as currently stored."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[dict]:
        """The parent message and its replies, oldest first."""
        return [m for m in self.messages(channel) if m["ts"] == ts or m.get("thread_ts") == ts]

    def calls(self, method: str) -> list[dict]:
        """Arguments of every call to `method` (query + body, JSON-in-form decoded), including failed ones."""
        return [self._params(r) for r in self.received(method)]

    def updates(self, channel: str, ts: str) -> list[dict]:
        """Arguments of each successful chat.update of one message, in order."""
        with self._lock:
            return copy.deepcopy(self._updates.get((channel, ts), []))

    @property
    def ephemerals(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def opened_views(self) -> list[dict]:
        """Modals opened or pushed, in order, reflecting later views.update calls."""
        with self._lock:
            return copy.deepcopy(self._opened_views)

    @property
    def home_views(self) -> dict[str, dict]:
        with self._lock:
            return copy.deepcopy(self._home_views)

    @property
    def uploads(self) -> dict[str, dict]:
        """file_id -> {"content": bytes, "filename", "length", "title", "channel_id", "initial_comment", ...}."""
        with self._lock:
            return copy.deepcopy(self._uploads)

    @property
    def users(self) -> dict[str, dict]:
        """Workspace members by id (what users.info answers)."""
        with self._lock:
            return copy.deepcopy(self._users)

    def view(self, view_id: str) -> dict | None:
        """A modal or Home tab as it stands now (after any views.update)."""
        with self._lock:
            return copy.deepcopy(self._views.get(view_id))

    @property
    def responses(self) -> list[Any]:
        """JSON bodies posted to response URLs, in order."""
        with self._lock:
            return copy.deepcopy(self._responses)

    # -- Socket Mode -------------------------------------------------------
    def socket_send(self, envelope: dict, timeout: float = 5.0) -> str:
        """Push an envelope to the connected Socket Mode app (waiting for it to connect); returns envelope_id."""
        envelope = {"envelope_id": f"env-{next(self._ids)}", "accepts_response_payload": False, **envelope}
        ws = self.wait_for(lambda: self._sockets[-1] if self._sockets else None, timeout, what="a Socket Mode client")
        ws.send(json.dumps(envelope))
        return envelope["envelope_id"]

    @property
    def socket_acks(self) -> list[dict]:
        """Frames the app sent back over Socket Mode (acks), in order."""
        with self._lock:
            return copy.deepcopy(self._socket_acks)

    def _socket_url(self) -> str:
        if self._ws_server is None:
            self._ws_server = serve(self._socket_session, "127.0.0.1", 0)
            threading.Thread(target=self._ws_server.serve_forever, name="SlackSocketMode", daemon=True).start()
        port = self._ws_server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={uuid.uuid4()}&app_id={self.app_id}"

    def _socket_session(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "emulator"},
                            "connection_info": {"app_id": self.app_id}}))
        with self._lock:
            self._sockets.append(ws)
        try:
            for frame in ws:
                with self._lock:
                    self._socket_acks.append(json.loads(frame))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if ws in self._sockets:
                    self._sockets.remove(ws)

    # -- HTTP plumbing -----------------------------------------------------
    def route(self, method: str, path: str) -> str | None:
        for prefix, name in (("/api/", None), ("/upload/", "upload"), ("/response/", "response")):
            if path.startswith(prefix) and len(path) > len(prefix):
                return name or path[len(prefix):]
        return None

    def fault_reply(self, request: Request, status: int, body: Any, headers: dict[str, str]) -> Reply:
        if status == 429:
            headers.setdefault("Retry-After", "1")
        if body is None:
            body = {"ok": False, "error": "ratelimited" if status == 429 else "internal_error"}
        return status, headers, body

    @staticmethod
    def _params(request: Request) -> dict:
        params = {**request.query, **(request.parsed if isinstance(request.parsed, dict) else {})}
        for key in _JSON_FIELDS:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass  # left as text: the handler then treats it as malformed
        return params

    def handle(self, request: Request) -> Reply:
        if request.route is None:
            return 404, {}, {"ok": False, "error": "not_found"}
        if request.route == "upload":
            return self._upload(request)
        if request.route == "response":
            self._responses.append(request.parsed)
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, "ok"
        method = request.route
        params = self._params(request)
        auth = request.headers.get("authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else params.get("token")
        expected, other = (
            (self.app_token, self.token) if method == "apps.connections.open" else (self.token, self.app_token)
        )
        if not token:
            return _err("not_authed")
        if token != expected:
            return _err("not_allowed_token_type" if token == other else "invalid_auth")
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return _err("unknown_method", req_method=method)
        return handler(params)

    # -- state helpers -----------------------------------------------------
    def _next_ts(self) -> str:
        """Like Slack: the current epoch time with microseconds, unique and increasing."""
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    @staticmethod
    def _new_hash() -> str:
        return f"1700000000.{uuid.uuid4().hex[:8]}"

    def _channel_ok(self, channel: str | None) -> bool:
        if not channel:
            return False
        if self.known_channels is None or channel in self.known_channels or channel in self._dm_channels.values():
            self._messages.setdefault(channel, [])
            return True
        return False

    def _find(self, channel: str, ts: str) -> dict | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _store_message(self, channel: str, message: dict, thread_ts: str | None) -> dict:
        message = {**message, "ts": self._next_ts()}
        if thread_ts:
            message["thread_ts"] = thread_ts
        self._messages.setdefault(channel, []).append(message)
        return message

    def _present(self, channel: str, message: dict, with_metadata: bool) -> dict:
        """A stored message as conversations.* return it: reply counters on parents, metadata only on request."""
        out = {k: v for k, v in message.items() if with_metadata or k != "metadata"}
        replies = [m for m in self._messages[channel] if m.get("thread_ts") == message["ts"] != m["ts"]]
        if replies:
            out.update(thread_ts=message["ts"], reply_count=len(replies), latest_reply=replies[-1]["ts"],
                       reply_users=sorted({m.get("user") for m in replies}))
        return out

    def _page(self, channel: str, messages: list[dict], params: dict, newest_first: bool) -> Reply:
        """Apply oldest/latest/inclusive/limit/cursor the way conversations.history and .replies do."""
        inclusive = _truthy(params.get("inclusive", "0"))
        oldest, latest = params.get("oldest"), params.get("latest")
        picked = [
            m for m in messages
            if (oldest is None or _ts_key(m["ts"]) > _ts_key(oldest) or (inclusive and m["ts"] == oldest))
            and (latest is None or _ts_key(m["ts"]) < _ts_key(latest) or (inclusive and m["ts"] == latest))
        ]
        if newest_first:
            picked.reverse()
        cursor = str(params.get("cursor") or "0")
        if not cursor.isdigit():
            return _err("invalid_cursor")
        start = int(cursor)
        limit = min(int(params.get("limit") or 100), self.page_cap)
        page = picked[start:start + limit]
        more = start + limit < len(picked)
        with_metadata = _truthy(params.get("include_all_metadata", "0"))
        return _ok(messages=[self._present(channel, m, with_metadata) for m in page], has_more=more,
                   response_metadata={"next_cursor": str(start + limit) if more else ""})

    def _new_view(self, view: dict) -> dict:
        view_id = f"V{next(self._ids):08d}"
        stored = {
            "type": "modal", "blocks": [], "private_metadata": "", "callback_id": "", "external_id": "",
            "state": {"values": {}}, "clear_on_close": False, "notify_on_close": False, **view,
            "id": view_id, "team_id": self.team_id, "hash": self._new_hash(),
            "previous_view_id": None, "root_view_id": view_id, "app_id": self.app_id,
            "app_installed_team_id": self.team_id, "bot_id": self.bot_id,
        }
        self._views[view_id] = stored
        return stored

    def _trigger_error(self, params: dict) -> Reply | None:
        trigger_id = params.get("trigger_id")
        if not trigger_id or not isinstance(params.get("view"), dict):
            return _err("invalid_arguments")
        if trigger_id.startswith("expired"):
            return _err("expired_trigger_id")
        return None

    # -- Web API methods ---------------------------------------------------
    def _granted_scopes(self) -> list[str]:
        if self.scopes is not None:
            return self.scopes
        manifest = json.loads((Path(__file__).parent.parent / "slack" / "manifest.json").read_text())
        return manifest["oauth_config"]["scopes"]["bot"]

    def _api_conversations_info(self, params: dict) -> Reply:
        channel = params.get("channel")
        if not self._channel_ok(channel):
            return _err("channel_not_found")
        return _ok(channel={"id": channel, "name": "social-care" if channel.startswith("C") else channel,
                            "is_channel": channel.startswith("C"), "is_private": channel.startswith("G"),
                            "is_im": channel.startswith("D"), "is_archived": False,
                            "is_member": channel not in self.outside_channels})

    def _api_auth_test(self, params: dict) -> Reply:
        status, headers, body = self._auth_test_body(params)
        return status, {**headers, "x-oauth-scopes": ",".join(self._granted_scopes())}, body

    def _auth_test_body(self, params: dict) -> Reply:
        return _ok(url="https://acme.slack.com/", team="Acme", user="socialdesk", team_id=self.team_id,
                   user_id=self.bot_user_id, bot_id=self.bot_id, is_enterprise_install=False)

    def _api_apps_connections_open(self, params: dict) -> Reply:
        return _ok(url=self._socket_url())

    def _api_chat_postMessage(self, params: dict) -> Reply:
        channel = params.get("channel")
        if channel and channel[0] in "UW" and channel in self._users:  # posting to a user id lands in the app DM
            if self._users[channel]["deleted"]:
                return _err("user_not_found")
            channel = self._dm_channel([channel])
        if not self._channel_ok(channel):
            return _err("channel_not_found")
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            return _err("no_text")
        limited = self._rate_limit(channel)
        if limited is not None:
            return limited
        message = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "text": params.get("text", "")}
        message.update({k: params[k] for k in ("blocks", "attachments", "metadata") if k in params})
        message = self._store_message(channel, message, params.get("thread_ts"))
        return _ok(channel=channel, ts=message["ts"], message=copy.deepcopy(message))

    def _rate_limit(self, channel: str) -> Reply | None:
        """A token bucket per channel; a 429 says how long to wait, like Slack's Retry-After."""
        if not self.post_rate:
            return None
        now = time.monotonic()
        tokens, at = self._buckets.get(channel, (float(self.post_burst), now))
        tokens = min(float(self.post_burst), tokens + (now - at) * self.post_rate)
        if tokens >= 1:
            self._buckets[channel] = (tokens - 1, now)
            return None
        self._buckets[channel] = (tokens, now)
        wait = max(1, math.ceil((1 - tokens) / self.post_rate))
        early = now < self._retry_until.get(channel, 0.0)
        self._retry_until[channel] = max(self._retry_until.get(channel, 0.0), now + wait)
        self.rate_limited.append({"channel": channel, "retry_after": wait, "early": early})
        return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}

    @property
    def early_retries(self) -> int:
        """429s for calls made before the Retry-After given for that channel had passed: a retry storm."""
        with self._lock:
            return sum(1 for r in self.rate_limited if r["early"])

    def _api_chat_update(self, params: dict) -> Reply:
        channel, ts = params.get("channel"), params.get("ts")
        if not self._channel_ok(channel):
            return _err("channel_not_found")
        message = self._find(channel, ts)
        if message is None:
            return _err("message_not_found")
        if message.get("user") != self.bot_user_id:
            return _err("cant_update_message")
        message.update({k: params[k] for k in ("text", "blocks", "attachments", "metadata") if k in params})
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._updates.setdefault((channel, ts), []).append(copy.deepcopy(params))
        shown = {k: message[k] for k in ("text", "blocks", "attachments") if k in message}
        return _ok(channel=channel, ts=ts, text=message["text"], message={**shown, "user": self.bot_user_id})

    def _api_chat_postEphemeral(self, params: dict) -> Reply:
        channel = params.get("channel")
        if not self._channel_ok(channel):
            return _err("channel_not_found")
        if not params.get("user"):
            return _err("user_not_in_channel")
        ts = self._next_ts()
        self._ephemerals.append({"channel": channel, "message_ts": ts, **copy.deepcopy(params)})
        return _ok(message_ts=ts)

    def _api_chat_getPermalink(self, params: dict) -> Reply:
        channel, ts = params.get("channel"), params.get("message_ts")
        if not self._channel_ok(channel):
            return _err("channel_not_found")
        message = self._find(channel, ts)
        if message is None:
            return _err("message_not_found")
        link = f"https://acme.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if message.get("thread_ts", ts) != ts:
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return _ok(channel=channel, permalink=link)

    def _api_conversations_history(self, params: dict) -> Reply:
        channel = params.get("channel")
        if not self._channel_ok(channel):
            return _err("channel_not_found")
        top = [m for m in self._messages[channel] if m.get("thread_ts", m["ts"]) == m["ts"]]
        return self._page(channel, top, params, newest_first=True)

    def _api_conversations_replies(self, params: dict) -> Reply:
        channel, ts = params.get("channel"), params.get("ts")
        if not self._channel_ok(channel):
            return _err("channel_not_found")
        if self._find(channel, ts) is None:
            return _err("thread_not_found")
        thread = [m for m in self._messages[channel] if m["ts"] == ts or m.get("thread_ts") == ts]
        return self._page(channel, thread, params, newest_first=False)

    def _api_conversations_open(self, params: dict) -> Reply:
        users = sorted(u for u in str(params.get("users", "")).split(",") if u)
        if not users:
            return _err("users_list_not_supplied")
        if any(self._users.get(u, {}).get("deleted") for u in users):
            return _err("user_not_found")
        already = ",".join(users) in self._dm_channels
        return _ok(channel={"id": self._dm_channel(users)}, no_op=already, already_open=already)

    def _dm_channel(self, users: list[str]) -> str:
        """The stable D.../G... id of the conversation with these users, created on first use."""
        key = ",".join(sorted(users))
        if key not in self._dm_channels:
            self._dm_channels[key] = f"{'D' if len(users) == 1 else 'G'}{next(self._ids):08d}"
            self._messages.setdefault(self._dm_channels[key], [])
        return self._dm_channels[key]

    def _api_users_info(self, params: dict) -> Reply:
        user = self._users.get(params.get("user"))
        if user is None:
            return _err("user_not_found")
        return _ok(user=copy.deepcopy(user))

    def _api_views_open(self, params: dict) -> Reply:
        error = self._trigger_error(params)
        if error:
            return error
        view = self._new_view(params["view"])
        self._opened_views.append(view)
        return _ok(view=copy.deepcopy(view))

    def _api_views_push(self, params: dict) -> Reply:
        return self._api_views_open(params)

    def _api_views_update(self, params: dict) -> Reply:
        if not isinstance(params.get("view"), dict):
            return _err("invalid_arguments")
        external_id = params.get("external_id")
        view = self._views.get(params.get("view_id")) or next(
            (v for v in self._views.values() if external_id and v["external_id"] == external_id), None)
        if view is None:
            return _err("not_found")
        if params.get("hash") and params["hash"] != view["hash"]:
            return _err("hash_conflict")
        view.update({k: v for k, v in params["view"].items() if k not in ("id", "hash")})
        view["hash"] = self._new_hash()
        return _ok(view=copy.deepcopy(view))

    def _api_views_publish(self, params: dict) -> Reply:
        user_id, view = params.get("user_id"), params.get("view")
        if not user_id or not isinstance(view, dict):
            return _err("invalid_arguments")
        if self._users.get(user_id, {}).get("deleted"):
            return _err("user_not_found")
        previous = self._home_views.get(user_id)
        stored = self._new_view({**view, "type": "home"}) if previous is None else {**previous, **view}
        stored["hash"] = self._new_hash()
        self._views[stored["id"]] = self._home_views[user_id] = stored
        return _ok(view=copy.deepcopy(stored))

    def _api_files_getUploadURLExternal(self, params: dict) -> Reply:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return _err("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self._uploads[file_id] = {"filename": params["filename"], "length": int(params["length"]), "content": None,
                                  "completed": False}
        return _ok(upload_url=f"{self.url}/upload/v1/{file_id}", file_id=file_id)

    def _upload(self, request: Request) -> Reply:
        upload = self._uploads.get(request.path.rsplit("/", 1)[-1])
        text = {"Content-Type": "text/plain; charset=utf-8"}
        if request.method != "POST" or upload is None:
            return 404, text, "Not Found"
        upload["content"] = request.body
        return 200, text, f"OK - {len(request.body)}"

    def _api_files_completeUploadExternal(self, params: dict) -> Reply:
        try:
            files = json.loads(params.get("files", ""))
        except ValueError:
            return _err("invalid_arguments")
        channel = params.get("channel_id") or (params.get("channels") or "").split(",")[0] or None
        if channel is not None and not self._channel_ok(channel):
            return _err("channel_not_found")
        if not files or any(self._uploads.get(f.get("id"), {}).get("content") is None for f in files):
            return _err("file_not_found")
        shown = []
        for f in files:
            upload = self._uploads[f["id"]]
            upload.update(title=f.get("title") or upload["filename"], channel_id=channel, completed=True,
                          initial_comment=params.get("initial_comment"), thread_ts=params.get("thread_ts"))
            name = upload["filename"]
            shown.append({
                "id": f["id"], "name": name, "title": upload["title"], "user": self.bot_user_id,
                "mimetype": mimetypes.guess_type(name)[0] or "application/octet-stream",
                "size": len(upload["content"]),
                "url_private": f"https://files.slack.com/files-pri/{self.team_id}-{f['id']}/{name}",
                "permalink": f"https://acme.slack.com/files/{self.bot_user_id}/{f['id']}/{name}",
            })
        if channel is not None:
            message = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id, "upload": True,
                       "text": params.get("initial_comment") or "", "files": copy.deepcopy(shown)}
            self._store_message(channel, message, params.get("thread_ts"))
        return _ok(files=shown)
