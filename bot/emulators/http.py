"""Shared plumbing for the local HTTP emulators: a threaded loopback server, a request log and fault injection."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

# What a route handler returns: (status, headers, body). A dict/list body is sent as JSON.
Reply = tuple[int, dict[str, str], Any]


@dataclass
class Request:
    """One request as the emulator saw it, kept so tests can assert on the exact wire traffic."""

    method: str
    path: str
    route: str | None
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    parsed: Any
    received_at: float = field(default_factory=time.monotonic)  # for latency benchmarks


@dataclass
class _Fault:
    route: str
    status: int | None
    body: Any
    headers: dict[str, str]
    times: int
    delay: float
    drop: bool = False


def parse_body(content_type: str, body: bytes) -> Any:
    """Decode a JSON or form body the way Slack and X servers do; anything else stays raw (None)."""
    text = body.decode("utf-8", "replace")
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            return None
    if "x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    return None


class EmulatorServer(ABC):
    """Base for an emulator: subclasses name routes (`route`) and answer them (`handle`)."""

    content_type = "application/json; charset=utf-8"
    raw_routes: frozenset[str] = frozenset()  # routes whose body is opaque bytes, never parsed

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._log: list[Request] = []
        self._faults: list[_Fault] = []
        self._chaos: tuple[float, float, random.Random] | None = None  # (rate, hang seconds, rng)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        """Bind 127.0.0.1 on a free port and serve from a daemon thread (one thread per request, also daemon)."""
        if self._server is not None:
            return self
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                emulator._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=type(self).__name__,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed (fault) requests are released at once."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- test helpers ------------------------------------------------------
    def received(self, route: str | None = None) -> list[Request]:
        """Requests received so far, optionally only those of one route."""
        with self._lock:
            return [r for r in self._log if route is None or r.route == route]

    def fail(
        self,
        route: str,
        status: int | None = 500,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
        drop: bool = False,
    ) -> None:
        """Answer the next `times` requests of `route` with a canned failure, after `delay` seconds.

        `status=None` with a delay answers normally but late (a slow server rather than a broken one).
        `drop=True` (with `status=None`) does what was asked and then closes the connection without
        answering: the request took effect, but the client cannot know.
        """
        with self._lock:
            self._faults.append(_Fault(route, status, body, dict(headers or {}), times, delay, drop))

    def clear_faults(self) -> None:
        """Answer normally again: forget the failures still pending from `fail()`, and stop any chaos."""
        with self._lock:
            self._faults.clear()
            self._chaos = None

    def chaos(self, rate: float, *, hang: float = 25.0, seed: int = 0) -> None:
        """Fail a `rate` share of all requests at random: 429, 500, 503, or a hang of `hang` seconds
        after which the request is carried out (the client has given up by then)."""
        with self._lock:
            self._chaos = (rate, hang, random.Random(seed))

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.01, what: str = ""):
        """Poll `predicate` until it returns something truthy and return that; raise TimeoutError otherwise.

        The default leaves room for a busy 2-core CI machine: a condition that holds returns at once.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                seen = ", ".join(f"{r.method} {r.route or r.path}" for r in self.received()[-10:]) or "none"
                name = what or getattr(predicate, "__name__", repr(predicate))
                raise TimeoutError(f"{type(self).__name__}: {name} not true after {timeout}s; last requests: {seen}")
            time.sleep(interval)

    def reset(self) -> None:
        """Forget the request log and pending faults (subclasses also clear their state)."""
        with self._lock:
            self._log.clear()
            self._faults.clear()

    # -- subclass hooks ----------------------------------------------------
    @abstractmethod
    def route(self, method: str, path: str) -> str | None:
        """The route name of a request (what `fail()` and `received()` match on), or None."""

    @abstractmethod
    def handle(self, request: Request) -> Reply:
        """Answer one request as the real service would."""

    def fault_reply(self, request: Request, status: int, body: Any, headers: dict[str, str]) -> Reply:
        """Shape an injected failure; subclasses fill in a realistic default body and headers."""
        return status, headers, body if body is not None else {"error": "injected"}

    # -- internals ---------------------------------------------------------
    def _take_fault(self, route: str | None) -> _Fault | None:
        with self._lock:
            if self._chaos is not None and route is not None:
                rate, hang, rng = self._chaos
                if rng.random() < rate:
                    kind = rng.choice((429, 500, 503, "hang"))
                    return _Fault(route, None, None, {}, 1, hang) if kind == "hang" else _Fault(route, kind, None, {}, 1, 0.0)
            for fault in self._faults:
                if fault.route == route:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        split = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in http.headers.items()}
        route = self.route(http.command, split.path)
        parsed = None if route in self.raw_routes else parse_body(headers.get("content-type", ""), body)
        request = Request(http.command, split.path, route, dict(parse_qsl(split.query, keep_blank_values=True)),
                          headers, body, parsed)
        with self._lock:
            self._log.append(request)
        reply = None
        fault = self._take_fault(route)
        if fault is not None:
            if fault.delay:
                self._stopping.wait(fault.delay)
            if fault.status is not None:
                reply = self.fault_reply(request, fault.status, fault.body, dict(fault.headers))
        if reply is None:
            try:
                with self._lock:
                    reply = self.handle(request)
            except Exception as exc:  # an emulator bug must show up as an answer, not as a dropped connection
                log.exception("%s failed on %s %s", type(self).__name__, request.method, request.path)
                reply = 500, {}, {"error": f"emulator error: {exc!r}"}
        if fault is not None and fault.drop:
            http.close_connection = True  # done, but the answer never reaches the client
            return
        self._write(http, *reply)

    def _write(self, http: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: Any) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": self.content_type, **headers}
        try:
            http.send_response(status)
            for name, value in headers.items():
                http.send_header(name, str(value))
            http.send_header("Content-Length", str(len(body)))
            # One request per connection, so a stopped emulator really stops answering kept-alive clients.
            http.send_header("Connection", "close")
            http.end_headers()
            http.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. a simulated timeout)
            pass
        http.close_connection = True
