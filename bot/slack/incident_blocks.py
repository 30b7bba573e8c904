"""Block Kit for incidents: the incident message, its thread batches and the on-call page. Pure builders."""
from __future__ import annotations

from bot.domain.incidents import IncidentView
from bot.domain.states import IncidentStatus
from bot.slack.blocks import NETWORK_LABEL, button, context, link, plain, quote_block, section, slack_date
from bot.slack.ids import INPUT, Action, Block, View, incident_ref
from bot.slack.text import escape, truncate
from storage import models as m

SPARK = "▁▂▃▄▅▆▇█"
TREND = {"rising": ":chart_with_upwards_trend: rising", "steady": ":left_right_arrow: steady", "falling": ":chart_with_downwards_trend: falling"}
BATCH_LISTED = 10  # posts shown one by one in a thread batch; the rest are counted


def sparkline(values: list[int]) -> str:
    """The rate as a row of bars: readable on a phone, no image to upload or refresh."""
    top = max(values) if values else 0
    if not top:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)


def _networks(counts: dict[str, int]) -> str:
    return " · ".join(f"{NETWORK_LABEL.get(n, n)} {c}" for n, c in counts.items()) or "no posts yet"


def incident_fallback(v: IncidentView) -> str:
    return f"Incident #{v.id}: {v.title} ({v.posts} posts from {v.people} people)"


def incident_message(v: IncidentView) -> list[dict]:
    """The one message the channel gets for an incident, edited in place as it grows."""
    if v.status == IncidentStatus.MERGED:
        return [section(f":twisted_rightwards_arrows: *Incident #{v.id} merged into #{v.merged_into}:* {escape(v.title)}")]
    head = f":rotating_light: *Incident #{v.id}*" if v.status == IncidentStatus.OPEN else f":white_check_mark: *Incident #{v.id} resolved*"
    who = f" by <@{v.resolved_by}>" if v.status == IncidentStatus.RESOLVED and v.resolved_by else ""
    phrases = ", ".join(f"“{escape(p)}”" for p in v.phrases) or escape(v.title)
    minutes = int(v.bucket.total_seconds() // 60)
    per_hour = sum(v.per_bucket[-2:]) * 60 // max(1, 2 * minutes)
    blocks = [
        section(f"{head}{who}: {escape(v.title)}\nPeople say: {phrases}"),
        section(
            f"*{v.posts}* posts from *{v.people}* people · {_networks(v.networks)}\n"
            f"`{sparkline(v.per_bucket)}` {per_hour}/h now, {TREND[v.trend]} (last {minutes * len(v.per_bucket)} min, {minutes}-min bars)"
        ),
    ]
    for s in v.samples:
        label = NETWORK_LABEL.get(s.network, s.network)
        blocks.append(context(f"{label} · @{escape(s.handle) or 'someone'} · {link(s.url, 'open')}" if s.url else f"{label} · @{escape(s.handle)}"))
        blocks.append(section(quote_block(truncate(s.text, 280))))
    if v.answers and any(v.answers.values()):
        a = v.answers
        failed = f" · :warning: {a['failed']} failed" if a["failed"] else ""
        blocks.append(section(f":outbox_tray: Answer: *{a['sent']}* sent · {a['queued']} queued{failed} · {v.waiting} not answered yet"))
    if v.statuses:
        links = " · ".join(link(s.url, NETWORK_LABEL.get(s.network, s.network)) if s.url else NETWORK_LABEL.get(s.network, s.network)
                           for s in v.statuses)
        blocks.append(context(f":mega: Last public update {slack_date(v.statuses[0].sent_at, '{time}')}: {links}"))
    elif v.status == IncidentStatus.OPEN:
        blocks.append(context(":mega: No public status update yet: customers are waiting to hear from you."))
    since = f"Since {slack_date(v.created_at, '{time}')}" if v.created_at else ""
    declared = f" · declared by <@{v.declared_by}>" if v.declared_by else ""
    blocks.append(context(f"{since}{declared} · new posts go in the thread; they get no card of their own"))
    if v.status == IncidentStatus.OPEN:
        blocks.append({"type": "actions", "block_id": f"incident_actions_{v.id}", "elements": [
            {**button("Answer all…", Action.INCIDENT_ANSWER, 0, style="primary"), "value": incident_ref(v.id)},
            {**button("Status update…", Action.INCIDENT_STATUS, 0), "value": incident_ref(v.id)},
            *([{**button("Retry failed", Action.INCIDENT_RETRY, 0), "value": incident_ref(v.id)}] if v.answers.get("failed") else []),
            {**button("Resolve", Action.INCIDENT_RESOLVE, 0), "value": incident_ref(v.id)},
        ]})
    return blocks


def batch_fallback(total: int) -> str:
    return f"{total} more posts joined the incident"


def batch(posts: list[m.Post], more: int) -> list[dict]:
    """New posts in the incident's thread: the most visible ones with a way out, the rest counted."""
    blocks = [section(f"*{len(posts) + more} new posts* joined this incident" + (f"; the {len(posts)} with the widest reach:" if more else ":"))]
    for post in posts[:BATCH_LISTED]:
        label = NETWORK_LABEL.get(post.network, post.network)
        where = f" · {link(post.url, 'open')}" if post.url else ""
        blocks.append({
            "type": "section",
            "text": {"type": "mrkdwn", "verbatim": True,
                     "text": truncate(f"{label} · *@{escape(post.author_handle) or 'someone'}*{where}\n{quote_block(truncate(post.text, 280))}", 3000)},
            "accessory": button("Own card", Action.INCIDENT_MOVE_OUT, post.case_id),
        })
    if more:
        blocks.append(context(f"…and {more} more, counted in the incident. `/socialdesk incident split` moves a group of them out."))
    return blocks


def page(v: IncidentView, permalink: str | None) -> tuple[str, list[dict]]:
    """One page for the whole incident, not one per post."""
    where = link(permalink, "Open the incident") if permalink else "The incident is in the team channel."
    text = f":pager: *You are on call: incident #{v.id}*, {escape(v.title)}: {v.posts} posts from {v.people} people so far."
    return f"On call: incident #{v.id} ({v.posts} posts)", [section(text), context(where)]


def incident_list(incidents: list[m.Incident], counts: dict[int, int]) -> str:
    if not incidents:
        return "No open incidents. Start one with `/socialdesk incident start <what is wrong>`."
    return "\n".join(f"• *#{i.id}* {escape(i.title)}: {counts.get(i.id, 0)} posts, since {slack_date(i.created_at, '{time}')}" for i in incidents)


def answer_modal(v: IncidentView, plan_line: str, draft: str = "") -> dict:
    """Write one answer for every post of the incident; the modal says who it goes to before it is sent."""
    return {
        "type": "modal",
        "callback_id": View.INCIDENT_ANSWER.value,
        "private_metadata": incident_ref(v.id),
        "title": plain("Answer the incident"),
        "submit": plain("Send to all"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"*Incident #{v.id}:* {escape(v.title)}"),
            {"type": "input", "block_id": Block.REPLY.value, "label": plain("One answer, sent as a reply to each post"),
             "element": {"type": "plain_text_input", "action_id": INPUT, "multiline": True, "initial_value": draft, "max_length": 2000}},
            context(plan_line),
        ],
    }


def plan_line(per_network: dict[str, int], already: int) -> str:
    """"Goes to 412 posts: X 330 · Facebook 82 (5 already answered get nothing)"."""
    total = sum(per_network.values())
    where = " · ".join(f"{NETWORK_LABEL.get(n, n)} {c}" for n, c in per_network.items())
    skipped = f" ({already} already answered or dismissed get nothing)" if already else ""
    return f"Goes to *{total}* posts: {where or 'none yet'}{skipped}. X counts 280 weighted characters; each post is answered once."


def reminder(after) -> str:
    minutes = int(after.total_seconds() // 60)
    return (f":alarm_clock: No public status update for {minutes} min while this incident is open. "
            "Customers keep asking: post one with *Status update…*.")


def status_modal(v: IncidentView, networks: list[str]) -> dict:
    where = " and ".join(NETWORK_LABEL.get(n, n) for n in networks) or "no connected network"
    return {
        "type": "modal",
        "callback_id": View.INCIDENT_STATUS.value,
        "private_metadata": incident_ref(v.id),
        "title": plain("Status update"),
        "submit": plain("Post it"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"*Incident #{v.id}:* {escape(v.title)}"),
            {"type": "input", "block_id": Block.REPLY.value, "label": plain("What people should know now"),
             "element": {"type": "plain_text_input", "action_id": INPUT, "multiline": True, "max_length": 2000}},
            context(f"Posted publicly on the brand's own {where}, once each. X counts 280 weighted characters."),
        ],
    }
