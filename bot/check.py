"""`socialdesk check`: say, per service, whether the configuration works and what to fix."""
from __future__ import annotations

from datetime import timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table
from slack_sdk.errors import SlackApiError

from bot.clock import utcnow
from bot.config import ConfigError, load_file_config, load_settings, secret
from bot.domain import oncall
from bot.networks import build_networks
from bot.networks.base import AuthFailed, NetworkError
from bot.runtime import slack_client

FIXES = {
    "invalid_auth": "SLACK_BOT_TOKEN is wrong or revoked: copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page",
    "not_authed": "SLACK_BOT_TOKEN is empty",
    "account_inactive": "the token belongs to a deleted user or an uninstalled app: reinstall the app",
    "token_revoked": "the token was revoked: reinstall the app and copy the new token",
}

RECONNECT = {
    "facebook": (
        "\nHow to fix: Page tokens stop working when they expire, when the person who made them changes their password "
        "or leaves the Page, or when the app loses a permission. Make a new one: in the Graph API Explorer (or your "
        "app's login flow) get a user token for the app with pages_show_list, pages_read_engagement, "
        "pages_read_user_content, pages_manage_engagement and pages_messaging; exchange it for a long-lived token "
        "(GET /oauth/access_token?grant_type=fb_exchange_token); then GET /me/accounts and copy the Page's "
        "access_token into FACEBOOK_PAGE_ACCESS_TOKEN (a Page token made from a long-lived user token does not "
        "expire; a System User token from Business Settings survives people leaving). Restart socialdesk."
    ),
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
        rows.append(("socialdesk.toml", True, f"{found}; SLA X {_short(config.sla.x)}, Facebook {_short(config.sla.facebook)}"))
    except ConfigError as exc:
        rows.append(("socialdesk.toml", False, str(exc)))
    rows.append(_check_slack(settings))
    if config is not None and config.oncall.members:
        shift = oncall.rotation_shift(config.oncall, utcnow())
        rows.append(("on-call", True, f"{len(config.oncall.members)} people, {config.oncall.rotation} hand-over at {config.oncall.handoff} "
                                      f"{config.oncall.timezone}; by the rotation now: {shift.user} (overrides: /socialdesk oncall)"))
    rows.append(_check_triage())
    rows.append(("channel", bool(settings.socialdesk_channel), settings.socialdesk_channel or "SOCIALDESK_CHANNEL is not set: the id of the channel for cards (e.g. C0123456789)"))
    networks = build_networks(settings)
    for name, network in networks.items():
        try:
            rows.append((network.label, True, "connected as " + network.check()))
        except NetworkError as exc:
            fix = RECONNECT.get(name, "") if isinstance(exc, AuthFailed) else ""
            rows.append((network.label, False, exc.message + fix))
    if settings.facebook_page_id and not settings.facebook_enabled:
        rows.append(("Facebook", False, "FACEBOOK_PAGE_ID is set but FACEBOOK_PAGE_ACCESS_TOKEN is not: Facebook is off"))
    if not networks:
        rows.append(("networks", False, "no network configured: set the X_* variables (and/or FACEBOOK_*), see README"))
    table = Table(title="socialdesk check")
    for column in ("what", "ok", "details / what to fix"):
        table.add_column(column)
    for what, ok, detail in rows:
        table.add_row(what, "[green]yes[/green]" if ok else "[red]no[/red]", detail)
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


def _check_slack(settings) -> tuple[str, bool, str]:
    if not secret(settings.slack_bot_token):
        return ("Slack", False, "SLACK_BOT_TOKEN is not set (Bot User OAuth Token, xoxb-...)")
    if not secret(settings.slack_signing_secret) and not secret(settings.slack_app_token):
        return ("Slack", False, "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)")
    try:
        auth = slack_client(settings).auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "error")
        return ("Slack", False, f"auth.test said {error}: {FIXES.get(error, 'check SLACK_BOT_TOKEN')}")
    except OSError as exc:
        return ("Slack", False, f"cannot reach {settings.slack_api_url}: {type(exc).__name__}")
    mode = "Socket Mode" if secret(settings.slack_app_token) else "HTTP mode"
    return ("Slack", True, f"bot {auth.get('user')} in {auth.get('team')} ({mode})")
