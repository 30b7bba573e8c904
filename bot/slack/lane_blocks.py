"""Block Kit for the low-priority lane and `/socialdesk review`: pure builders, no database or Slack calls.

Customer text goes through `escape()` into `verbatim` mrkdwn like on the cards,
so a post in the lane can never ping or fake a link either.
"""
from __future__ import annotations

from bot.slack.blocks import NETWORK_EMOJI, NETWORK_LABEL, context, escape, link, plain, section, slack_date, truncate
from bot.slack.ids import Action, post_ref
from storage import models as m

#: Slack shows at most 50 blocks in a message; the lane lists far fewer.
LANE_LIMIT = 20
POST_PREVIEW = 280


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _post_line(post: m.Post) -> str:
    label = NETWORK_LABEL.get(post.network, post.network)
    who = escape(post.author_name or post.author_handle or "Someone")
    handle = f" @{escape(post.author_handle)}" if post.author_handle and post.author_name else ""
    text = escape(truncate(" ".join((post.text or "").split()), POST_PREVIEW)) or "_(no text)_"
    where = link(post.url, f"Open on {label}") if post.url else label
    kind = escape((post.kind or "post").replace("_", " "))
    line = f"{NETWORK_EMOJI.get(post.network, ':speech_balloon:')} *{who}*{handle} · {kind} · {escape(post.category or 'other')} · {where}\n> {text}"
    if post.triage_error:  # set aside by triage: say why, so a person can judge it
        line += f"\n:warning: _set aside: {escape(truncate(post.triage_error, 200))}_"
    return line


def _make_case_button(post: m.Post) -> dict:
    return {"type": "button", "text": plain("Make a case"), "action_id": Action.MAKE_CASE.value, "value": post_ref(post.id)}


def lane_message(total: int, posts: list[m.Post], newest_id: int) -> tuple[str, list[dict]]:
    """The one lane message in the channel: "N more posts to glance at", the newest listed with **Make a case**."""
    if total == 0:
        text = "Nothing to glance at: every post that reached us has a card or was glanced at."
        return text, [section(":white_check_mark: " + text)]
    text = f"{_count(total, 'more post')} to glance at"
    body = [section(f":eyes: *{text}*\nPosts addressed to us that triage did not make a card of. "
                    "*Make a case* gives one its own card.")]
    for post in posts[:LANE_LIMIT]:
        body.append({"type": "section", "text": {"type": "mrkdwn", "text": _post_line(post), "verbatim": True},
                     "accessory": _make_case_button(post)})
    rest = total - min(len(posts), LANE_LIMIT)
    footer = f"and {_count(rest, 'older post')}: `/socialdesk review lane`" if rest > 0 else "`/socialdesk review` lists spam and hidden posts too"
    body.append(context(footer))
    body.append({"type": "actions", "elements": [
        {"type": "button", "text": plain("Glanced at all, clear the lane"), "action_id": Action.CLEAR_LANE.value,
         "value": str(int(newest_id))},
    ]})
    return text, body


GROUP_LABEL = {"spam": "spam", "own": "our own posts", "search": "quiet search hits", "lane": "in the lane", "glanced": "glanced at",
               "set_aside": "set aside by triage"}
GROUP_NONE = {"spam": "No spam", "own": "None of our own posts", "search": "No quiet search hits", "lane": "Nothing in the lane",
              "glanced": "Nothing glanced at", "set_aside": "Nothing set aside by triage"}


def review_message(what: str, counts: dict[str, int], posts: list[m.Post], days: int) -> tuple[str, list[dict]]:
    """What triage kept out of the cards: counts per group, and the newest posts of one with **Make a case**."""
    summary = " · ".join(f"{GROUP_LABEL.get(g, g)}: *{n}*" for g, n in counts.items())
    text = f"Kept out of the cards in the last {days} days: " + ", ".join(f"{GROUP_LABEL.get(g, g)} {n}" for g, n in counts.items())
    body = [section(f":mag: *Kept out of the cards in the last {days} days*\n{summary}")]
    if not posts:
        body.append(context(f"{GROUP_NONE.get(what, 'Nothing')} in the last {days} days. `/socialdesk review spam|own|search|lane|glanced`"))
        return text, body
    body.append(context(f"The newest {GROUP_LABEL.get(what, what)}: *Make a case* re-files one as a normal card."))
    for post in posts[:LANE_LIMIT]:
        line = _post_line(post) + f"\n_{slack_date(post.created_at)}_"
        block = {"type": "section", "text": {"type": "mrkdwn", "text": line, "verbatim": True}}
        if post.case_id is None and post.category != "own":
            block["accessory"] = _make_case_button(post)
        body.append(block)
    return text, body
