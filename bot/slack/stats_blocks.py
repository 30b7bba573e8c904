"""Block Kit for managers' numbers: stats, the weekly digest and the App Home panel.

Pure builders over `bot.domain.stats.Report`. Layout is short sections and
two-column fields, which Slack stacks cleanly on a phone. Times are written in the
report's timezone and the output says which one.
"""
from __future__ import annotations

from datetime import datetime

from bot.domain.spend import MonthSpend
from bot.domain.states import CaseStatus
from bot.domain.stats import Report, SlowCase, Totals
from bot.slack.blocks import NETWORK_EMOJI, NETWORK_LABEL, PRIORITY_BADGE, context, escape, link, mrkdwn, plain, section
from bot.slack.text import one_line, truncate

AGENT_LINES = 15
WAITING_ON = {CaseStatus.PENDING_APPROVAL: " · held for an approver", CaseStatus.FAILED: " · :warning: reply failed", CaseStatus.REPLYING: " · sending now"}
COHORT_NOTE = "Counts cover cases opened in the period. The SLA share counts answered cases, and open cases already past due as missed."


def duration(seconds: float | None) -> str:
    """14 min, 2 h 5 min, 3 d 4 h: precise enough to act on, short enough for a phone."""
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 86400:
        hours, minutes = divmod(round(seconds / 60), 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def count_change(current: int, previous: int) -> str:
    if current == previous:
        return "same as before" if current else ""
    if previous == 0:
        return "↑ from 0"
    change = (current - previous) / previous * 100
    return f"{'↑' if change > 0 else '↓'} {abs(change):.0f}% (was {previous})"


def duration_change(current: float | None, previous: float | None) -> str:
    if current is None or previous is None:
        return "" if current is None else "no answers before"
    diff = current - previous
    if abs(diff) < 1:
        return "same as before"
    return f"{'↑' if diff > 0 else '↓'} {duration(abs(diff))} (was {duration(previous)})"


def share_change(current: float | None, previous: float | None) -> str:
    if current is None or previous is None:
        return ""
    points = (current - previous) * 100
    if abs(points) < 0.5:
        return "same as before"
    return f"{'↑' if points > 0 else '↓'} {abs(points):.0f} pts (was {percent(previous)})"


def _field(title: str, value: str, change: str = "") -> dict:
    return mrkdwn(f"*{title}*\n{value}" + (f"\n_{change}_" if change else ""))


def _span(report: Report) -> str:
    period = report.period
    first, last = period.local(period.start), period.local(period.end)
    return f"{first:%a %-d %b %H:%M} – {last:%a %-d %b %H:%M}"


def _breakdown(counts: dict[str, int], labels: dict[str, str] | None = None) -> str:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return " · ".join(f"{escape((labels or {}).get(k, k))} *{v}*" for k, v in ordered) or "—"


def headline_fields(current: Totals, previous: Totals) -> list[dict]:
    """The four numbers a manager looks at first, each with its change."""
    decided = current.sla_met + current.sla_missed
    return [
        _field("Cases opened", str(current.opened), count_change(current.opened, previous.opened)),
        _field("Answered within SLA", f"{percent(current.sla_share)}" + (f" · {current.sla_met} of {decided}" if decided else ""),
               share_change(current.sla_share, previous.sla_share)),
        _field("First response · median", duration(current.response.median), duration_change(current.response.median, previous.response.median)),
        _field("First response · 90th pct", duration(current.response.p90), duration_change(current.response.p90, previous.response.p90)),
    ]


def _outcome_fields(current: Totals, previous: Totals) -> list[dict]:
    return [
        _field("Answered", str(current.answered), count_change(current.answered, previous.answered)),
        _field("Dismissed", str(current.dismissed), count_change(current.dismissed, previous.dismissed)),
        _field("Moved to DM", str(current.moved_to_dm), count_change(current.moved_to_dm, previous.moved_to_dm)),
        _field("Still open", str(current.unresolved)),
    ]


def _backlog_block(report: Report) -> dict:
    backlog = report.backlog
    if not backlog.total:
        return section("*Open backlog now:* none :tada:")
    ages = " · ".join(f"{label} *{n}*" for label, n in backlog.by_age if n)
    overdue = f" · {backlog.overdue} past their SLA" if backlog.overdue else ""
    oldest = f"\nOldest waiting {duration((report.now - backlog.oldest).total_seconds())}" if backlog.oldest else ""
    return section(f"*Open backlog now: {backlog.total}*{overdue}\n{ages}{oldest}")


def _agents_block(report: Report) -> dict:
    if not report.agents:
        return section("*Agents*\n_Nobody answered a case opened in this period._")
    lines = [f"<@{a.agent}> · {a.answered} answered · median {duration(a.median)}" for a in report.agents[:AGENT_LINES]]
    more = len(report.agents) - AGENT_LINES
    if more > 0:
        lines.append(f"_and {more} more_")
    return section("*Agents* (cases answered · median first response)\n" + "\n".join(lines))


def number_blocks(report: Report) -> list[dict]:
    """The full set of numbers, shared by `/socialdesk stats` and the digest."""
    current, previous = report.current, report.previous
    blocks: list[dict] = [{"type": "section", "fields": headline_fields(current, previous)}]
    if current.opened:
        blocks.append({"type": "section", "fields": _outcome_fields(current, previous)})
        blocks.append(section(f"*By network* {_breakdown(current.by_network, NETWORK_LABEL)}\n*By category* {_breakdown(current.by_category)}"))
    else:
        blocks.append(section("_No cases were opened in this period._"))
    if report.incidents and (report.incidents.opened or report.incidents.open_now):
        blocks.append(section(incident_line(report.incidents)))
    blocks.append({"type": "divider"})
    blocks.append(_backlog_block(report))
    blocks.append(_agents_block(report))
    return blocks


def incident_line(n) -> str:
    """Incidents: how many, how big, how long, how soon answered (one answer for all their posts)."""
    parts = [f"*{n.opened}* opened, *{n.posts}* posts in them"]
    if n.median_duration is not None:
        parts.append(f"median duration {duration(n.median_duration)}")
    if n.median_to_status is not None:
        parts.append(f"median time to the first status update {duration(n.median_to_status)}")
    if n.median_to_answer is not None:
        parts.append(f"median time to the answer for all {duration(n.median_to_answer)}")
    if n.open_now:
        parts.append(f"{n.open_now} open now")
    return ":rotating_light: *Incidents* " + " · ".join(parts)


def spend_line(spends: list[MonthSpend]) -> str:
    """ "API spend this month: X $12.34 of $100.00 (12%)" for the networks that bill per call."""
    parts = []
    for item in spends:
        label = NETWORK_LABEL.get(item.network, item.network)
        budget = f" of ${item.budget:,.2f} ({percent(item.share)})" if item.share is not None else " (no budget set)"
        parts.append(f"{escape(label)} *${item.spent:,.2f}*{budget}, {item.calls:,} billed calls")
    return ":moneybag: *API spend this month (UTC)* " + " · ".join(parts) if parts else ""


def stats_message(report: Report, *, tz_note: str, spends: list[MonthSpend] = ()) -> list[dict]:
    """`/socialdesk stats`: `tz_note` says where the timezone came from, e.g. "your Slack timezone"."""
    period = report.period
    line = spend_line(list(spends))
    return [
        {"type": "header", "text": plain(f"Team numbers · {period.label}")},
        context(f"{_span(report)} · times in *{escape(period.tz)}* ({escape(tz_note)}) · changes compare with {period.previous_label}"),
        *number_blocks(report),
        *([context(line)] if line else []),
        context(COHORT_NOTE),
    ]


def stats_fallback(report: Report) -> str:
    current = report.current
    return (f"Team numbers, {report.period.label}: {current.opened} cases opened, {percent(current.sla_share)} answered within SLA, "
            f"median first response {duration(current.response.median)}.")


def _slow_line(case: SlowCase, now: datetime) -> str:
    label = NETWORK_LABEL.get(case.network, case.network)
    who = f"@{one_line(case.author_handle)}" if case.author_handle else "a customer"
    text = escape(truncate(" ".join(case.text.split()), 90)) if case.text.strip() else "_(no text)_"
    late = " · :warning: past SLA" if case.due_at and case.due_at < now else ""
    claimed = f" · <@{case.claimed_by}> is on it" if case.claimed_by else ""
    claimed += WAITING_ON.get(case.status, "")
    opened = link(case.url, "open") if case.url else ""
    return (f"• {NETWORK_EMOJI.get(case.network, ':speech_balloon:')} {escape(label)} · {PRIORITY_BADGE.get(case.priority, escape(case.priority))} · "
            f"waiting *{duration((now - case.created_at).total_seconds())}*{late}{claimed}\n   {who}: {text} {opened}").rstrip()


def digest_message(report: Report) -> list[dict]:
    """The weekly digest: the same numbers, the top complaint topics, and the cases waiting longest."""
    period = report.period
    blocks = [
        {"type": "header", "text": plain(f"Weekly digest · {period.label}")},
        context(f"Whole days in *{escape(period.tz)}* · changes compare with the week before"),
        *number_blocks(report),
    ]
    if report.topics:
        lines = [f"{i}. {escape(topic)} · *{n}*" for i, (topic, n) in enumerate(report.topics, start=1)]
        blocks.append(section("*Top complaint topics*\n" + "\n".join(lines)))
    else:
        blocks.append(section("*Top complaint topics*\n_No complaints this week._"))
    if report.slowest:
        blocks.append(section("*Slowest open cases*\n" + "\n".join(_slow_line(c, report.now) for c in report.slowest)))
    blocks.append(context(COHORT_NOTE + " Backlog and open cases are as of " + f"{period.local(report.now):%a %-d %b %H:%M}."))
    return blocks


def digest_fallback(report: Report) -> str:
    return "Weekly digest: " + stats_fallback(report).removeprefix("Team numbers, ")


def home_numbers(today: Report, week: Report, tz_note: str) -> list[dict]:
    """App Home panel for managers: today and the last 7 days, headline numbers only."""
    def panel(title: str, report: Report) -> dict:
        return {"type": "section", "text": mrkdwn(f"*{title}*"), "fields": headline_fields(report.current, report.previous)}

    backlog = today.backlog
    overdue = f" ({backlog.overdue} past their SLA)" if backlog.overdue else ""
    return [
        {"type": "divider"},
        {"type": "header", "text": plain("Team numbers")},
        panel("Today so far", today),
        panel("Last 7 days", week),
        context(f"Open backlog now: *{backlog.total}*{overdue} · times in {escape(today.period.tz)} ({escape(tz_note)}) · "
                f"changes compare with {today.period.previous_label} and {week.period.previous_label} · "
                "`/socialdesk stats 7d` for the full picture"),
    ]


def refusal(user_id: str, *, managers_configured: bool) -> str:
    """Why a non-manager gets no numbers, and how an admin changes that."""
    if not managers_configured:
        return (":lock: Team numbers are for managers, and nobody is a manager yet. "
                f"An admin can add Slack user ids (yours is `{escape(user_id)}`) to `managers` under `[roles]` in socialdesk.toml.")
    return (":lock: Team numbers are for managers only. "
            f"If you need them, ask an admin to add your Slack user id (`{escape(user_id)}`) to `[roles] managers` in socialdesk.toml.")


def delivered_elsewhere(what: str, channel_id: str) -> str:
    return (f":information_source: I'm not in <#{channel_id}>, so I sent the {what} to you in a direct message instead. "
            "Invite me to the channel (`/invite @socialdesk`) to share it there.")


def failure(ref: str) -> str:
    return f":warning: Something went wrong while counting (ref `{ref}`). Nothing was posted."
