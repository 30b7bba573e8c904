"""Ingest: store each post once, triage it, and attach it to a new or existing case.

Pure domain over a database session: no Slack, no HTTP. The same post arriving
twice (poll and webhook, or after a restart) is stored once. Where a post is
shown is decided here (`bot.domain.routing`): its own case and card, the
low-priority lane, or hidden (spam, the brand's own posts); every post is
stored, so nothing is lost and the hidden ones can be reviewed and re-filed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.config import FileConfig
from bot.domain import routing, sla
from bot.domain.cases import audit
from bot.domain.saved_replies import suggestion_in_language
from bot.domain.posts import Post
from bot.domain.states import CaseStatus, ReplyStatus, SlackState
from bot.triage import classify, suggest_reply
from storage import models as m

FOLLOW_UP_WINDOW = timedelta(days=7)


@dataclass
class IngestResult:
    new_cases: list[int] = field(default_factory=list)
    follow_ups: list[int] = field(default_factory=list)
    duplicates: int = 0
    dropped: int = 0  # hidden: spam, the brand's own posts, quiet search hits (stored, counted, reviewable)
    lane: int = 0     # listed in the low-priority lane


def bump_counter(session: Session, name: str, now: datetime) -> None:
    day = now.date().isoformat()
    counter = session.get(m.Counter, (day, name))
    if counter is None:
        session.add(m.Counter(day=day, name=name, value=1))
    else:
        counter.value += 1


def _existing_case_for(session: Session, post: Post) -> m.Case | None:
    """A follow-up: same author, same thread (or answering a post already in a case), recently."""
    if not post.author.external_id:
        return None
    in_case = select(m.Post.case_id).where(
        m.Post.network == post.network, m.Post.external_id == post.in_reply_to_id, m.Post.case_id.is_not(None)
    )
    thread_match = [m.Case.id.in_(in_case)] if post.in_reply_to_id else []
    if post.conversation_id:
        thread_match.append(m.Case.conversation_id == post.conversation_id)
    if not thread_match:
        return None
    return session.scalars(
        select(m.Case)
        .where(
            m.Case.network == post.network,
            m.Case.author_external_id == post.author.external_id,
            m.Case.created_at >= post.created_at - FOLLOW_UP_WINDOW,
            or_(*thread_match),
        )
        .order_by(m.Case.id.desc())
        .limit(1)
    ).first()


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']{3,}", text.lower()) if w not in _STOP}


_STOP = {"the", "and", "for", "you", "your", "our", "this", "that", "with", "have", "has", "was", "are", "but", "not", "all", "can", "just", "its"}


def similar_reply(session: Session, network: str, topic: str, text: str, *, min_overlap: float = 0.2) -> str | None:
    """What the team sent for the most similar answered case on the same topic, if any is close enough."""
    words = _words(text)
    if not words:
        return None
    rows = session.execute(
        select(m.Post.text, m.Reply.text)
        .join(m.Case, m.Post.case_id == m.Case.id)
        .join(m.Reply, m.Reply.case_id == m.Case.id)
        .where(m.Case.network == network, m.Case.topic == topic, m.Case.status == CaseStatus.ANSWERED, m.Reply.kind == "public", m.Reply.status == ReplyStatus.SENT)
        .order_by(m.Reply.id.desc())
        .limit(200)
    ).all()
    best, best_score = None, min_overlap
    for post_text, reply_text in rows:
        other = _words(post_text)
        score = len(words & other) / len(words | other) if other else 0.0
        if score > best_score:
            best, best_score = reply_text, score
    return best


def _prior_complaints(session: Session, post: Post) -> int:
    return session.scalar(
        select(func.count(m.Case.id)).where(
            m.Case.network == post.network,
            m.Case.author_external_id == post.author.external_id,
            m.Case.category == "complaint",
        )
    ) or 0


def _stored(session: Session, row: m.Post) -> bool:
    """Insert the post; False when another process stored the same post between our check and insert."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def ingest(session: Session, posts: Iterable[Post], *, own_ids: set[str], config: FileConfig, channel: str, now: datetime | None = None) -> IngestResult:
    """Store each post once, triage it, and attach it to a new or existing case."""
    now = now or utcnow()
    result = IngestResult()
    for post in posts:
        own = post.author.external_id in own_ids
        exists = session.scalar(
            select(m.Post.id).where(m.Post.network == post.network, m.Post.external_id == post.external_id)
        )
        if exists:
            result.duplicates += 1
            continue
        row = m.Post(
            network=post.network,
            external_id=post.external_id,
            kind=post.kind,
            text=post.text,
            url=post.url,
            author_external_id=post.author.external_id,
            author_handle=post.author.handle,
            author_name=post.author.name,
            author_followers=post.author.followers,
            conversation_id=post.conversation_id,
            in_reply_to_id=post.in_reply_to_id,
            engagement=post.engagement,
            context=post.context,
            reply_blocker=post.reply_blocker or None,
            created_at=post.created_at,
            ingested_at=now,
        )
        if own:
            # Never triaged nor answered, but kept: counted and listed by `/socialdesk review own`.
            row.category, row.slack_state = "own", SlackState.HIDDEN
            if _stored(session, row):
                bump_counter(session, "own_post", now)
                result.dropped += 1
            else:
                result.duplicates += 1
            continue
        case = _existing_case_for(session, post)
        triage = classify(
            post.text,
            followers=post.author.followers,
            engagement=post.engagement,
            prior_complaints=0 if case else _prior_complaints(session, post),
        )
        if post.verdict == "negative" and triage.category != "complaint":
            # The author said so themselves: a "does not recommend" review needs an answer.
            triage = replace(triage, category="complaint", priority="normal" if triage.priority == "low" else triage.priority,
                             reasons=("complaint", "negative review"))
        elif post.verdict == "negative" and "negative review" not in triage.reasons:
            triage = replace(triage, reasons=(*triage.reasons, "negative review"))
        row.category = triage.category
        if not _stored(session, row):
            result.duplicates += 1
            continue
        if case is not None:
            row.case_id = case.id
            row.slack_state = SlackState.PENDING
            result.follow_ups.append(row.id)
            audit(session, case.id, "system", "follow_up", post_id=row.id)
            continue
        route = routing.decide(triage, kind=post.kind, routing=config.routing)
        if route != "card":
            row.slack_state = SlackState.LANE if route == "lane" else SlackState.HIDDEN
            bump_counter(session, triage.category, now)
            if route == "lane":
                result.lane += 1
            else:
                result.dropped += 1
            continue
        suggestion = suggest_reply(triage, name=post.author.name, handle=post.author.handle, network=post.network)
        if not suggestion and not triage.language_trained:
            suggestion = suggestion_in_language(config.saved_replies, triage.language, triage.category,
                                                name=post.author.name, handle=post.author.handle)
        case = m.Case(
            network=post.network,
            conversation_id=post.conversation_id or post.external_id,
            author_external_id=post.author.external_id,
            status=CaseStatus.OPEN,
            category=triage.category,
            priority=triage.priority,
            reasons=list(triage.reasons),
            severity=triage.severity,
            sentiment=triage.sentiment,
            topic=triage.topic,
            suggested_reply=suggestion,
            channel=channel,
            created_at=now,
            due_at=sla.due_at(config, post.network, triage.priority, now),
        )
        case.alternative_reply = similar_reply(session, post.network, triage.topic, post.text)
        session.add(case)
        session.flush()
        row.case_id = case.id
        row.slack_state = SlackState.PENDING
        result.new_cases.append(case.id)
        audit(session, case.id, "system", "opened", post_id=row.id, category=triage.category, priority=triage.priority)
    session.flush()
    return result
