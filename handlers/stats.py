"""`/socialdesk stats` and `/socialdesk export`: managers only.

`STATS` and `EXPORT` are passed to `commands.register`. Each one checks the role
and the period, acks at once (Slack gives 3 seconds), and leaves the counting,
the chart and the upload to `bot.flows.digest` on the background pool.
"""
from __future__ import annotations

from typing import Callable

from slack_bolt import Ack
from slack_sdk import WebClient

from bot.domain.errors import UserFacingError
from bot.domain.stats import PERIODS, StatsError, parse_period
from bot.flows import digest
from bot.runtime import Runtime
from bot.slack import stats_blocks
from handlers.commands import Subcommand

PERIOD_WORDS = {"today": "today", "7d": "the last 7 days", "30d": "the last 30 days"}


def _start(rt: Runtime, ack: Ack, command: dict, args: list[str], *, default: str, name: str, work: Callable[..., None], doing: str) -> None:
    user_id = command["user_id"]
    if not rt.config.roles.is_manager(user_id):
        raise UserFacingError(stats_blocks.refusal(user_id, managers_configured=bool(rt.config.roles.managers)))
    if len(args) > 1:
        raise StatsError(f"`/socialdesk {name}` takes one period: `today`, `7d` or `30d`.")
    key = parse_period(args[0] if args else None, default=default)
    ack(response_type="ephemeral", text=f":hourglass_flowing_sand: {doing} for {PERIOD_WORDS[key]}…")
    response_url = command["response_url"]
    rt.submit(work, rt, user_id=user_id, channel_id=command["channel_id"], response_url=response_url, period_key=key,
              on_failure=lambda ref: digest.report_failure(response_url, ref))


def stats(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    _start(rt, ack, command, args, default="7d", name="stats", work=digest.send_stats, doing="Counting the numbers")


def export(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    _start(rt, ack, command, args, default="30d", name="export", work=digest.send_export, doing="Exporting the cases")


STATS = Subcommand("stats", f"stats [{'|'.join(PERIODS)}]", "the team's numbers and a chart (managers; default 7d)", stats)
EXPORT = Subcommand("export", f"export [{'|'.join(PERIODS)}]", "a CSV with one row per case (managers; default 30d)", export)
