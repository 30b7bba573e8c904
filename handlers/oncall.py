"""`/socialdesk oncall` (show, override, swap) and the Acknowledge button on a page DM.

`ONCALL` is passed to `commands.register`; `register(app, rt)` adds the button.
"""
from __future__ import annotations

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.clock import utcnow
from bot.domain import oncall
from bot.domain.roles import Role
from bot.flows import escalation
from bot.runtime import Runtime
from bot.slack import dm, oncall_blocks
from bot.slack.ids import Action
from handlers.commands import Subcommand
from handlers.middleware import case_action, case_listener

USAGE = "oncall [override [@someone] [4h] | swap [@someone]]"
NOT_ON_ROTATION = ":lock: Only people on the rotation, `escalate_to`, managers and agents can acknowledge pages. Nothing was changed."


def _check_person(rt: Runtime, user: str | None) -> None:
    """Refuse to put someone on call whom Slack says has left."""
    if user is None:
        return
    try:
        dm.user_name(rt.slack, user)
    except dm.Unreachable as gone:
        raise oncall.OncallError(f"<@{user}> cannot be put on call: Slack says `{gone.error}` (left or deactivated).") from None
    except dm.NotSent:
        pass  # Slack is slow right now; the page itself will find out


def oncall_command(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    actor, now = command["user_id"], utcnow()
    action = args[0].lower() if args else ""
    note, changed = "", False
    if action == "override":
        target, duration = oncall.parse_override_args(args[1:])
        _check_person(rt, target)
        with rt.db.session() as session:
            after = oncall.override(session, rt.config, actor, target, duration, now)
        note = oncall_blocks.override_note(actor, after)
        changed = True
    elif action == "swap":
        target, duration = oncall.parse_override_args(args[1:])
        if duration is not None:
            raise oncall.OncallError("A swap hands over the rest of the turn; to take over for a while use `/socialdesk oncall override @someone 4h`.")
        _check_person(rt, target)
        with rt.db.session() as session:
            before, after = oncall.swap(session, rt.config, actor, target, now)
        note = oncall_blocks.swap_note(before, after)
        changed = True
    elif action:
        raise oncall.OncallError(f"Unknown `oncall {action}`. Usage: `/socialdesk {USAGE}`")
    with rt.db.session() as session:
        current = oncall.on_call(session, rt.config, now)
        following = oncall.next_on_call(session, rt.config, current)
    text, blocks = oncall_blocks.oncall_status(current, following, rt.config, note=note)
    ack(response_type="in_channel" if changed else "ephemeral", text=text, blocks=blocks)
    if changed:
        rt.submit(escalation.handoffs, rt)  # the incoming person gets their summary now


ONCALL = Subcommand("oncall", USAGE, "who is on call now and next; take over (override) or hand over (swap)", oncall_command)


def _may_acknowledge(rt: Runtime, user_id: str, role: Role) -> str | None:
    return None if escalation.may_acknowledge(rt, user_id) else NOT_ON_ROTATION


def register(app: App, rt: Runtime) -> None:
    def acknowledge(case_id: int, user_id: str) -> None:
        escalation.acknowledge(rt, case_id, user_id)

    app.action(Action.ACKNOWLEDGE.value, middleware=[case_action(rt, _may_acknowledge)])(case_listener(rt, acknowledge))
