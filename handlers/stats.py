"""`/socialdesk stats` and `/socialdesk export`: managers only.

Importing this module registers both subcommands. Each one checks the role and
the period, acks at once (Slack gives 3 seconds), and leaves the counting, the
chart and the upload to `bot.flows.digest` on the background pool.
"""
from __future__ import annotations

from typing import Callable

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.flows import digest
from bot.domain.stats import PERIODS, StatsError, parse_period
from bot.runtime import Runtime
from bot.slack import stats_blocks
from handlers.commands import subcommand

PERIOD_WORDS = {"today": "today", "7d": "the last 7 days", "30d": "the last 30 days"}


def _start(rt: Runtime, ack: Ack, command: dict, args: list[str], *, default: str, name: str, work: Callable[..., None], doing: str) -> None:
    user_id = command["user_id"]
    if not rt.config.roles.is_manager(user_id):
        ack(response_type="ephemeral", text=stats_blocks.refusal(user_id, managers_configured=bool(rt.config.roles.managers)))
        return
    try:
        if len(args) > 1:
            raise StatsError(f"`/socialdesk {name}` takes one period: `today`, `7d` or `30d`.")
        key = parse_period(args[0] if args else None, default=default)
    except StatsError as exc:
        ack(response_type="ephemeral", text=str(exc))
        return
    ack(response_type="ephemeral", text=f":hourglass_flowing_sand: {doing} for {PERIOD_WORDS[key]}…")
    rt.background.submit(work, rt, user_id=user_id, channel_id=command["channel_id"], response_url=command["response_url"], period_key=key)


@subcommand("stats", f"stats [{'|'.join(PERIODS)}]", "the team's numbers and a chart (managers; default 7d)")
def stats(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    _start(rt, ack, command, args, default="7d", name="stats", work=digest.send_stats, doing="Counting the numbers")


@subcommand("export", f"export [{'|'.join(PERIODS)}]", "a CSV with one row per case (managers; default 30d)")
def export(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    _start(rt, ack, command, args, default="30d", name="export", work=digest.send_export, doing="Exporting the cases")
