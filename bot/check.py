"""`socialdesk check`: say, per service, whether the configuration works and what to fix."""
from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.clock import utcnow
from bot.config import ConfigError, load_file_config, load_settings, secret
from bot.domain import oncall, spend
from bot.networks import build_networks, catalogue, half_configured
from bot.networks.base import AuthFailed, NetworkError
from bot.runtime import slack_client
from storage.db import Database

MANIFEST = Path(__file__).parent / "slack" / "manifest.json"

FIXES = {
    "invalid_auth": "SLACK_BOT_TOKEN is wrong or revoked: copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page",
    "not_authed": "SLACK_BOT_TOKEN is empty",
    "account_inactive": "the token belongs to a deleted user or an uninstalled app: reinstall the app",
    "token_revoked": "the token was revoked: reinstall the app and copy the new token",
}



def run_checks(console: Console | None = None) -> int:
    console = console or Console()
    rows: list[tuple[str, bool, str]] = []
    try:
        settings = load_settings()
    except ConfigError as exc:
        console.print(f"[red]environment:[/red] {exc}")
        return 1
    config = None
    try:
        config = load_file_config(settings.socialdesk_config)
        where = settings.socialdesk_config
        found = f"{where}: loaded" if Path(where).exists() else f"no {where}: running on the defaults (the file is optional)"
        rows.append(("socialdesk.toml", True, f"{found}; SLA " + ", ".join(f"{known.label} {_short(config.sla.for_network(name))}" for name, known in catalogue().items())))
    except ConfigError as exc:
        rows.append(("socialdesk.toml", False, str(exc)))
    slack_rows = _check_slack(settings)
    rows.extend(slack_rows)
    if config is not None and config.oncall.members:
        shift = oncall.rotation_shift(config.oncall, utcnow())
        rows.append(("on-call", True, f"{len(config.oncall.members)} people, {config.oncall.rotation} hand-over at {config.oncall.handoff} "
                                      f"{config.oncall.timezone}; by the rotation now: {shift.user} (overrides: /socialdesk oncall)"))
    rows.append(_check_triage())
    if not settings.socialdesk_channel:
        rows.append(("channel", False, "SOCIALDESK_CHANNEL is not set: the id of the channel for cards (e.g. C0123456789)"))
    elif slack_rows[0][1]:
        rows.append(_check_channel(settings))
    networks = build_networks(settings, config)
    for name, network in networks.items():
        try:
            rows.append((network.label, True, "connected as " + network.check()))
        except NetworkError as exc:
            fix = getattr(network, "reconnect_help", "") if isinstance(exc, AuthFailed) else ""
            rows.append((network.label, False, exc.message + fix))
    rows.extend(_spend_rows(settings, networks))
    rows.extend((label, False, problem) for label, problem in half_configured(settings))
    if not networks:
        rows.append(("networks", False, "no network configured: set the X_* variables (and/or FACEBOOK_*), see README"))
    table = Table(title="socialdesk check")
    for column in ("what", "ok", "details / what to fix"):
        table.add_column(column)
    for what, ok, detail in rows:
        table.add_row(escape(what), "[green]yes[/green]" if ok else "[red]no[/red]", escape(detail))  # "[oncall]" is text, not markup
    console.print(table)
    return 0 if all(ok for _, ok, _ in rows) else 1


def _check_triage() -> tuple[str, bool, str]:
    from bot.triage import encoder
    from bot.triage.model import ModelLoadError, get_model

    try:
        model = get_model()
    except ModelLoadError as exc:
        return ("triage", False, str(exc))
    if model.encoder is not None:
        return ("triage", True, f"n-gram model + fine-tuned encoder, complaint at blended score >= {model.active_threshold:.2f}")
    if encoder.encoder_dir() is None:
        return ("triage", True, f"n-gram model alone ({encoder.ENCODER_ENV}=off)")
    return ("triage", False, f"the encoder in {encoder.encoder_dir()} did not load (see the log): complaints are scored by "
                             "the n-gram model alone; reinstall socialdesk or run `socialdesk train --encoder`")


def _short(duration) -> str:
    minutes = int(duration.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes}m"


def manifest_scopes() -> list[str]:
    return json.loads(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]


def _check_slack(settings) -> list[tuple[str, bool, str]]:
    """The token works, and has every scope the manifest asks for (auth.test's x-oauth-scopes header)."""
    if not secret(settings.slack_bot_token):
        return [("Slack", False, "SLACK_BOT_TOKEN is not set (Bot User OAuth Token, xoxb-...)")]
    if not secret(settings.slack_signing_secret) and not secret(settings.slack_app_token):
        return [("Slack", False, "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)")]
    try:
        auth = slack_client(settings, timeout=10).auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        return [("Slack", False, f"auth.test said {error}: {FIXES.get(error, 'check SLACK_BOT_TOKEN')}")]
    except OSError as exc:
        return [("Slack", False, f"cannot reach {settings.slack_api_url}: {type(exc).__name__}")]
    mode = "Socket Mode" if secret(settings.slack_app_token) else "HTTP mode"
    rows = [("Slack", True, f"bot {auth.get('user')} in {auth.get('team')} ({mode})")]
    header = next((v for k, v in (auth.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
    wanted = manifest_scopes()
    if header is None:
        rows.append(("Slack scopes", True, "Slack did not say which scopes the token has (no x-oauth-scopes header); "
                                           f"the manifest asks for {', '.join(wanted)}"))
        return rows
    granted = {s.strip() for s in header.split(",") if s.strip()}
    missing = [s for s in wanted if s not in granted]
    if missing:
        rows.append(("Slack scopes", False, f"the token lacks {', '.join(missing)}, which the manifest asks for: add "
                                            f"{'it' if len(missing) == 1 else 'them'} under OAuth & Permissions (or update the app "
                                            "from bot/slack/manifest.json), reinstall the app and copy the new token"))
    else:
        rows.append(("Slack scopes", True, f"all {len(wanted)} the manifest asks for ({', '.join(wanted)})"))
    return rows


def _check_channel(settings) -> tuple[str, bool, str]:
    """The cards' channel exists and the bot is in it (conversations.info; history when the token cannot read channel info)."""
    channel = settings.socialdesk_channel
    client = slack_client(settings, timeout=10)
    invite = "type /invite @socialdesk in the channel (or add the app from the channel's details)"
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        if error == "missing_scope":
            return _check_channel_by_history(client, channel, invite)
        if error == "channel_not_found":
            return ("channel", False, f"there is no channel {channel} that the bot can see: check SOCIALDESK_CHANNEL "
                                      "(the id at the bottom of the channel's details, like C0123456789); for a private channel, "
                                      + invite)
        return ("channel", False, f"conversations.info said {error}")
    except OSError as exc:
        return ("channel", False, f"cannot reach Slack: {type(exc).__name__}")
    name = f"#{info.get('name')}" if info.get("name") else channel
    if info.get("is_archived"):
        return ("channel", False, f"{name} ({channel}) is archived: unarchive it or pick another channel")
    if info.get("is_member") is False:
        return ("channel", False, f"the bot is not a member of {name} ({channel}), so cards cannot be posted: {invite}")
    return ("channel", True, f"{name} ({channel}); the bot is a member")


def _check_channel_by_history(client, channel: str, invite: str) -> tuple[str, bool, str]:
    try:
        client.conversations_history(channel=channel, limit=1)
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        if error == "not_in_channel":
            return ("channel", False, f"the bot is not a member of {channel}, so cards cannot be posted: {invite}")
        if error == "channel_not_found":
            return ("channel", False, f"there is no channel {channel} that the bot can see: check SOCIALDESK_CHANNEL")
        return ("channel", False, f"conversations.history said {error}")
    except OSError as exc:
        return ("channel", False, f"cannot reach Slack: {type(exc).__name__}")
    return ("channel", True, f"{channel}; the bot can read it, so it is a member")


def _spend_rows(settings, networks) -> list[tuple[str, bool, str]]:
    """This month's spend on networks that bill per call, read from the bot's database without creating it."""
    billed = {name: n for name, n in networks.items() if hasattr(n, "monthly_budget")}
    if not billed:
        return []
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
        return [(f"{n.label} spend", True, "nothing recorded yet (no database)") for n in billed.values()]
    db = Database(settings.database_url)
    rows = []
    try:
        with db.session() as session:
            for name, network in billed.items():
                month = spend.this_month(session, name, network.monthly_budget)
                budget = network.monthly_budget
                over = budget > 0 and month.spent >= budget
                limit = f" of the ${budget:,.2f} monthly budget ({month.spent / budget:.0%})" if budget > 0 else " (no budget: [x] monthly_budget = 0)"
                note = "; polling waits until next month" if over else ""
                rows.append((f"{network.label} spend", not over,
                             f"${month.spent:,.2f} this month (UTC){limit}, {month.calls:,} billed calls{note}"))
    except SQLAlchemyError as exc:
        rows = [(f"{n.label} spend", True, f"not readable yet ({type(exc).__name__}; run `socialdesk db upgrade`)") for n in billed.values()]
    finally:
        db.dispose()
    return rows
