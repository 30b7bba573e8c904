"""Managers' reports: the weekly digest, and the work behind `stats` and `export` after the ack.

Slash commands must be acked within 3 seconds, so the handler only checks and
acks; counting, drawing and uploading happen here on the background pool, and
the manager hears back through the command's response_url.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import IntegrityError

from bot import charts
from bot.clock import utcnow
from bot.domain import export, spend, stats
from bot.jobs import Job
from bot.runtime import Runtime
from bot.slack import stats_blocks
from storage import models as m

log = logging.getLogger(__name__)
NOT_THERE = frozenset({"not_in_channel", "channel_not_found"})  # the bot cannot post where it was asked
DIGEST_MARK = "digest_posted"  # a Counter row per digest week makes posting idempotent
NAME_LOOKUPS = 100  # at most this many users.info calls per export


# -- Slack helpers ---------------------------------------------------------------


def user_timezone(client: WebClient, user_id: str) -> tuple[str, str]:
    """The person's Slack timezone, or UTC when Slack does not tell us; and a note saying which."""
    try:
        tz = (client.users_info(user=user_id).get("user") or {}).get("tz")
    except SlackApiError as exc:
        log.info("no timezone for %s (%s); using UTC", user_id, exc.response.get("error"))
        tz = None
    if tz and stats.zone(tz).key == tz:
        return tz, "your Slack timezone"
    return "UTC", "your Slack timezone is unknown"


def display_names(client: WebClient, user_ids: list[str]) -> dict[str, str]:
    """Readable names for a spreadsheet; ids we cannot look up stay ids."""
    names = {}
    for user_id in user_ids[:NAME_LOOKUPS]:
        try:
            user = client.users_info(user=user_id)["user"]
        except SlackApiError:
            continue
        profile = user.get("profile") or {}
        names[user_id] = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name") or user_id
    return names


def share_file(client: WebClient, *, channel: str, user_id: str, content: bytes, filename: str, title: str,
               comment: str, alt_txt: str | None = None) -> tuple[str, bool]:
    """Upload with files_upload_v2 to `channel`, or to the person's DM when the bot is not in it.

    Returns the channel used and whether it had to fall back to the DM.
    """
    upload = dict(content=content, filename=filename, title=title, initial_comment=comment)
    if alt_txt:
        upload["alt_txt"] = alt_txt[:1000]
    try:
        client.files_upload_v2(channel=channel, **upload)
        return channel, False
    except SlackApiError as exc:
        if exc.response.get("error") not in NOT_THERE:
            raise
        log.info("cannot upload to %s (%s); sending to %s's DM", channel, exc.response.get("error"), user_id)
    dm = client.conversations_open(users=user_id)["channel"]["id"]
    client.files_upload_v2(channel=dm, **upload)
    return dm, True


def _sla_lines(rt: Runtime, report: stats.Report) -> dict[str, float]:
    networks = set(report.current.by_network) or set(rt.networks)
    return {network: rt.config.sla.for_network(network).total_seconds() for network in networks}


def _respond(response_url: str, **message) -> None:
    response = WebhookClient(response_url, timeout=10).send(response_type="ephemeral", **message)
    if response.status_code != 200:
        log.warning("response_url answered %s", response.status_code)


def report_failure(response_url: str, ref: str) -> None:
    """Tell the manager their numbers did not come, with the reference the log has (Runtime.submit's on_failure)."""
    _respond(response_url, text=stats_blocks.failure(ref))


# -- /socialdesk stats and export -----------------------------------------------


def send_stats(rt: Runtime, *, user_id: str, channel_id: str, response_url: str, period_key: str) -> None:
    """Numbers to the manager (ephemeral), then the chart into the channel the command came from."""
    tz, note = user_timezone(rt.slack, user_id)
    now = utcnow()
    period = stats.period_ending_now(period_key, now, tz)
    with rt.db.session() as session:
        report = stats.report(session, period, now=now)
        spends = [spend.this_month(session, name, network.monthly_budget, now)
                  for name, network in rt.networks.items() if hasattr(network, "monthly_budget")]
    _respond(response_url, text=stats_blocks.stats_fallback(report),
             blocks=stats_blocks.stats_message(report, tz_note=note, spends=spends))
    png = charts.render(report, sla=_sla_lines(rt, report))
    _, moved = share_file(
        rt.slack, channel=channel_id, user_id=user_id, content=png,
        filename=f"socialdesk-{period_key}-{period.local(now):%Y-%m-%d}.png",
        title=f"socialdesk · {period.label} ({tz})",
        comment=f"Cases opened and time to first response, {period.label} (times in {tz}), for <@{user_id}>.",
        alt_txt=charts.alt_text(report),
    )
    if moved:
        _respond(response_url, text=stats_blocks.delivered_elsewhere("chart", channel_id))


def send_export(rt: Runtime, *, user_id: str, channel_id: str, response_url: str, period_key: str) -> None:
    """A CSV of the period's cases, uploaded where the command came from."""
    tz, _ = user_timezone(rt.slack, user_id)
    now = utcnow()
    period = stats.period_ending_now(period_key, now, tz)
    with rt.db.session() as session:
        agents = export.agents(session, period)
    names = display_names(rt.slack, agents)
    with rt.db.session() as session:
        content, count = export.to_csv(session, period, now=now, names=names)
    _, moved = share_file(
        rt.slack, channel=channel_id, user_id=user_id, content=content,
        filename=f"socialdesk-cases-{period_key}-{period.local(now):%Y-%m-%d}.csv",
        title=f"socialdesk cases · {period.label}",
        comment=f"{count} cases opened {period.label}, one row each (times in {tz}), exported by <@{user_id}>.",
    )
    text = f":white_check_mark: Exported {count} cases opened {period.label} (times in {tz})."
    if moved:
        text = stats_blocks.delivered_elsewhere("CSV", channel_id)
    _respond(response_url, text=text)


# -- App Home --------------------------------------------------------------------


def home_reports(rt: Runtime, client: WebClient, user_id: str) -> tuple[stats.Report, stats.Report, str]:
    """Today and the last 7 days in the manager's timezone, for the App Home panel."""
    tz, note = user_timezone(client, user_id)
    now = utcnow()
    with rt.db.session() as session:
        today = stats.report(session, stats.period_ending_now("today", now, tz), now=now, chart=False, topic_limit=0)
        week = stats.report(session, stats.period_ending_now("7d", now, tz), now=now, chart=False, topic_limit=0)
    return today, week, note


# -- the weekly digest -----------------------------------------------------------


def _claim_week(rt: Runtime, period: stats.Period) -> bool:
    """Mark this week's digest as posted; False if someone already did (a re-run, a second scheduler)."""
    try:
        with rt.db.session() as session:
            session.add(m.Counter(day=period.local(period.start).date().isoformat(), name=DIGEST_MARK, value=1))
        return True
    except IntegrityError:
        return False


def _release_week(rt: Runtime, period: stats.Period) -> None:
    with rt.db.session() as session:
        mark = session.get(m.Counter, (period.local(period.start).date().isoformat(), DIGEST_MARK))
        if mark is not None:
            session.delete(mark)


def post_digest(rt: Runtime, now: datetime | None = None) -> bool:
    """Post last week's numbers, top complaint topics and slowest open cases to the managers' channel, once."""
    config = rt.config.digest
    if not config.channel:
        return False
    now = now or utcnow()
    period = stats.last_full_days(7, now, config.timezone)
    if not _claim_week(rt, period):
        log.info("digest for %s already posted", period.label)
        return False
    try:
        with rt.db.session() as session:
            report = stats.report(session, period, now=now, topic_limit=config.topics, slowest_limit=config.slowest)
        posted = rt.slack.chat_postMessage(
            channel=config.channel, text=stats_blocks.digest_fallback(report), blocks=stats_blocks.digest_message(report),
            unfurl_links=False, unfurl_media=False,
        )
    except Exception as exc:
        _release_week(rt, period)  # nothing went out, so the next run may try again
        if isinstance(exc, SlackApiError) and exc.response.get("error") in NOT_THERE:
            log.error("weekly digest not posted: the bot is not in channel %s (invite it, or fix [digest] channel)", config.channel)
            return False
        raise
    try:
        rt.slack.files_upload_v2(
            channel=config.channel, thread_ts=posted["ts"], content=charts.render(report, sla=_sla_lines(rt, report)),
            filename=f"socialdesk-week-{period.local(period.start):%Y-%m-%d}.png", title=f"socialdesk · {period.label}",
            alt_txt=charts.alt_text(report)[:1000],
        )
    except Exception:  # noqa: BLE001 - the digest itself is out; a missing chart must not repost it
        log.exception("digest chart not uploaded")
    return True


def digest_jobs(rt: Runtime) -> list:
    """The weekly digest on the `[digest]` schedule; none when no channel is configured."""

    config = rt.config.digest
    if not config.channel:
        return []
    hour, minute = config.hour_minute
    trigger = {"day_of_week": config.day, "hour": hour, "minute": minute, "timezone": config.timezone}
    return [Job("digest", lambda: post_digest(rt), "cron", trigger)]
