"""The /socialdesk slash command: one dispatcher, one function per subcommand.

The subcommands are passed to `register` (see `bot.app.build_bolt`); nothing is
added at import time, and `help` lists exactly what was passed, so it cannot
drift from what exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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


def help_text(subcommands: Sequence[Subcommand]) -> str:
    lines = [f"• `/socialdesk {s.usage}` — {s.summary}" for s in subcommands]
    return blocks.HELP_INTRO + "\n" + "\n".join(lines)


def register(app: App, rt: Runtime, subcommands: Sequence[Subcommand]) -> None:
    def _help(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
        ack(response_type="ephemeral", text=text, blocks=[blocks.section(text)])

    everything = [Subcommand("help", "help", "this list", _help), *subcommands]
    by_name = {s.name: s for s in everything}
    text = help_text(everything)

    @app.command("/socialdesk")
    def socialdesk(ack: Ack, command: dict, client: WebClient):
        words = (command.get("text") or "").split()
        name = words[0].lower() if words else "help"
        found = by_name.get(name)
        if found is None:
            ack(response_type="ephemeral", text=f"Unknown subcommand `{blocks.escape(name)}`.\n\n{text}")
            return
        found.run(rt, ack, command, words[1:], client)
