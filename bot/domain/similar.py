"""What the team sent last time: the reply to the most similar answered case, offered on a new card.

Similarity is the Jaccard overlap of the posts' content words, among the 200
newest answered cases of the same network and topic.  A backlog asks for many
posts in a row, so those cases are read once while it drains and indexed by
word: a post costs the words it shares with them, not a pass over all 200
(which, with a working team's history, cost more than the rest of a post's case).
The index is built again only when the cases read differ from the last drain's.

Pure domain over a database session: no Slack, no HTTP.
"""
from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.states import CaseStatus, ReplyStatus
from storage import models as m

#: Answered cases compared per (network, topic), newest first.
RECENT = 200
MIN_OVERLAP = 0.2

_STOP = frozenset({"the", "and", "for", "you", "your", "our", "this", "that", "with", "have", "has", "was", "are", "but", "not", "all",
                   "can", "just", "its"})
_WORD = re.compile(r"[a-z']{3,}")


def words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP)


class ReplyIndex:
    """One (network, topic)'s answered cases: each post's word count, and which posts hold each word."""

    def __init__(self, rows: list[tuple[str, str]]):
        self.replies = [reply for _, reply in rows]
        self.sizes: list[int] = []
        self.holding: dict[str, list[int]] = defaultdict(list)
        for i, (post_text, _) in enumerate(rows):
            own = words(post_text)
            self.sizes.append(len(own))
            for word in own:
                self.holding[word].append(i)

    def best(self, own: frozenset[str], min_overlap: float) -> str | None:
        shared: Counter[int] = Counter()
        for word in own:
            shared.update(self.holding.get(word, ()))
        best, best_score = None, min_overlap
        for i in sorted(shared):  # newest first: of equally close cases, the latest reply wins
            n = shared[i]
            score = n / (len(own) + self.sizes[i] - n)
            if score > best_score:
                best, best_score = self.replies[i], score
        return best


@functools.lru_cache(maxsize=64)  # a few (network, topic) pairs; an index of 200 cases is about 200 KB
def _index(rows: tuple[tuple[str, str], ...]) -> ReplyIndex:
    """Built once for the same answered cases, however many drains read them: between two drains the
    team rarely sends anything, and indexing 200 posts' words cost about 2 ms where reading them costs 0.5."""
    return ReplyIndex(list(rows))


class AnsweredCases:
    """The answered cases per (network, topic), read on first use and kept while one backlog drains (a hint on a card:
    a reply sent meanwhile is offered from the next drain on)."""

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, str], ReplyIndex] = {}

    def reply_for(self, session: Session, network: str, topic: str, text: str, *, min_overlap: float = MIN_OVERLAP) -> str | None:
        """What the team sent for the most similar answered case on the same topic, if any is close enough."""
        own = words(text)
        if not own:
            return None
        index = self._indexes.get((network, topic))
        if index is None:
            index = self._indexes[(network, topic)] = _index(tuple(map(tuple, session.execute(
                select(m.Post.text, m.Reply.text)
                .join(m.Case, m.Post.case_id == m.Case.id)
                .join(m.Reply, m.Reply.case_id == m.Case.id)
                .where(m.Case.network == network, m.Case.topic == topic, m.Case.status == CaseStatus.ANSWERED,
                       m.Reply.kind == "public", m.Reply.status == ReplyStatus.SENT)
                .order_by(m.Reply.id.desc())
                .limit(RECENT)
            ))))
        return index.best(own, min_overlap)
