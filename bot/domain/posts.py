"""The normalised shape every network adapter produces and consumes."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Author:
    external_id: str
    handle: str = ""
    name: str = ""
    followers: int = 0


@dataclass(frozen=True)
class Post:
    """One public post, comment or message, as any network delivers it."""

    network: str                      # "x", "facebook", ...
    external_id: str                  # unique within the network
    text: str
    author: Author
    created_at: datetime              # timezone-aware, UTC
    url: str = ""
    conversation_id: str = ""         # thread/conversation the post belongs to
    in_reply_to_id: str = ""          # the post this one answers, if any
    kind: str = "mention"             # mention, search, comment, visitor_post, rating, message
    engagement: int = 0               # likes + reposts + replies, when known
    context: str = ""                 # e.g. the Page post a comment is about
    verdict: str = ""                 # what the author declared: "negative"/"positive" review
    reply_blocker: str = ""           # why the network will not take a reply to it through its API (answer it there)
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SentReply:
    """What a network returns for a reply that went out."""

    external_id: str
    url: str = ""
