"""Saved replies: the team's library of answers, with placeholders filled per customer."""
from __future__ import annotations

from bot.config import SavedReply

DEFAULT_SAVED_REPLIES = [
    SavedReply(name="Sorry, looking into it", text="Hi {first_name}, sorry about this. We're looking into it now and will get back to you here shortly."),
    SavedReply(name="Ask for details in DM", text="Hi {first_name}, sorry for the trouble. Could you send us a DM with your order number so we can sort it out?"),
    SavedReply(name="Refund on its way", text="Hi {first_name}, we've refunded you in full. It can take 3-5 working days to show on your statement. Sorry again!", category="complaint"),
    SavedReply(name="Known outage", text="Hi {first_name}, we know about this and our team is working on a fix right now. Thanks for your patience.", category="complaint"),
    SavedReply(name="Thank you", text="Thank you so much, {first_name}! We'll pass this on to the team.", category="praise"),
]


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, *, name: str = "", handle: str = "") -> str:
    """Fill {name}, {first_name} and {handle}; unknown placeholders stay visible for the agent to fix."""
    first = (name or handle or "there").split()[0]
    values = _Blank(name=name or handle or "there", first_name=first, handle=f"@{handle}" if handle else "")
    try:
        return text.format_map(values)
    except (ValueError, IndexError):
        return text  # a stray brace in a saved reply: leave it as written


def saved_replies_for(category: str, configured: list[SavedReply], language: str = "") -> list[SavedReply]:
    """The replies that fit a case: its category, and its language first (replies in another language last)."""
    library = configured or DEFAULT_SAVED_REPLIES
    fitting = [r for r in library if r.category in ("any", category)]
    if not language:
        return fitting
    return sorted(fitting, key=lambda r: 0 if r.lang == language else 1 if not r.lang else 2)


def suggestion_in_language(configured: list[SavedReply], language: str, category: str, *, name: str = "", handle: str = "") -> str:
    """The first saved reply written in the post's language for its category ("" if the team wrote none).

    The built-in suggestions are English; a post in Spanish gets a Spanish
    saved reply (`lang = "es"`) or no suggestion at all, never an English one.
    """
    for reply in configured:
        if reply.lang == language and reply.category in ("any", category):
            return fill(reply.text, name=name, handle=handle)
    return ""
