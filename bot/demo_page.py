"""`socialdesk demo` as a page: the emulated channel and the emulated timelines side by side, live.

The page's server plays Slack for one visitor. A click becomes the signed
block_actions request Slack would send to the bot's real /slack/events, a
modal's Send a view_submission, a typed command a slash command; what the bot
does in return (chat.postMessage, views.open, files uploads...) lands in the
Slack emulator, which the page reads back. Nothing here talks to the bot any
other way, so the page shows what a real workspace would show.
"""
from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.flows import incidents as incident_flow
from bot.flows import workflows
from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL, LocalStack, Server

log = logging.getLogger(__name__)

VISITOR = "U0DEMOAGENT"
CHANNEL_NAME = "social-care"
STATIC = resources.files("bot") / "demo_static"

# Written for the demo (not real customers): what "New customer post" makes, in turn.
SAMPLES: dict[str, list[tuple[str, str, int, str]]] = {
    "complaint": [
        ("hana_m", "Hana Mori", 3_400, "@acme charged twice for the same order (#5520) and the chat bot keeps looping. Not impressed."),
        ("big_ben_t", "Ben Turner", 61_000, "@acme third time my parcel was left in the rain. Soaked box, broken mug. Do better."),
        ("rosa.p", "Rosa Pérez", 780, "@acme the app logs me out every five minutes since the update, fix it please"),
    ],
    "question": [
        ("omar_k", "Omar Khalil", 150, "@acme do you ship to Ireland? The checkout won't take my Eircode"),
        ("jess_codes", "Jess Wong", 2_100, "@acme how long do refunds usually take to show up on a card?"),
    ],
    "praise": [
        ("happy_hal", "Hal Jensen", 540, "@acme the new kettle is gorgeous and arrived a day early. Thank you!"),
        ("nina_reads", "Nina Adler", 12_300, "@acme huge thanks to Leo on chat, sorted my return in two minutes"),
    ],
}
BURST = "@acme is the website down? can't log in or check out, error 503 everywhere"
BURST_PEOPLE = [("kai_r", "Kai Rivers"), ("mo_salah_fan", "Mo Ali"), ("lucy.g", "Lucy Green"), ("tobi_o", "Tobi Ola"),
                ("zoe_q", "Zoe Quinn"), ("ari_v", "Ari Vance"), ("bea_c", "Bea Costa"), ("ivo_p", "Ivo Petrov"),
                ("june_h", "June Ho"), ("sami_r", "Sami Rahman")]
FACEBOOK_SAMPLES = {
    "complaint": ("Greta Lind", "Still waiting for my refund after 3 weeks. Emails go unanswered. Very poor."),
    "question": ("Paul Dumas", "Are your stores open on the bank holiday?"),
    "praise": ("Ines Duarte", "Lovely service in the Leeds store today, thank you!"),
}


class DemoPage:
    """The page's server: serves the static page, its JSON state, and turns visitor actions into Slack requests."""

    def __init__(self, stack: LocalStack, *, visitor: str = VISITOR, poll_every: float = 1.0) -> None:
        self.stack = stack
        self.visitor = visitor
        self.poll_every = poll_every
        self._lock = threading.Lock()
        self._modals: list[str] = []  # the visitor's open modal stack, bottom first
        self._views_seen = 0
        self._responses_seen = 0
        self._notes: list[dict] = []  # ephemeral answers Slack would show: command acks, response_url posts
        self._errors: dict[str, dict[str, str]] = {}  # view id -> {block id: error} from response_action=errors
        self._counters: dict[str, itertools.count] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self.server: Server | None = None
        self.slack_api = WebClient(token=stack.slack.token, base_url=stack.slack.api_url)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "DemoPage":
        self.stack.slack.add_user(self.visitor, "you", "You (visitor)")
        # Slack's own pace (about a message a second) without the short burst a real channel allows, so a
        # burst of complaints is still waiting when the incident job looks, as it would be in a real crisis
        self.stack.rt.publisher.burst = 1
        self.server = Server(self.app()).start()
        self._poller = threading.Thread(target=self._poll_forever, name="demo-poller", daemon=True)
        self._poller.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._poller:
            self._poller.join(timeout=15)
        if self.server:
            self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def _poll_forever(self) -> None:
        """What the scheduler does in production, faster: poll each network, and group a burst into an incident."""
        tick = ("spotting incidents", lambda: incident_flow.tick(self.stack.rt))
        # a spike is spotted among the posts not yet carried into Slack, so look right after each poll
        jobs = [job for name in self.stack.rt.networks
                for job in ((f"polling {name}", lambda name=name: workflows.poll(self.stack.rt, name)), tick)]
        while not self._stopping.is_set():
            for what, job in jobs:
                try:
                    job()
                except Exception:  # noqa: BLE001 - the demo keeps going, the log says why
                    log.exception("demo: %s failed", what)
            self._wake.wait(self.poll_every)
            self._wake.clear()

    # -- HTTP --------------------------------------------------------------
    def app(self) -> Starlette:
        def index(request: Request) -> Response:
            return FileResponse(str(STATIC / "index.html"))

        def state(request: Request) -> Response:
            return JSONResponse(self.state())

        def file(request: Request) -> Response:
            upload = self.stack.slack.uploads.get(request.path_params["file_id"])
            if not upload or upload.get("content") is None:
                return Response("no such file", status_code=404)
            kind = "image/png" if upload["filename"].endswith(".png") else "application/octet-stream"
            return Response(upload["content"], media_type=kind)

        def endpoint(method):
            async def handle(request: Request) -> Response:
                try:
                    data = await request.json()
                except ValueError:
                    return JSONResponse({"ok": False, "error": "the body must be JSON"}, status_code=400)
                if not isinstance(data, dict):
                    return JSONResponse({"ok": False, "error": "the body must be a JSON object"}, status_code=400)
                try:
                    return JSONResponse(await run_in_threadpool(method, data))
                except DemoError as exc:
                    return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
            return handle

        return Starlette(routes=[
            Route("/", index),
            Route("/api/state", state),
            Route("/api/files/{file_id}", file),
            Route("/api/click", endpoint(self.click), methods=["POST"]),
            Route("/api/submit", endpoint(self.submit), methods=["POST"]),
            Route("/api/close", endpoint(self.close), methods=["POST"]),
            Route("/api/command", endpoint(self.command), methods=["POST"]),
            Route("/api/customer", endpoint(self.customer), methods=["POST"]),
            Route("/api/home", endpoint(self.open_home), methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ])

    # -- what the page shows -----------------------------------------------
    def _sync(self) -> None:
        """Pick up modals the bot opened or pushed, and answers it posted to response URLs."""
        slack = self.stack.slack
        opened = slack.opened_views
        responses = slack.responses
        with self._lock:
            for view in opened[self._views_seen:]:
                self._modals.append(view["id"])
            self._views_seen = len(opened)
            for body in responses[self._responses_seen:]:
                if isinstance(body, dict) and not body.get("delete_original"):
                    self._note(body)
            self._responses_seen = len(responses)

    def _note(self, body: dict) -> None:
        self._notes.append({"ts": f"{time.time():.6f}", "text": body.get("text") or "", "blocks": body.get("blocks") or [],
                            "bot_id": self.stack.slack.bot_id})

    def state(self) -> dict:
        self._sync()
        slack = self.stack.slack
        messages = slack.messages(CHANNEL)
        replies: dict[str, list[dict]] = {}
        for message in messages:
            if message.get("thread_ts") not in (None, message["ts"]):
                replies.setdefault(message["thread_ts"], []).append(message)
        top = [{**m, "replies": replies.get(m["ts"], [])} for m in messages if m.get("thread_ts") in (None, m["ts"])]
        ephemerals = [
            {"ts": e["message_ts"], "text": e.get("text") or "", "blocks": e.get("blocks") or [], "bot_id": slack.bot_id}
            for e in slack.ephemerals if e.get("user") == self.visitor and e.get("channel") == CHANNEL
        ]
        with self._lock:
            ephemerals += list(self._notes)
            modals = [{"view": slack.view(view_id), "errors": self._errors.get(view_id, {})} for view_id in self._modals]
        users = {uid: {"name": u["name"], "real_name": u["real_name"]} for uid, u in slack.users.items()}
        return {
            "visitor": self.visitor,
            "channel": {"id": CHANNEL, "name": CHANNEL_NAME},
            "users": users,
            "messages": top,
            "ephemerals": sorted(ephemerals, key=lambda e: float(e["ts"])),
            "modals": [m for m in modals if m["view"]],
            "home": slack.home_views.get(self.visitor),
            "x": {"brand": self.stack.x.brand_username, "posts": self.stack.x.timeline(), "dms": self.stack.x.dms},
            "facebook": {"page": self.stack.graph.page_name, "posts": self.stack.graph.feed()},
        }

    # -- what the visitor does ---------------------------------------------
    def _send(self, body: bytes):
        response = self.stack.send_to_slack_endpoint(body)
        if response.status_code >= 400:
            raise DemoError(f"the bot answered HTTP {response.status_code}")
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {"text": response.text}

    def _user(self) -> dict:
        return {"id": self.visitor, "username": "you", "name": "you", "team_id": slack_client.TEAM_ID}

    def _envelope(self, kind: str) -> dict:
        return {
            "type": kind, "user": self._user(), "api_app_id": slack_client.API_APP_ID,
            "token": "legacy-verification-token", "team": {"id": slack_client.TEAM_ID, "domain": slack_client.TEAM_DOMAIN},
            "enterprise": None, "is_enterprise_install": False, "trigger_id": slack_client._trigger_id(),
        }

    def click(self, data: dict) -> dict:
        """A click (button, overflow, select) on a message, in a modal, or on the Home tab; or typing in a live input."""
        action_id, block_id = _text(data, "action_id"), str(data.get("block_id") or "")
        payload = self._envelope("block_actions")
        if data.get("view_id"):
            view = self._view(str(data["view_id"]))
            state = self._state(view, data.get("values") or {})
            blocks = view.get("blocks") or []
            payload.update(container={"type": "view", "view_id": view["id"]}, view={**view, "state": {"values": state}},
                           state={"values": state})
        else:
            ts = _text(data, "message_ts")
            message = next((m for m in self.stack.slack.messages(CHANNEL) if m["ts"] == ts), None)
            if message is None:
                raise DemoError("that message is no longer in the channel")
            blocks = message.get("blocks") or []
            container = {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False}
            if message.get("thread_ts"):
                container["thread_ts"] = message["thread_ts"]
            payload.update(container=container, channel={"id": CHANNEL, "name": CHANNEL_NAME}, message=message,
                           state={"values": {}}, response_url=self.stack.slack.new_response_url())
        element, block_id = _element(blocks, action_id, block_id)
        action: dict[str, Any] = {"action_id": action_id, "block_id": block_id, "type": element["type"],
                                  "action_ts": f"{time.time():.6f}"}
        if element["type"] in ("static_select", "overflow"):
            option = next((o for o in element.get("options", []) if o.get("value") == data.get("value")), None)
            if option is None:
                raise DemoError("that option is not in the menu")
            action["selected_option"] = option
        elif element["type"] == "plain_text_input":
            action["value"] = str(data.get("value") or "")
        else:
            action.update(text=element.get("text"), value=element.get("value", ""))
        payload["actions"] = [action]
        self._send(_form(payload))
        return {"ok": True}

    def submit(self, data: dict) -> dict:
        """The modal's submit button: a view_submission; Slack closes the modal on an empty answer."""
        view = self._view(_text(data, "view_id"))
        payload = self._envelope("view_submission")
        payload.update(view={**view, "state": {"values": self._state(view, data.get("values") or {})}}, response_urls=[])
        answer = self._send(_form(payload))
        what = answer.get("response_action")
        with self._lock:
            self._errors.pop(view["id"], None)
            if what == "errors":
                self._errors[view["id"]] = answer.get("errors") or {}
                return {"ok": False, "errors": self._errors[view["id"]]}
        if what == "update":
            self.slack_api.views_update(view_id=view["id"], view=answer["view"])
        elif what == "push":
            self.slack_api.views_push(trigger_id=payload["trigger_id"], view=answer["view"])
        else:
            with self._lock:
                self._modals = [] if what == "clear" else [v for v in self._modals if v != view["id"]]
        return {"ok": True}

    def close(self, data: dict) -> dict:
        view_id = _text(data, "view_id")
        with self._lock:
            self._modals = [v for v in self._modals if v != view_id]
        return {"ok": True}

    def command(self, data: dict) -> dict:
        """`/socialdesk ...` typed in the page's message box, sent as Slack sends slash commands."""
        text = _text(data, "text").strip()
        name, _, rest = text.partition(" ")
        if name != "/socialdesk":
            raise DemoError("this workspace has one command: /socialdesk (try /socialdesk help)")
        body = slack_client.slash_command(self.visitor, "/socialdesk", rest.strip(), channel_id=CHANNEL,
                                          response_url=self.stack.slack.new_response_url())
        answer = self._send(body)
        if answer.get("text") or answer.get("blocks"):
            with self._lock:
                self._note(answer)
        return {"ok": True}

    def open_home(self, data: dict) -> dict:
        """What Slack sends when the visitor opens the app's Home tab."""
        event = {"type": "app_home_opened", "user": self.visitor, "channel": "D0DEMOHOME", "tab": "home"}
        self._send(slack_client.event_callback(event))
        return {"ok": True}

    def customer(self, data: dict) -> dict:
        """A new customer post on the emulated network, for the visitor to play with."""
        kind, network = _text(data, "kind"), str(data.get("network") or "x")
        if kind not in (*SAMPLES, "burst"):
            raise DemoError(f"kind must be one of {', '.join([*SAMPLES, 'burst'])}")
        if network not in ("x", "facebook"):
            raise DemoError("network must be x or facebook")
        x = self.stack.x
        if kind == "burst":
            for handle, name in BURST_PEOPLE:
                x.add_tweet(BURST, x.add_user(username=handle, name=name, followers=300))
            made = len(BURST_PEOPLE)
        elif network == "facebook":
            graph = self.stack.graph
            posts = [p for p in graph.feed() if p["from"]["is_page"]]
            post_id = posts[0]["id"] if posts else graph.add_post("Hello from Acme! Tell us how we're doing.")
            name, text = FACEBOOK_SAMPLES[kind]
            graph.add_comment(post_id, text, graph.add_user(name))
            made = 1
        else:
            samples = SAMPLES[kind]
            handle, name, followers, text = samples[next(self._counters.setdefault(kind, itertools.count())) % len(samples)]
            x.add_tweet(text, x.add_user(username=handle, name=name, followers=followers))
            made = 1
        self._wake.set()  # poll now rather than at the next tick
        return {"ok": True, "posts": made}

    # -- helpers -----------------------------------------------------------
    def _view(self, view_id: str) -> dict:
        with self._lock:
            open_now = view_id in self._modals
        view = self.stack.slack.view(view_id) if open_now else None
        if view is None:
            raise DemoError("that window is closed")
        return view

    @staticmethod
    def _state(view: dict, values: dict) -> dict:
        """Slack's view.state.values for the inputs the visitor filled in ({block: {action: value or [values]}})."""
        state: dict[str, dict] = {}
        if not isinstance(values, dict):
            raise DemoError("values must be an object")
        for block in view.get("blocks") or []:
            if block.get("type") != "input":
                continue
            element = block.get("element") or {}
            action_id, kind = element.get("action_id", ""), element.get("type")
            given = (values.get(block.get("block_id")) or {}).get(action_id) if isinstance(values.get(block.get("block_id")), dict) else None
            if kind == "plain_text_input":
                value = given if isinstance(given, str) else element.get("initial_value")
                entry: dict[str, Any] = {"type": kind, "value": value if value else None}
            elif kind == "checkboxes":
                chosen = given if isinstance(given, list) else []
                entry = {"type": kind, "selected_options": [o for o in element.get("options", []) if o.get("value") in chosen]}
            elif kind == "static_select":
                entry = {"type": kind, "selected_option": next((o for o in element.get("options", []) if o.get("value") == given), None)}
            else:
                continue
            state[block["block_id"]] = {action_id: entry}
        return state


class DemoError(ValueError):
    """A visitor action the page cannot turn into a Slack request; shown on the page."""


def _text(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise DemoError(f"{key} is missing")
    return value


def _element(blocks: list[dict], action_id: str, block_id: str) -> tuple[dict, str]:
    for block in blocks:
        candidates = list(block.get("elements") or []) + [block[k] for k in ("accessory", "element") if k in block]
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id and (not block_id or block.get("block_id", "") == block_id):
                return element, block.get("block_id", "")
    raise DemoError(f"no {action_id} on that message any more")


def _form(payload: dict) -> bytes:
    """Interactivity payloads arrive as a form with one field, as Slack sends them."""
    return urlencode({"payload": json.dumps(payload)}).encode()


TEAMMATE = "U0DEMOSAM"


def demo_config():
    """The visitor may do everything: answer, approve, see the numbers; shares an on-call rotation; and a burst
    of complaints about one thing opens an incident from six (a real brand needs twenty, and four times its usual)."""
    from bot.config import FileConfig, IncidentsConfig, OncallConfig, RolesConfig

    return FileConfig(roles=RolesConfig(managers=[VISITOR]), oncall=OncallConfig(members=[VISITOR, TEAMMATE], rotation="daily"),
                      incidents=IncidentsConfig(min_posts=6))


def seed(stack: LocalStack) -> None:
    """The sample customers the page starts with: five posts on X, a Page post with two comments."""
    from bot.demo import CUSTOMERS, FACEBOOK_COMMENTS, FACEBOOK_POST

    stack.slack.add_user(TEAMMATE, "sam", "Sam Lee")
    for handle, name, followers, text in CUSTOMERS:
        stack.x.add_tweet(text, stack.x.add_user(username=handle, name=name, followers=followers))
    post_id = stack.graph.add_post(FACEBOOK_POST)
    for name, text in FACEBOOK_COMMENTS:
        stack.graph.add_comment(post_id, text, stack.graph.add_user(name))


def _has_display() -> bool:
    """Open a browser only where one can show up (not a text browser taking over an SSH terminal)."""
    import os
    import sys

    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class running_page:
    """The emulators, the bot and the page, up for as long as the `with` lasts."""

    def __init__(self, workdir: str, *, poll_every: float = 1.0) -> None:
        self.stack = LocalStack(f"sqlite:///{workdir}/socialdesk.db", config=demo_config())
        self.poll_every = poll_every
        self.page: DemoPage | None = None

    def __enter__(self) -> DemoPage:
        self.stack.start()
        try:
            seed(self.stack)
            self.page = DemoPage(self.stack, poll_every=self.poll_every).start()
        except BaseException:
            self.stack.stop()
            raise
        return self.page

    def __exit__(self, *exc) -> None:
        if self.page:
            self.page.stop()
        self.stack.stop()


def serve(*, open_browser: bool = True, out=None) -> int:
    """`socialdesk demo`: serve the page until Ctrl-C."""
    import signal
    import sys
    import tempfile
    import webbrowser

    out = out or sys.stdout
    workdir = tempfile.mkdtemp(prefix="socialdesk-demo-")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with running_page(workdir) as page:
            print(f"socialdesk demo: open {page.url}/ in a browser (Ctrl-C to stop)", file=out, flush=True)
            print(f"  emulated Slack, X and Facebook on this machine; the bot at {page.stack.url}; "
                  f"SQLite in {workdir}", file=out, flush=True)
            if open_browser and _has_display():
                webbrowser.open(page.url + "/")
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("demo stopped", file=out)
    return 0
