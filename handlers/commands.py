"""The /socialdesk slash command and its subcommands."""
from __future__ import annotations

from slack_bolt import Ack, App

from bot.runtime import Runtime
from bot.slack import blocks


def register(app: App, rt: Runtime) -> None:
    @app.command("/socialdesk")
    def socialdesk(ack: Ack, command: dict):
        words = (command.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        if sub == "help":
            ack(response_type="ephemeral", text=blocks.HELP, blocks=blocks.help_blocks())
            return
        ack(response_type="ephemeral", text=f"Unknown subcommand `{blocks.escape(sub)}`.\n\n{blocks.HELP}")
