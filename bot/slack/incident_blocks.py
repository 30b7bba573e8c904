"""Block Kit for incidents: the incident message, its thread batches and the on-call page. Pure builders."""
from __future__ import annotations

from bot.domain.incidents import Destination, IncidentView
from bot.domain.states import IncidentStatus
from bot.slack.blocks import NETWORK_LABEL, button, context, link, mrkdwn, plain, quote_block, section, slack_date
from bot.slack.ids import Action, Block, View, incident_ref, merge_ref
from bot.slack.text import escape, truncate
from storage import models as m

SPARK = "▁▂▃▄▅▆▇█"
TREND = {"rising": ":chart_with_upwards_trend: rising", "steady": ":left_right_arrow: steady", "falling": ":chart_with_downwards_trend: falling"}
PLURAL = {"reply": "replies", "post": "posts"}
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
    paging = _paging(v)
    if paging:
        blocks.append(context(paging))
    since = f"Since {slack_date(v.created_at, '{time}')}" if v.created_at else ""
    declared = f" · declared by <@{v.declared_by}>" if v.declared_by else ""
    blocks.append(context(f"{since}{declared} · new posts go in the thread; they get no card of their own"))
    if v.status == IncidentStatus.OPEN:
        blocks.append({"type": "actions", "block_id": f"incident_actions_{v.id}", "elements": [
            {**button("Answer all…", Action.INCIDENT_ANSWER, 0, style="primary"), "value": incident_ref(v.id)},
            {**button("Status update…", Action.INCIDENT_STATUS, 0), "value": incident_ref(v.id)},
            *([{**button("Retry failed", Action.INCIDENT_RETRY, 0), "value": incident_ref(v.id)}] if v.answers.get("failed") else []),
            {**button("Resolve…", Action.INCIDENT_RESOLVE, 0), "value": incident_ref(v.id)},
            {**button("Split…", Action.INCIDENT_SPLIT, 0), "value": incident_ref(v.id)},
            *([_merge_menu(v)] if v.others else []),
        ]})
    return blocks


def _merge_menu(v: IncidentView) -> dict:
    """Pick the open incident this one is the same problem as; its posts move there."""
    return {
        "type": "static_select", "action_id": Action.INCIDENT_MERGE.value, "placeholder": plain("Merge into…"),
        "options": [{"text": plain(truncate(f"#{other} {title}", 75)), "value": merge_ref(v.id, other)} for other, title in v.others],
        "confirm": {"title": plain("Merge this incident?"), "confirm": plain("Merge"), "deny": plain("Cancel"),
                    "text": mrkdwn(f"Incident #{v.id}'s posts move into the one you picked, and #{v.id} closes.")},
    }


def _paging(v: IncidentView) -> str:
    """Who was paged for this incident and whether anyone took it."""
    if not v.paged_user and not v.escalated_to:
        return ""
    parts = [f":pager: Paged <@{v.paged_user}>" if v.paged_user else ":pager: Nobody on call could be reached"]
    if v.escalated_to:
        parts.append(f"escalated to {', '.join(f'<@{u}>' for u in v.escalated_to.split(','))} (nobody acknowledged in time)")
    parts.append(f":white_check_mark: acknowledged by <@{v.acknowledged_by}>" if v.acknowledged_by else "not acknowledged yet")
    return " · ".join(parts)


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


def page(v: IncidentView, permalink: str | None, *, escalated: bool = False, paged: str | None = None) -> tuple[str, list[dict]]:
    """One page for the whole incident, not one per post; Acknowledge stops the escalation."""
    where = link(permalink, "Open the incident") if permalink else "The incident is in the team channel."
    if escalated:
        who = f"<@{paged}> was paged and has not acknowledged." if paged else "Nobody on call could be reached."
        text = f":rotating_light: *Escalated: incident #{v.id}*, {escape(v.title)}: {v.posts} posts from {v.people} people so far. {who}"
    else:
        text = f":pager: *You are on call: incident #{v.id}*, {escape(v.title)}: {v.posts} posts from {v.people} people so far."
    ack = {"type": "actions", "elements": [{**button("Acknowledge", Action.INCIDENT_ACK, 0, style="primary"), "value": incident_ref(v.id)}]}
    return f"On call: incident #{v.id} ({v.posts} posts)", [section(text), context(where), ack]


def acknowledged_page(v: IncidentView, user: str, at, permalink: str | None) -> tuple[str, list[dict]]:
    """The page DM once someone took the incident: who and when, and no button left to press."""
    where = link(permalink, "Open the incident") if permalink else "The incident is in the team channel."
    when = f" {slack_date(at)}" if at else ""
    return (f"Incident #{v.id} acknowledged",
            [section(f":white_check_mark: <@{user}> acknowledged incident #{v.id}, {escape(v.title)},{when}. Nothing to do here."),
             context(where)])


def closed_page(v: IncidentView, permalink: str | None) -> tuple[str, list[dict]]:
    """The page DM of an incident closed before anyone acknowledged it: nothing left to take."""
    where = link(permalink, "Open the incident") if permalink else "The incident is in the team channel."
    if v.status == IncidentStatus.MERGED:
        what = f"was merged into incident #{v.merged_into}"
    else:
        what = "was resolved" + (f" by <@{v.resolved_by}>" if v.resolved_by else "")
    return f"Incident #{v.id} closed", [section(f":white_check_mark: Incident #{v.id}, {escape(v.title)}, {what}. Nothing to do here."), context(where)]


def incident_list(incidents: list[m.Incident], counts: dict[int, int]) -> str:
    if not incidents:
        return "No open incidents. Start one with `/socialdesk incident start <what is wrong>`."
    return "\n".join(f"• *#{i.id}* {escape(i.title)}: {counts.get(i.id, 0)} posts, since {slack_date(i.created_at, '{time}')}" for i in incidents)


def _draft(label: str, draft: str, *, optional: bool = False) -> dict:
    """The text of an incident modal; each pause in typing updates the preview under it."""
    return {"type": "input", "block_id": Block.REPLY.value, "label": plain(label), "optional": optional, "dispatch_action": True,
            "element": {"type": "plain_text_input", "action_id": Action.INCIDENT_DRAFT.value, "multiline": True, "initial_value": draft,
                        "max_length": 2000, "dispatch_action_config": {"trigger_actions_on": ["on_character_entered"]}}}


def _money(dollars: float) -> str:
    return "free" if dollars == 0 else f"${dollars:,.2f}" if dollars >= 1 else f"${dollars:.3f}"


def destination_line(d: Destination, what: str) -> str:
    """"X · 30 replies · $0.300 · 98/280 ✓"; a text too long for the network says so, and nothing is sent."""
    label = NETWORK_LABEL.get(d.network, d.network)
    count = f"{d.writes} {what if d.writes == 1 else PLURAL[what]}"
    size = f"{d.length}/{d.limit}" if d.limit else f"{d.length} characters"
    if d.via_dm:
        posts = f"{d.via_dm} {'post' if d.via_dm == 1 else 'posts'}"
        return (f":envelope: *{label}* · short public reply + DM for {posts} · {_money(d.cost)} · *{size}*: too long to post on {label}, "
                "so each author gets the whole answer by DM and a short public reply saying so, as *Move to DM* does")
    if not d.fits:
        return (f":no_entry: *{label}* · {count} · *{size}*: too long for {label}, and a DM cannot carry it there. "
                "Shorten it: nothing is sent until it fits.")
    return f":white_check_mark: *{label}* · {count} · {_money(d.cost)} · {size}" if d.length else f"*{label}* · {count}"


def preview(destinations: list[Destination], what: str, *, block_id: str = Block.CHECK.value, note: str = "") -> dict:
    """The live preview under an incident text: per network, how many posts, what it costs, whether it fits."""
    lines = [destination_line(d, what) for d in destinations] or [
        "No post is waiting for an answer." if what == "reply" else "No network is connected to post it on."]
    total = sum(d.cost for d in destinations)
    if total:
        lines.append(f"Total: {_money(total)} (X's pay-per-use prices; Facebook is free)")
    if note:
        lines.append(note)
    return {"type": "context", "block_id": block_id, "elements": [mrkdwn(truncate("\n".join(lines), 3000))]}


def answer_modal(v: IncidentView, destinations: list[Destination], already: int, draft: str = "") -> dict:
    """Write one answer for every post of the incident; the modal says who it goes to, what it costs, before it is sent."""
    skipped = f"{already} already answered or dismissed get nothing. " if already else ""
    return {
        "type": "modal",
        "callback_id": View.INCIDENT_ANSWER.value,
        "private_metadata": incident_ref(v.id),
        "title": plain("Answer the incident"),
        "submit": plain("Send to all"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"*Incident #{v.id}:* {escape(v.title)}"),
            _draft("One answer, sent as a reply to each post", draft),
            preview(destinations, "reply", note=f"{skipped}On X each reply starts with the author's @handle; each post is answered once."),
        ],
    }


def reminder(after) -> str:
    minutes = int(after.total_seconds() // 60)
    return (f":alarm_clock: No public status update for {minutes} min while this incident is open. "
            "Customers keep asking: post one with *Status update…*.")


def status_modal(v: IncidentView, destinations: list[Destination], draft: str = "") -> dict:
    """A public post on the brand's own accounts, approved here like a reply."""
    where = " and ".join(NETWORK_LABEL.get(d.network, d.network) for d in destinations) or "no connected network"
    return {
        "type": "modal",
        "callback_id": View.INCIDENT_STATUS.value,
        "private_metadata": incident_ref(v.id),
        "title": plain("Status update"),
        "submit": plain("Post it"),
        "close": plain("Cancel"),
        "blocks": [
            section(f"*Incident #{v.id}:* {escape(v.title)}"),
            _draft("What people should know now", draft),
            preview(destinations, "post", note=f"Posted publicly on the brand's own {where}, once each."),
        ],
    }


def resolve_modal(v: IncidentView, status: list[Destination], answers: list[Destination], already: int, draft: str = "") -> dict:
    """Close the incident with the final word: a public update, and (ticked) the same text as a reply to each post."""
    waiting = sum(d.writes for d in answers)
    blocks = [
        section(f"*Incident #{v.id}:* {escape(v.title)}\nResolving closes it: new posts get cards again."),
        _draft("Final public update (leave empty to close without one)", draft, optional=True),
        preview(status, "post", note="Posted publicly on the brand's own accounts, once each."),
    ]
    if waiting:
        blocks += [
            {"type": "input", "block_id": Block.ALSO_ANSWER.value, "optional": True, "label": plain("Replies"),
             "element": {"type": "checkboxes", "action_id": Block.ALSO_ANSWER.value, "options": [
                 {"text": plain(f"Also send it as a reply to each of the {waiting} posts not answered yet"), "value": "yes"}]}},
            preview(answers, "reply", block_id="answer_check",
                    note=(f"{already} already answered or dismissed get nothing. " if already else "") + "Each post is answered once."),
        ]
    else:
        blocks.append(context("Every post of this incident has been answered already."))
    return {
        "type": "modal",
        "callback_id": View.INCIDENT_RESOLVE.value,
        "private_metadata": incident_ref(v.id),
        "title": plain("Resolve the incident"),
        "submit": plain("Resolve"),
        "close": plain("Cancel"),
        "blocks": blocks,
    }


def split_modal(v: IncidentView) -> dict:
    """Move a group of this incident's posts into a new incident: those that mention a phrase, or come from one network."""
    networks = [{"text": plain(NETWORK_LABEL.get(n, n)), "value": n} for n in v.networks]
    blocks = [
        section(f"*Incident #{v.id}:* {escape(v.title)}\nThe posts you pick become a new incident with its own message and answer."),
        {"type": "input", "block_id": Block.SPLIT_PHRASE.value, "optional": True, "label": plain("Posts that mention"),
         "hint": plain("e.g. login: every post saying it moves"),
         "element": {"type": "plain_text_input", "action_id": Block.SPLIT_PHRASE.value, "max_length": 200}},
    ]
    if len(networks) > 1:
        blocks.append({"type": "input", "block_id": Block.SPLIT_NETWORK.value, "optional": True, "label": plain("...from"),
                       "element": {"type": "static_select", "action_id": Block.SPLIT_NETWORK.value, "placeholder": plain("any network"),
                                   "options": networks}})
    return {
        "type": "modal",
        "callback_id": View.INCIDENT_SPLIT.value,
        "private_metadata": incident_ref(v.id),
        "title": plain("Split the incident"),
        "submit": plain("Split"),
        "close": plain("Cancel"),
        "blocks": blocks,
    }
