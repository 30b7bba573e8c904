"""Where a post is shown: its own card, the low-priority lane, or hidden (counted and reviewable).

Pure: a decision from the triage, the kind of post and `[routing]`. Nothing
addressed to the brand (mentions, replies, comments on its posts, visitor
posts, reviews, messages) is ever hidden: what triage files as `other`, or a
category the team chose not to card, goes to the lane in the channel. Only
spam and the brand's own posts are hidden, and brand-search hits that don't
address the brand when `[routing] search = "hidden"`; all of them are counted
and `/socialdesk review` lists them.
"""
from __future__ import annotations

from typing import Literal

from bot.config import RoutingConfig
from bot.triage import Triage

Route = Literal["card", "lane", "hidden"]
ROUTES: tuple[Route, ...] = ("card", "lane", "hidden")
#: Post kinds that do not address the brand: a keyword search hit.
NOT_ADDRESSED = frozenset({"search"})


def decide(triage: Triage, *, kind: str = "mention", routing: RoutingConfig | None = None, own: bool = False) -> Route:
    """The route of one post (see the module docstring)."""
    routing = routing or RoutingConfig()
    if own:
        return "hidden"
    if triage.category in routing.card:
        return "card"
    if triage.category == "spam":
        return "hidden"
    if kind in NOT_ADDRESSED:
        return routing.search
    if not triage.language_trained:
        return "card"  # nobody here has read it yet: a person must
    return "lane"
