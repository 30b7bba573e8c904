"""Block Kit builders: pure functions from domain objects to blocks.

No database or Slack calls here. Customer-written text always goes through
`escape()` and into `verbatim` mrkdwn, so it can never mention or link.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from bot.clock import utcnow
from bot.domain import sla
from bot.domain.states import CaseStatus, ReplyStatus, OPEN_STATUSES, WAITING_STATUSES
from bot.networks import ByNetwork, info
from bot.slack.ids import ANYWAY, INPUT, Action, Block, View, case_ref
from bot.slack.text import compact_number, escape, one_line, truncate  # noqa: F401 - escape is re-exported
from storage import models as m

NETWORK_LABEL = ByNetwork("label")
NETWORK_EMOJI = ByNetwork("emoji")
PRIORITY_BADGE = {"urgent": ":rotating_light: *URGENT*", "high": ":small_red_triangle: high", "normal": "normal", "low": "low"}
TEXT_LIMIT = 2900  # a text object holds 3000 characters
from bot.domain.outbox import DM_PUBLIC_DEFAULT  # noqa: E402,F401 - the public half of Move to DM, shown in its modal
DISMISS_REASONS = {"not_a_complaint": "Not a complaint", "spam": "Spam", "handled": "Already handled"}
REFILE_AS = {"complaint": "Re-file as complaint", "question": "Re-file as question", "praise": "Re-file as praise"}


def mrkdwn(text: str, *, verbatim: bool = True) -> dict:
    return {"type": "mrkdwn", "text": text, "verbatim": verbatim}


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": truncate(text, 150) or " ", "emoji": True}


def section(text: str) -> dict:
    return {"type": "section", "text": mrkdwn(truncate(text, 3000))}


def context(*parts: str) -> dict:
    return {"type": "context", "elements": [mrkdwn(truncate(p, 3000)) for p in parts if p]}


def link(url: str, label: str) -> str:
    """A link we build ourselves; the URL is percent-quoted so it cannot break out of <...|...>."""
    if not url:
        return escape(label)
    return f"<{quote(url, safe=':/?=&#%@+,;~')}|{escape(label)}>"


def slack_date(when: datetime | None, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Rendered by Slack in each reader's own timezone."""
    if when is None:
        return ""
    return f"<!date^{int(when.timestamp())}^{fmt}|{when:%Y-%m-%d %H:%M} UTC>"


def button(text: str, action: Action, case_id: int, *, style: str | None = None) -> dict:
    element = {"type": "button", "text": plain(text), "action_id": action.value, "value": case_ref(case_id)}
    if style:
        element["style"] = style
    return element


def quote_block(text: str) -> str:
    if not text.strip():
        return "_(no text)_"
    return "\n".join("> " + line for line in escape(truncate(text, TEXT_LIMIT)).splitlines() or [""])


def author_line(post: m.Post) -> str:
    name = one_line(post.author_name) or "Someone"
    handle = f" @{one_line(post.author_handle)}" if post.author_handle else ""
    followers = f" · {compact_number(post.author_followers)} followers" if post.author_followers else ""
    return f"*{name}*{handle}{followers}"


def status_line(case: m.Case) -> str:
    sent = [r for r in case.replies if r.status == ReplyStatus.SENT]
    if case.status == CaseStatus.ANSWERED:
        links = " · ".join(link(r.url, "view reply" if r.kind == "public" else "DM sent") for r in sent if r.url or r.kind == "private")
        when = slack_date(sent[-1].sent_at) if sent else ""
        extra = f"\n:warning: {escape(case.last_error)}" if case.last_error else ""
        return f":white_check_mark: Replied by <@{case.answered_by}> {when}{' · ' + links if links else ''}{extra}"
    if case.status == CaseStatus.REPLYING:
        return ":hourglass_flowing_sand: Sending the reply…"
    if case.status == CaseStatus.PENDING_APPROVAL:
        held = [r for r in case.replies if r.status == ReplyStatus.AWAITING]
        who = f" drafted by <@{held[0].requested_by}>" if held else ""
        return f":raised_hand: Waiting for an approver{who}"
    if case.status == CaseStatus.FAILED:
        unsure = [r for r in case.replies if r.uncertain and r.status == ReplyStatus.FAILED]
        if unsure:
            # Never "nothing went out" when the bot does not know: say what it checked.
            checked = escape(unsure[-1].checked or "socialdesk has not looked on the network yet")
            return (f":grey_question: *May have been sent:* {escape(unsure[-1].error or 'no answer in time')}. {checked}. "
                    "*Retry* looks there first and sends only if the reply is not there.")
        dm_refused = any(r.kind == "private" and r.status == ReplyStatus.FAILED for r in case.replies[-2:])
        hint = "*Edit* sends a public reply instead" if dm_refused else "use *Retry* or *Edit*"
        return f":warning: *Not sent:* {escape(case.last_error or 'unknown error')}. Nothing went out; {hint}."
    if case.status == CaseStatus.DISMISSED:
        reason = DISMISS_REASONS.get(case.dismissed_reason or "", case.dismissed_reason or "")
        return f":no_entry_sign: Dismissed ({escape(reason)})"
    if case.claimed_by:
        return f":eyes: <@{case.claimed_by}> is on it"
    return ":inbox_tray: Waiting for an answer"


def sla_clock(case: m.Case, now: datetime | None = None) -> str:
    """The SLA clock while nobody has answered ("due in 12 min"), then how long the first response took."""
    if case.first_response_at is not None and case.created_at is not None:
        met = "within the SLA" if case.sla_met else "outside the SLA"
        return f"first response in {sla.duration_text(case.first_response_at - case.created_at)} ({met})"
    if case.due_at is None or case.status not in WAITING_STATUSES:
        return ""
    now = now or utcnow()
    icon = ":alarm_clock:" if sla.is_overdue(case.due_at, now) else ":hourglass_flowing_sand:"
    return f"{icon} *{sla.clock_text(case.due_at, now)}* ({slack_date(case.due_at, '{time}')})"


def triage_tags(case: m.Case) -> list[str]:
    """Category first, then the reasons (which usually start with the category already)."""
    reasons = list(case.reasons or [])
    return reasons if reasons[:1] == [case.category] else [case.category, *reasons]


def case_card(case: m.Case, network_label: str | None = None, *, now: datetime | None = None) -> list[dict]:
    """The card for a case: who, what, how urgent, a suggested reply and the buttons."""
    root = case.root
    label = network_label or NETWORK_LABEL.get(case.network, case.network)
    head = f"{NETWORK_EMOJI.get(case.network, ':speech_balloon:')} *{label}* {escape(root.kind.replace('_', ' '))} · {PRIORITY_BADGE.get(case.priority, case.priority)}"
    blocks = [
        section(head + "\n" + author_line(root)),
        section(quote_block(root.text)),
    ]
    if root.context:
        blocks.append(context("On: " + escape(truncate(root.context, 300))))
    facts = [escape(" · ".join(triage_tags(case)))]
    facts.append(f"posted {slack_date(root.created_at)}")
    clock = sla_clock(case, now)
    if clock:
        facts.append(clock)
    facts.append(link(root.url, f"Open on {label}"))
    blocks.append(context(" · ".join(facts)))
    blocks.extend(network_notes(case, label, now))
    if case.status == CaseStatus.PENDING_APPROVAL:
        for reply in (r for r in case.replies if r.status == ReplyStatus.AWAITING):
            title = "Draft reply" if reply.kind == "public" else "Draft private message"
            blocks.append(section(f"*{title}* (needs approval)\n" + escape(truncate(reply.text, TEXT_LIMIT))))
    elif case.status in OPEN_STATUSES and case.suggested_reply:
        blocks.append(section("*Suggested reply*\n" + escape(case.suggested_reply)))
        if case.alternative_reply:
            blocks.append(context("Sent for a similar case before (pick it in *Edit*): " + escape(truncate(case.alternative_reply, 280))))
    blocks.append(context(status_line(case)))
    actions = case_actions(case, label)
    if actions:
        blocks.append({"type": "actions", "block_id": Block.ACTIONS.value, "elements": actions})
    return blocks


def network_notes(case: m.Case, label: str, now: datetime | None = None) -> list[dict]:
    """What the network says about the post since (deleted, hidden) and whether Move to DM can still be used."""
    root, notes = case.root, []
    if root.reply_blocker and case.status in OPEN_STATUSES:
        notes.append(f":no_entry_sign: {escape(root.reply_blocker)}. *Reply on {label}* opens the post; "
                     "then *Mark replied* so the SLA and the stats count it.")
    visibility = getattr(root, "visibility", "visible")
    if visibility == "removed":
        notes.append(f":wastebasket: Deleted on {label}: there is nothing left to answer.")
    elif visibility == "hidden":
        notes.append(f":see_no_evil: Hidden on {label}: only the author and their friends can see it.")
    # Networks whose private replies answer one item, once, within a window (Meta: 7 days per comment).
    rules = info(case.network)
    kinds, window = rules.private_reply_kinds, rules.private_reply_window
    if window and root.kind in kinds and case.status in OPEN_STATUSES and visibility != "removed":
        now = now or utcnow()
        closes = root.created_at + window
        if any(r.kind == "private" and r.status == ReplyStatus.SENT for r in case.replies):
            notes.append(f":envelope: A private reply was already sent: {label} allows one per comment, so *Move to DM* can only reply publicly.")
        elif now > closes:
            notes.append(f":envelope: *Move to DM* cannot send a private reply any more: {label} allows it only within {window.days} days of the comment.")
        else:
            notes.append(f":envelope: *Move to DM* sends a private reply on {escape(rules.private_reply_via)} until {slack_date(closes)} ({label} allows one per comment, within {window.days} days).")
    return [context(*notes)] if notes else []


def visibility_note(label: str, state: str, *, is_root: bool, closed: bool) -> str:
    """The line in the card's thread when the network deletes, hides or unhides a post."""
    what = "The customer's post" if is_root else "A follow-up"
    if state == "removed":
        return history_entry("system", f"noticed: {what.lower()} was deleted on {label}", "the case is closed, nothing was sent" if closed else "")
    if state == "hidden":
        return history_entry("system", f"noticed: {what.lower()} was hidden on {label}", "only the author and their friends see it")
    return history_entry("system", f"noticed: {what.lower()} is visible again on {label}")


def connection_notice(label: str, problem: str) -> tuple[str, list[dict]]:
    """The one channel message per outage when a network refuses our credentials."""
    text = f"Reconnect {label}: socialdesk cannot read or answer {label} until someone fixes the connection."
    body = [
        section(f":electric_plug: *Reconnect {label}*\nNothing new from {label} reaches this channel and replies to it fail until someone fixes the connection."),
        context(escape(problem)),
        context(f"Run `socialdesk check` to confirm the fix. This message updates itself when {label} works again."),
    ]
    return text, body


def connection_restored(label: str) -> tuple[str, list[dict]]:
    text = f"{label} is connected again."
    return text, [section(f":white_check_mark: *{label} is connected again.* New posts and replies flow as usual.")]


def budget_notice(label: str, network: str, problem: str, resumes_at: datetime) -> tuple[str, list[dict]]:
    """The one channel message when polling a paid network waits for the month's budget (webhooks still come)."""
    text = f"{label} polling is paused until {resumes_at:%Y-%m-%d %H:%M} UTC to stay within this month's budget."
    body = [
        section(f":hourglass_flowing_sand: *{label} polling is paused until {slack_date(resumes_at)}*\n"
                f"This month's spend has run ahead of the budget's pace, so new posts found by polling {label} wait until then "
                "(they are not lost; webhooks and replies go on)."),
        context(escape(problem)),
        context(f"To go on now, raise `monthly_budget` in the `[{network}]` section of socialdesk.toml and restart. "
                "This message updates itself when polling resumes."),
    ]
    return text, body


def budget_resumed(label: str) -> tuple[str, list[dict]]:
    text = f"{label} polling has resumed."
    return text, [section(f":white_check_mark: *{label} polling has resumed.* New posts flow as usual.")]


def link_button(text: str, url: str, action: Action, case_id: int) -> dict:
    """Opens the post on the network; Slack still tells us about the click (the clicker is on it)."""
    return {"type": "button", "text": plain(text), "action_id": action.value, "value": case_ref(case_id),
            "url": quote(url, safe=":/?=&#%@+,;~")}


def case_actions(case: m.Case, label: str = "") -> list[dict]:
    root = case.root if case.posts else None
    if root is not None and root.reply_blocker and case.status in OPEN_STATUSES:
        # The network refuses API replies to this post: answer it there, then say so here (the SLA clock counts).
        label = label or NETWORK_LABEL.get(case.network, case.network)
        buttons = [link_button(f"Reply on {label}", root.url, Action.REPLY_ON_NETWORK, case.id),
                   button("Mark replied", Action.MARK_REPLIED, case.id, style="primary")]
        if not case.claimed_by:
            buttons.append(button("Claim", Action.CLAIM, case.id))
        return buttons + [dismiss_menu(case.id), refile_menu(case)]
    if case.status == CaseStatus.OPEN and case.category == "praise":
        # Praise deserves a fast answer too: one click thanks them, nothing else to manage.
        return [
            button("Say thanks", Action.APPROVE, case.id, style="primary"),
            button("Edit", Action.EDIT, case.id),
            dismiss_menu(case.id),
            refile_menu(case),
        ]
    if case.status == CaseStatus.OPEN:
        buttons = [
            button("Approve", Action.APPROVE, case.id, style="primary"),
            button("Edit", Action.EDIT, case.id),
            button("Move to DM", Action.MOVE_TO_DM, case.id),
        ]
        if not case.claimed_by:
            buttons.append(button("Claim", Action.CLAIM, case.id))
        buttons.append(dismiss_menu(case.id))
        buttons.append(refile_menu(case))
        return buttons
    if case.status == CaseStatus.PENDING_APPROVAL:
        return [
            button("Approve", Action.APPROVE, case.id, style="primary"),
            button("Edit", Action.EDIT, case.id),
            button("Reject", Action.REJECT, case.id),
        ]
    if case.status == CaseStatus.FAILED:
        return [
            button("Retry", Action.RETRY, case.id, style="danger"),
            button("Edit", Action.EDIT, case.id),
            button("Move to DM", Action.MOVE_TO_DM, case.id),
            dismiss_menu(case.id),
            refile_menu(case),
        ]
    return []


def dismiss_menu(case_id: int) -> dict:
    return {
        "type": "static_select",
        "action_id": Action.DISMISS.value,
        "placeholder": plain("Dismiss…"),
        "options": [
            {"text": plain(label), "value": json.dumps({"v": 1, "case": case_id, "reason": key}, separators=(",", ":"))}
            for key, label in DISMISS_REASONS.items()
        ],
    }


def refile_menu(case: m.Case) -> dict:
    """The "⋯" menu that re-files a case triage got wrong: every category but the one it has (always 2 or 3 options)."""
    return {
        "type": "overflow",
        "action_id": Action.RECATEGORIZE.value,
        "options": [
            {"text": plain(label), "value": json.dumps({"v": 1, "case": case.id, "category": key}, separators=(",", ":"))}
            for key, label in REFILE_AS.items()
            if key != case.category
        ],
    }


def card_fallback(case: m.Case) -> str:
    """Notification text: plain words, no customer markup."""
    label = NETWORK_LABEL.get(case.network, case.network)
    who = f"@{case.root.author_handle}" if case.root.author_handle else "a customer"
    return f"New {case.priority} {case.category} on {label} from {one_line(who)}"


def follow_up(post: m.Post) -> list[dict]:
    return [section(f":speech_balloon: Follow-up from {author_line(post)}\n{quote_block(post.text)}"), context(link(post.url, "Open"))]


def follow_up_fallback(post: m.Post) -> str:
    return f"Follow-up from @{one_line(post.author_handle or 'customer')}"


def history_entry(actor: str, action: str, detail: str = "") -> str:
    who = "socialdesk" if actor == "system" else f"<@{actor}>"
    return f"{who} {action}" + (f": {detail}" if detail else "")


def _input(block_id: Block | str, label: str, initial: str, *, multiline: bool = True, hint: str = "", max_length: int = 3000, live: bool = False) -> dict:
    element = {"type": "plain_text_input", "action_id": INPUT, "multiline": multiline, "initial_value": initial[:max_length], "max_length": max_length}
    if live:
        element["dispatch_action_config"] = {"trigger_actions_on": ["on_character_entered"]}
    block = {"type": "input", "block_id": str(block_id), "label": plain(label), "element": element, "dispatch_action": live}
    if hint:
        block["hint"] = plain(hint)
    return block


def _modal(view: View, title: str, submit: str, case_id: int, blocks: list[dict]) -> dict:
    return {
        "type": "modal",
        "callback_id": view.value,
        "private_metadata": case_ref(case_id),
        "title": plain(title),
        "submit": plain(submit),
        "close": plain("Cancel"),
        "blocks": blocks,
    }


def reply_check(length: int | None, limit: int | None, tone: list[str], notes: list[str] = ()) -> dict:
    """The live line under the reply: weighted length against the limit, the tone check, and the network's notes."""
    parts = [":warning: " + escape(note) + "." for note in notes]
    if limit:
        if length > limit:
            parts.append(f":no_entry: *{length}/{limit}* — too long for a public reply. Shorten it, or use *Move to DM*.")
        else:
            parts.append(f":straight_ruler: {length}/{limit} characters")
    if tone:
        parts.append(":thinking_face: Tone: " + "; ".join(escape(t) for t in tone) + ". Consider rephrasing.")
    elif length:
        parts.append(":slightly_smiling_face: Tone looks calm")
    return {"type": "context", "block_id": Block.CHECK.value, "elements": [mrkdwn(" · ".join(parts) or "Write your reply")]}


def edit_modal(case: m.Case, draft: str, *, limit: int | None, length: int = 0, tone: list[str] = (), saved: list[tuple[str, str]] = (), generation: int = 0,
               notes: list[str] = ()) -> dict:
    """Reply editor: the customer's post, saved replies, the draft, and a live length and tone check."""
    blocks = [section(author_line(case.root) + "\n" + quote_block(case.root.text))]
    if saved:
        blocks.append({
            "type": "actions",
            "elements": [{
                "type": "static_select",
                "action_id": Action.PICK_SAVED.value,
                "placeholder": plain("Use a saved reply…"),
                "options": [{"text": plain(name), "value": str(i)} for i, (name, _) in enumerate(saved[:100])],
            }],
        })
    block_id = Block.REPLY.value + (f"~{generation}" if generation else "")
    blocks.append(_input(block_id, "Reply", draft, live=True))
    blocks.append(reply_check(length, limit, list(tone), list(notes)))
    blocks.append({
        "type": "input",
        "block_id": Block.SEND_ANYWAY.value,
        "optional": True,
        "label": plain("Tone check"),
        "element": {"type": "checkboxes", "action_id": ANYWAY, "options": [{"text": plain("Send as written even if the tone check objects"), "value": "yes"}]},
    })
    modal = _modal(View.EDIT, "Edit reply", "Send reply", case.id, blocks)
    modal["private_metadata"] = json.dumps({"v": 1, "case": case.id, "gen": generation}, separators=(",", ":"))
    return modal


def dm_modal(case: m.Case, private_text: str, *, public_text: str = DM_PUBLIC_DEFAULT, blocker: str | None = None) -> dict:
    blocks = [section(author_line(case.root) + "\n" + quote_block(case.root.text))]
    blocks.append(_input(Block.PUBLIC, "Short public reply", public_text, hint="Posted under their post so everyone sees we answered."))
    if blocker:
        blocks.append(context(f":warning: A private message is not possible here: {escape(blocker)}. Only the public reply will be sent."))
    else:
        blocks.append(_input(Block.PRIVATE, "Private message", private_text, hint="Sent as a direct message."))
    return _modal(View.MOVE_TO_DM, "Move to DM", "Send both" if not blocker else "Send public reply", case.id, blocks)


HELP_INTRO = "*socialdesk* — answer customers on X and Facebook from Slack. Cards arrive in the team channel with *Approve*, *Edit* and *Move to DM*."


def home_view(user_id: str, mine: list[m.Case], waiting: list[m.Case], numbers: dict[str, int], team: list[dict] | None = None) -> dict:
    """`team` is the managers-only numbers panel (`stats_blocks.home_numbers`), appended when given."""
    def line(case: m.Case) -> str:
        root = case.root
        return f"• {PRIORITY_BADGE.get(case.priority, case.priority)} {NETWORK_LABEL.get(case.network, case.network)} — {escape(truncate(root.text, 120))} ({case.status})"

    blocks = [
        {"type": "header", "text": plain("socialdesk")},
        section(f"*Your cases* ({len(mine)})\n" + ("\n".join(line(c) for c in mine) or "_Nothing claimed by you._")),
        section(f"*Waiting for an answer* ({len(waiting)})\n" + ("\n".join(line(c) for c in waiting[:15]) or "_Inbox zero._")),
        context(" · ".join(f"{k}: *{v}*" for k, v in numbers.items())),
        *(team or []),
    ]
    return {"type": "home", "blocks": blocks}


def went_wrong(ref: str) -> str:
    """What a person sees when something failed on our side; `ref` is also in the log beside the trace."""
    return f":warning: Something went wrong on our side (ref `{ref}`). Nothing was sent."
