"""Block Kit builders for on-call: the page DM, the nudge, the hand-over summary, `/socialdesk oncall`.

Pure functions: no database or Slack calls. People are named in thread notes
rather than mentioned, so a page reaches each person once, as a DM.
"""
from __future__ import annotations

from datetime import datetime

from bot.config import FileConfig
from bot.domain import sla
from bot.domain.oncall import OnCall
from bot.slack.blocks import NETWORK_LABEL, PRIORITY_BADGE, button, context, escape, link, section, slack_date
from bot.slack.ids import Action
from bot.slack.text import one_line, truncate
from storage import models as m


def _what(case: m.Case) -> str:
    root = case.root
    who = f"@{root.author_handle}" if root.author_handle else (root.author_name or "a customer")
    return f"{PRIORITY_BADGE.get(case.priority, case.priority)} {escape(case.category)} on {NETWORK_LABEL.get(case.network, case.network)} from *{one_line(who)}*"


def _excerpt(case: m.Case) -> str:
    text = truncate(case.root.text, 280).strip()
    return "> " + escape(text).replace("\n", "\n> ") if text else "_(no text)_"


def nudge(case: m.Case, now: datetime) -> str:
    """The first, quiet step: a line in the card's thread."""
    return f":alarm_clock: This case is {sla.clock_text(case.due_at, now)} and nobody has picked it up yet. *Claim* it or answer it."


def page(case: m.Case, permalink: str | None, now: datetime, *, escalated_from: str | None = None) -> tuple[str, list[dict]]:
    """The DM to the person on call (or, escalated, to `escalate_to`) with a link to the card and Acknowledge."""
    clock = sla.clock_text(case.due_at, now)
    if escalated_from is not None:
        head = f":rotating_light: *Escalated:* nobody reacted to this case ({escape(escalated_from)} was paged). It is {clock}."
        fallback = f"Escalated: a {case.priority} {case.category} is {clock} and nobody reacted"
    else:
        head = f":pager: *You are on call:* a case is {clock} and nobody has picked it up."
        fallback = f"On call: a {case.priority} {case.category} is {clock} and nobody has picked it up"
    card = link(permalink, "Open the card") if permalink else "The card is in the team channel."
    blocks = [
        section(f"{head}\n{_what(case)}\n{_excerpt(case)}"),
        context(f"{card} · due {slack_date(case.due_at, '{time}')}"),
        {"type": "actions", "elements": [button("Acknowledge", Action.ACKNOWLEDGE, case.id, style="primary")]},
    ]
    return fallback, blocks


def acknowledged(case: m.Case, user_id: str, *, claimed: bool, permalink: str | None = None) -> tuple[str, list[dict]]:
    """What the page DM turns into once acknowledged: no button left to press twice."""
    mine = " The case is yours now." if claimed else ""
    card = f" {link(permalink, 'Open the card')}" if permalink else ""
    text = f":white_check_mark: Acknowledged by <@{user_id}>.{mine} Nobody else will be paged for it."
    return "Acknowledged", [section(f"{text}\n{_what(case)}"), context(card.strip() or "socialdesk")]


def paged_note(name: str, *, escalated: bool) -> str:
    return f":pager: Escalated to {escape(name)}: nobody reacted." if escalated else f":pager: Paged {escape(name)}, who is on call."


def unreachable(name: str, user_id: str, error: str, next_name: str | None) -> str:
    """A warning to the channel: someone in `[oncall]` cannot be reached (left Slack, deactivated)."""
    then = f" Paged {escape(next_name)} instead." if next_name else ""
    return (
        f":warning: Could not page {escape(name)} (`{escape(user_id)}`): Slack says `{escape(error)}`, so they may have left "
        f"the workspace or been deactivated. They were skipped.{then} Update `[oncall]` in socialdesk.toml."
    )


def nobody_reached(case: m.Case, escalated: bool) -> str:
    step = "escalate to" if escalated else "page"
    return f":warning: There was nobody I could {step} for this case. Check `[oncall]` in socialdesk.toml."


def _case_line(case: m.Case, permalink: str | None, now: datetime) -> str:
    clock = sla.clock_text(case.due_at, now) if case.due_at else "no SLA"
    mark = ":red_circle:" if sla.is_overdue(case.due_at, now) else ":white_circle:"
    label = link(permalink, "card") if permalink else ""
    text = escape(truncate(case.root.text, 80).replace("\n", " "))
    return f"{mark} {_what(case)}: {text} · {clock}{' · ' + label if label else ''}"


def handoff_summary(current: OnCall, following: OnCall | None, cases: list[m.Case], total: int, overdue: int, links: dict[int, str], now: datetime) -> tuple[str, list[dict]]:
    """The incoming person's summary: until when, and what is open and overdue."""
    until = f" until {slack_date(current.until)}" if current.until else ""
    after = f" Then <@{following.user}>." if following and following.user and following.user != current.user else ""
    head = f":wave: *You are on call now*{until}.{after}"
    if total:
        numbers = f"*{total}* open case{'s' if total != 1 else ''}, *{overdue}* overdue."
        lines = "\n".join(_case_line(case, links.get(case.id), now) for case in cases)
        more = f"\n…and {total - len(cases)} more in the channel." if total > len(cases) else ""
        body = f"{numbers}\n{lines}{more}"
    else:
        body = "No open cases. :tada:"
    fallback = f"You are on call now: {total} open, {overdue} overdue"
    return fallback, [section(head), section(body)]


def _who(oncall: OnCall) -> str:
    if oncall.user is None:
        return "_nobody_"
    override = oncall.override
    if override is None:
        return f"<@{oncall.user}>"
    if override.created_by != oncall.user:
        return f"<@{oncall.user}> ({override.kind} by <@{override.created_by}>)"
    return f"<@{oncall.user}> ({override.kind})"


def oncall_status(current: OnCall, following: OnCall | None, config: FileConfig, *, note: str = "") -> tuple[str, list[dict]]:
    """The `/socialdesk oncall` answer: now, next, and how the rotation works."""
    oc = config.oncall
    now_line = f"*On call now:* {_who(current)}"
    if current.user:
        now_line += f", since {slack_date(current.since)}, until {slack_date(current.until)}"
    next_line = f"*Next:* {_who(following)} from {slack_date(following.since)}" if following and following.user else "*Next:* _nobody_"
    if oc.members:
        day = f" on {oc.handoff_day.title()}" if oc.rotation == "weekly" else ""
        rotation = f"Rotation: {oc.rotation}, hand-over{day} at {oc.handoff} {oc.timezone}: " + ", ".join(f"<@{u}>" for u in oc.members)
    else:
        rotation = "No rotation: add `[oncall] members` to socialdesk.toml."
    escalation = (
        f"Escalates to {', '.join(f'<@{u}>' for u in oc.escalate_to)} {_duration(oc.escalate_after)} after a page nobody acknowledges."
        if oc.escalate_to
        else "Nobody to escalate to (`[oncall] escalate_to`)."
    )
    quiet = f" Quiet hours {oc.quiet_hours} (only {', '.join(oc.page_in_quiet_hours) or 'nothing'} pages then)." if oc.quiet_hours else ""
    usage = "`/socialdesk oncall override [@someone] [4h]` takes over · `/socialdesk oncall swap [@someone]` hands over"
    parts = ([section(note)] if note else []) + [section(f"{now_line}\n{next_line}"), context(rotation, escalation + quiet), context(usage)]
    who = f"<@{current.user}>" if current.user else "nobody"
    return (note + "\n" if note else "") + f"On call now: {who}", parts


def override_note(actor: str, after: OnCall) -> str:
    if actor == after.user:
        return f":arrows_counterclockwise: <@{actor}> took over on-call until {slack_date(after.until)}."
    return f":arrows_counterclockwise: <@{actor}> put <@{after.user}> on call until {slack_date(after.until)}."


def swap_note(before: OnCall, after: OnCall) -> str:
    return f":arrows_counterclockwise: <@{before.user}> handed on-call to <@{after.user}> until {slack_date(after.until)}."


def _duration(value) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min".replace(" 0 min", "")
