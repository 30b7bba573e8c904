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


def saved_replies_for(category: str, configured: list[SavedReply]) -> list[SavedReply]:
    library = configured or DEFAULT_SAVED_REPLIES
    return [r for r in library if r.category in ("any", category)]
