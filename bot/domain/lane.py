"""The low-priority lane and the hidden posts: what triage did not card, kept where a person can find it.

Pure domain over a database session: no Slack, no HTTP. A post in the lane or
hidden has no case; **Make a case** (from the lane message or from
`/socialdesk review`) turns it into a normal case whose card is then posted
like any other. Only one click can win: the post is claimed by a conditional
UPDATE before the case is written.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.config import FileConfig
from bot.domain import sla
from bot.domain.cases import CaseError, audit
from bot.domain.ingest import SET_ASIDE
from bot.domain.saved_replies import suggestion_in_language
from bot.domain.states import CaseStatus, SlackState
from bot.triage import classify, suggest_reply
from storage import models as m

#: States a post can be re-filed from: waiting in the lane, glanced at, hidden (or skipped before the lane existed).
REFILABLE = (SlackState.LANE, SlackState.GLANCED, SlackState.HIDDEN, SlackState.SKIPPED)
#: What `/socialdesk review` can list.
REVIEWABLE = {"spam": "spam", "own": "the brand's own posts", "search": "quiet search hits", "lane": "posts in the lane", "glanced": "glanced lane posts",
              "set_aside": "posts triage could not handle (with the reason)"}
CASE_CATEGORIES = ("complaint", "question", "praise")


@dataclass(frozen=True)
class LaneView:
    total: int                 # posts waiting in the lane
    posts: list[m.Post]        # the newest of them, newest first
    newest_id: int             # what "Clear" clears up to (posts arriving meanwhile stay)


def lane(session: Session, *, shown: int = 10) -> LaneView:
    total = session.scalar(select(func.count(m.Post.id)).where(m.Post.slack_state == SlackState.LANE)) or 0
    posts = list(session.scalars(select(m.Post).where(m.Post.slack_state == SlackState.LANE).order_by(m.Post.id.desc()).limit(shown)))
    return LaneView(total, posts, posts[0].id if posts else 0)


def clear_lane(session: Session, user_id: str, up_to: int, now: datetime | None = None) -> int:
    """Mark the lane's posts (up to the one shown newest) as glanced; they stay reviewable."""
    cleared = session.execute(
        update(m.Post)
        .where(m.Post.slack_state == SlackState.LANE, m.Post.id <= up_to)
        .values(slack_state=SlackState.GLANCED)
        .execution_options(synchronize_session=False)
    ).rowcount
    audit(session, None, user_id, "lane_cleared", posts=cleared, up_to=up_to)
    return cleared


def make_case(session: Session, post_id: int, user_id: str, *, config: FileConfig, channel: str, now: datetime | None = None) -> m.Case:
    """Turn a lane or hidden post into a normal case; CaseError if it already is one or is gone."""
    now = now or utcnow()
    post = session.get(m.Post, post_id)
    if post is None:
        raise CaseError("This post is no longer stored.")
    won = session.execute(
        update(m.Post)
        .where(m.Post.id == post_id, m.Post.case_id.is_(None), m.Post.slack_state.in_(REFILABLE))
        .values(slack_state=SlackState.PENDING)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(post)
    if not won:
        raise CaseError("Someone already made a case of this post; its card is in the channel." if post.case_id else
                        "This post is already on its way to a card.")
    triage = classify(post.text, followers=post.author_followers, engagement=post.engagement)
    category = triage.category if triage.category in CASE_CATEGORIES else "complaint"
    priority = "normal" if triage.priority == "low" and category != "praise" else triage.priority
    reasons = [category, *(r for r in triage.reasons[1:]), "made a case from the lane"]
    shown = replace(triage, category=category, priority=priority, reasons=tuple(reasons))
    suggestion = suggest_reply(shown, name=post.author_name, handle=post.author_handle, network=post.network) or \
        suggestion_in_language(config.saved_replies, shown.language, category, name=post.author_name, handle=post.author_handle)
    case = m.Case(
        network=post.network,
        conversation_id=post.conversation_id or post.external_id,
        author_external_id=post.author_external_id,
        status=CaseStatus.OPEN,
        category=category,
        priority=priority,
        severity=triage.severity if category == "complaint" else 0,
        sentiment=triage.sentiment,
        topic=triage.topic,
        reasons=reasons,
        suggested_reply=suggestion,
        channel=channel,
        created_at=now,
        due_at=sla.due_at(config, post.network, priority, now),
    )
    session.add(case)
    session.flush()
    post.case_id = case.id
    post.category = category
    audit(session, case.id, user_id, "made_case", post_id=post.id, category=category, priority=priority)
    return case


@dataclass(frozen=True)
class Review:
    what: str
    counts: dict[str, int]     # per reviewable group, over the period
    posts: list[m.Post]        # the newest of the group asked for
    days: int


def _group_filter(what: str):
    if what == "spam":
        return (m.Post.slack_state == SlackState.HIDDEN) & (m.Post.category == "spam")
    if what == "own":
        return (m.Post.slack_state == SlackState.HIDDEN) & (m.Post.category == "own")
    if what == "search":
        return (m.Post.slack_state == SlackState.HIDDEN) & (m.Post.kind == "search") & (m.Post.category.not_in(("spam", "own")))
    if what == "lane":
        return m.Post.slack_state == SlackState.LANE
    if what == "glanced":
        return m.Post.slack_state.in_((SlackState.GLANCED, SlackState.SKIPPED))
    if what == "set_aside":
        return m.Post.triage_state == SET_ASIDE
    raise ValueError(what)


def review(session: Session, what: str = "spam", *, days: int = 7, limit: int = 10, now: datetime | None = None) -> Review:
    """What triage kept out of the cards over the last `days`: counts per group and the newest posts of one."""
    if what not in REVIEWABLE:
        raise CaseError(f"`review` lists {', '.join(REVIEWABLE)}; `{what}` is not one of them.")
    since = (now or utcnow()) - timedelta(days=days)
    counts = {
        group: session.scalar(select(func.count(m.Post.id)).where(_group_filter(group), m.Post.ingested_at >= since)) or 0
        for group in REVIEWABLE
    }
    posts = list(session.scalars(
        select(m.Post).where(_group_filter(what), m.Post.ingested_at >= since).order_by(m.Post.id.desc()).limit(limit)
    ))
    return Review(what, counts, posts, days)
