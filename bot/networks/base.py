"""The one small interface every network adapter implements.

A new network is a new module implementing `Network`; nothing else in the bot
knows which network a case came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping, Protocol

from bot.domain.posts import Post, SentReply


class NetworkError(Exception):
    """A network call failed; `transient` errors are retried later, the rest are shown to the team."""

    transient = False

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RateLimited(NetworkError):
    transient = True


class BudgetPaused(RateLimited):
    """Polling waits so the month's spend stays within the team's budget: nothing is lost, but the channel is told,
    since only a person can decide to spend more."""


class Unavailable(NetworkError):
    """5xx, connection refused: the request did not take effect."""

    transient = True


class AuthFailed(NetworkError):
    """Credentials expired or revoked: a person must reconnect the network."""


class Rejected(NetworkError):
    """The network refused this request for good (duplicate, too long, DMs closed...)."""


class Uncertain(NetworkError):
    """No answer in time: the request may or may not have taken effect, so it is never resent on its own."""


class CannotLook(NetworkError):
    """The network offers no way to see whether an earlier reply went out (the team is told to check)."""


@dataclass(frozen=True)
class NetworkInfo:
    """What the rest of the bot may know about a network: how to show it and what it allows, never how to reach it."""

    name: str                                   # "x": the key in cases, cursors, [sla], /webhooks/<name>
    label: str                                  # "X", shown to people
    emoji: str = ":speech_balloon:"
    colour: str = "#6b7280"                     # in charts
    sla: timedelta = timedelta(hours=1)         # default time to first response ([sla] <name> overrides it)
    private_reply_kinds: tuple[str, ...] = ()   # post kinds that allow one private reply each...
    private_reply_window: timedelta | None = None  # ...within this long of the post
    private_reply_via: str = "a direct message"
    challenge_media_type: str = "text/plain"    # the webhook handshake answer
    bad_signature_status: int = 403            # what a delivery with a bad signature gets


@dataclass(frozen=True)
class VisibilityChange:
    """A post was deleted, hidden or unhidden on the network."""

    external_id: str
    state: str  # "removed", "hidden" or "visible"
    kind: str = "comment"  # "post" also covers what was posted under it


@dataclass
class WebhookEvents:
    """What one webhook delivery held; a part that was not understood is noted and the rest still counts."""

    posts: list[Post] = field(default_factory=list)
    changes: list[VisibilityChange] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # understood, but not for the team (reactions, echoes)
    problems: list[str] = field(default_factory=list)  # not understood: logged


@dataclass
class Fetched:
    posts: list[Post] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """What a reply is addressed to: the post being answered."""

    external_id: str
    author_external_id: str
    author_handle: str
    created_at: datetime
    kind: str = "mention"
    conversation_id: str = ""  # e.g. the Instagram media a mention was made on


class Network(Protocol):
    name: str
    label: str            # shown to people: "X", "Facebook"
    reply_limit: int      # characters a public reply may have (weighted where the network weighs)
    info: NetworkInfo

    def own_ids(self) -> set[str]:
        """Account ids of the brand itself, whose posts are never ingested."""

    def fetch(self, cursors: Mapping[str, str]) -> Fetched:
        """New posts since the stored cursors, and the cursors to store after them."""

    def reply_public(self, target: Target, text: str) -> SentReply: ...

    def reply_private(self, target: Target, text: str) -> SentReply: ...

    def post_status(self, text: str) -> SentReply:
        """A post on the brand's own account or Page: an incident status update everyone can see."""

    def private_reply_blocker(self, target: Target, now: datetime) -> str | None:
        """Why a private reply to this post is not possible now, or None."""

    def reply_length(self, text: str) -> int:
        """Length of a reply as the network counts it."""

    def draft_notes(self, text: str) -> list[str]:
        """What the reply editor should point out about a draft on this network (e.g. what it costs)."""

    def check(self) -> str:
        """Verify credentials; return who we are connected as, or raise NetworkError."""

    # Webhooks (networks without them answer 404 at /webhooks/<name>):
    def webhook_challenge(self, query: Mapping[str, str]) -> tuple[int, str]:
        """The subscription handshake: status and body."""

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the delivery is signed by the network (checked on the raw body before anything else)."""

    def parse_webhook_events(self, body: bytes) -> WebhookEvents:
        """Posts and visibility changes in one delivery; ValueError/KeyError/TypeError if it is not one at all."""


    def find_reply(self, target: Target, kind: str, text: str, since: datetime) -> SentReply | None:
        """The brand's reply of `kind` to this post sent since `since`, if the network shows one (CannotLook if it cannot tell)."""


def own_settings(cls, settings, prefix: str):
    """A network's settings class (env prefix `PREFIX_`, and .env), overridden by `prefix_*` values given to
    Settings directly, which keeps them as extras (how tests and the demo configure a bot without the environment)."""
    given = {k[len(prefix):]: v for k, v in (settings.model_extra or {}).items() if k.startswith(prefix)}
    return cls(**given)
