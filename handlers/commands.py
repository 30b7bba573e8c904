"""The /socialdesk slash command: one dispatcher, one function per subcommand.

Subcommand modules (stats, oncall, ...) add themselves with `@subcommand`; `help`
lists whatever is registered, so it can never drift from what exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.slack import blocks


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    run: Callable[..., None]  # run(rt, ack, command, args, client)


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, usage: str, summary: str):
    def register(func):
        SUBCOMMANDS[name] = Subcommand(name, usage, summary, func)
        return func

    return register


def help_text() -> str:
    lines = [f"• `/socialdesk {s.usage}` — {s.summary}" for s in SUBCOMMANDS.values()]
    return blocks.HELP_INTRO + "\n" + "\n".join(lines)


@subcommand("help", "help", "this list")
def _help(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    ack(response_type="ephemeral", text=help_text(), blocks=[blocks.section(help_text())])


def register(app: App, rt: Runtime) -> None:
    @app.command("/socialdesk")
    def socialdesk(ack: Ack, command: dict, client: WebClient):
        words = (command.get("text") or "").split()
        name = words[0].lower() if words else "help"
        found = SUBCOMMANDS.get(name)
        if found is None:
            ack(response_type="ephemeral", text=f"Unknown subcommand `{blocks.escape(name)}`.\n\n{help_text()}")
            return
        found.run(rt, ack, command, words[1:], client)
