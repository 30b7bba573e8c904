"""Per-request plumbing: drop Slack's event retries, resolve who acts on which case, and one error handler.

Every case button goes through `case_action`: it acknowledges within Slack's 3
seconds, reads the case reference from the button, and puts `case_id`,
`user_id` and `role` into the listener's arguments. Errors meant for a person
(`UserFacingError`) become their private message in `explain`, nowhere else:
`on_error` sends there what fails before the acknowledgement (middleware, slash
commands), `case_listener` what a case button's listener raises after it.
"""
from __future__ import annotations

import inspect
import logging
import threading
from typing import Callable

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_sdk import WebClient

from bot.domain.cases import CaseError
from bot.domain.errors import UserFacingError
from bot.domain.roles import Role, role_of
from bot.logs import error_ref
from bot.runtime import Runtime
from bot.slack import blocks
from bot.slack.ids import StaleReference, parse_case_ref
from handlers.common import NOT_ALLOWED, STALE, tell

log = logging.getLogger(__name__)

# Who may press a case button: (runtime, user, role) -> None when allowed, else the refusal.
Gate = Callable[[Runtime, str, Role], str | None]


def may_answer(rt: Runtime, user_id: str, role: Role) -> str | None:
    return None if role.may_answer else NOT_ALLOWED


ACK_DEADLINE = 2.5  # seconds: Slack gives up on an acknowledgement after 3


def _once(ack: Ack) -> Callable[[], None]:
    """`ack` callable any number of times, from any thread; only the first call answers Slack."""
    lock, done = threading.Lock(), []

    def acknowledge() -> None:
        with lock:
            if not done:
                done.append(True)
                ack()

    return acknowledge


def case_action(rt: Runtime, gate: Gate = may_answer, *, durable: bool = False) -> Callable:
    """Listener middleware for a button carrying a case reference.

    A `durable` action (an approval) is acknowledged by `case_listener` once its
    database write is committed, or at ACK_DEADLINE if that write is slow; the
    others right here.
    """

    def resolve_case(ack: Ack, body: dict, action: dict, context: BoltContext, next: Callable[[], None]) -> None:
        acknowledge = _once(ack)
        context["acknowledge"] = acknowledge
        if not durable:
            acknowledge()  # within Slack's 3 seconds; everything after may take its time
        try:
            try:
                case_id = parse_case_ref(action.get("value") or (action.get("selected_option") or {}).get("value"))
            except StaleReference:
                raise UserFacingError(STALE) from None
            user_id = body["user"]["id"]
            role = role_of(rt.config.roles, user_id)
            refusal = gate(rt, user_id, role)
            if refusal:
                raise UserFacingError(refusal)
        except Exception:
            acknowledge()
            raise
        if durable:
            timer = threading.Timer(ACK_DEADLINE, acknowledge)
            timer.daemon = True
            timer.start()
            context["ack_timer"] = timer
        context["case_id"], context["user_id"], context["role"] = case_id, user_id, role
        next()

    return resolve_case


def explain(rt: Runtime, client: WebClient, body: dict, error: UserFacingError, case_id: int | None = None) -> None:
    """The one place a UserFacingError becomes a private message; off the request thread, so Slack hears its ack first."""
    rt.submit(_tell_and_refresh, rt, client, body, str(error), case_id if isinstance(error, CaseError) else None)


def _tell_and_refresh(rt: Runtime, client: WebClient, body: dict, text: str, case_id: int | None) -> None:
    tell(client, body, text)
    if case_id:
        rt.publisher.refresh(case_id)  # the card may be out of date: show what is true now


def case_listener(rt: Runtime, listener: Callable[..., None]) -> Callable[..., None]:
    """A case button's listener, given only the arguments it names (`case_id`, `user_id`, `role`, `body`, `action`, `client`).

    Bolt answers Slack with whatever state the listener thread leaves behind, so a
    UserFacingError is explained here rather than raised out of the thread.
    """
    wanted = set(inspect.signature(listener).parameters)

    def run(body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        offered = {"body": body, "action": action, "client": client,
                   "case_id": context["case_id"], "user_id": context["user_id"], "role": context["role"]}
        try:
            listener(**{name: value for name, value in offered.items() if name in wanted})
        except UserFacingError as error:
            explain(rt, client, body, error, context["case_id"])
        finally:
            if context.get("ack_timer") is not None:
                context["ack_timer"].cancel()
            if context.get("acknowledge") is not None:
                context["acknowledge"]()  # a durable action: its write is committed (or it failed) by now

    run.__name__ = run.__qualname__ = listener.__name__
    return run


def register(app: App, rt: Runtime) -> None:
    @app.middleware
    def skip_event_retries(req, next):
        # Events are handled idempotently already; a retried delivery only costs work.
        # Interactions are never dropped here: their idempotency lives in the outbox.
        if req.headers.get("x-slack-retry-num") and (req.body or {}).get("type") == "event_callback":
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return next()

    @app.error
    def on_error(error: Exception, body: dict, client: WebClient, context: BoltContext, response: BoltResponse | None):
        body = body or {}
        acked = context.ack is not None and context.ack.response is not None
        if isinstance(error, UserFacingError):
            if body.get("command") and not acked:
                # The slash command's own answer, seen only by whoever typed it.
                return BoltResponse(status=200, body={"response_type": "ephemeral", "text": str(error)})
            explain(rt, client, body, error, context.get("case_id"))
            return BoltResponse(status=200, body="") if response is not None else None  # it was acknowledged
        ref = error_ref()
        log.exception("unhandled error %s: %s", ref, type(error).__name__, exc_info=error)
        user = body.get("user", {})
        user_id = user.get("id") if isinstance(user, dict) else body.get("user_id")
        channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
        if user_id and channel:
            try:
                client.chat_postEphemeral(channel=channel, user=user_id, text=blocks.went_wrong(ref))
            except Exception:  # noqa: BLE001 - already failing; the log has the trace
                log.warning("could not tell %s about error %s", user_id, ref)
        return None
