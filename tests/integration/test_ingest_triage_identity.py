"""Triage in claimed batches decides exactly what one post at a time decided: category, priority, reasons, route."""
from __future__ import annotations

import csv
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select

from bot.config import FileConfig
from bot.domain import ingest, routing
from bot.domain.posts import Author, Post
from bot.flows import workflows
from bot.triage import classify
from storage import models as m

HARD_CASES = Path(__file__).resolve().parents[1] / "data" / "hard_cases.csv"
KINDS = ("mention", "mention", "comment", "search", "rating")


def corpus() -> list[Post]:
    with HARD_CASES.open(newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    now = datetime.now(timezone.utc)
    return [
        Post(network="x" if i % 3 else "facebook", external_id=f"p{i}", text=text, kind=KINDS[i % len(KINDS)],
             # Few authors, so many complain again within one batch: the "complained before" reason must still be right.
             author=Author(external_id=f"a{i % 17}", handle=f"h{i % 17}", name=f"Name {i % 17}", followers=(i * 7919) % 60_000),
             engagement=(i * 31) % 400, verdict="negative" if i % 11 == 0 else "", created_at=now)
        for i, text in enumerate(texts)
    ]


def one_by_one(posts: list[Post], config: FileConfig) -> dict[str, tuple]:
    """What ingest decided before the stages: classify each post alone, in order, counting the author's complaints so far."""
    complaints: dict[tuple[str, str], int] = {}
    out = {}
    for post in posts:
        key = (post.network, post.author.external_id)
        triage = classify(post.text, followers=post.author.followers, engagement=post.engagement, prior_complaints=complaints.get(key, 0))
        triage = ingest._with_verdict(triage, post.verdict)
        route = routing.decide(triage, kind=post.kind, routing=config.routing)
        if route == "card" and triage.category == "complaint":
            complaints[key] = complaints.get(key, 0) + 1
        card = route == "card"
        out[post.external_id] = (triage.category, route, triage.priority if card else None, tuple(triage.reasons) if card else ())
    return out


def test_batched_two_stage_triage_gives_what_one_by_one_gave(db):
    posts = corpus()
    config = FileConfig()
    rt = SimpleNamespace(db=db, config=config, channel="C0CASES", stopping=threading.Event())
    with db.session() as session:
        assert len(ingest.store(session, posts, own_ids=set()).stored) == len(posts)
    result = workflows.triage_stored(rt, batch=64)
    assert result.set_aside == 0 and not result.follow_ups
    with db.session() as session:
        got = {}
        for post, case in session.execute(select(m.Post, m.Case).outerjoin(m.Case, m.Post.case_id == m.Case.id)):
            route = "card" if case else "lane" if post.slack_state == "lane" else "hidden"
            got[post.external_id] = (post.category, route, case.priority if case else None, tuple(case.reasons) if case else ())
    expected = one_by_one(posts, config)
    assert {k: (got[k], v) for k, v in expected.items() if got[k] != v} == {}
    # The set really exercises what batching could get wrong: repeat complainers, every route, negative reviews.
    assert sum(1 for v in expected.values() if any(r.startswith("complained") for r in v[3])) >= 10
    assert {v[1] for v in expected.values()} == {"card", "lane", "hidden"}
    assert any("negative review" in v[3] for v in expected.values())


def test_follow_ups_join_their_case_within_one_batch_and_across_batches(db):
    rt = SimpleNamespace(db=db, config=FileConfig(), channel="C0CASES", stopping=threading.Event())
    now = datetime.now(timezone.utc)

    def post(pid: str, author: str, *, conversation: str = "", reply_to: str = "", later: timedelta = timedelta()) -> Post:
        return Post(network="x", external_id=pid, text=f"@acme my order {pid} never arrived, refund me", created_at=now + later,
                    author=Author(external_id=author, handle=author), conversation_id=conversation, in_reply_to_id=reply_to)

    with db.session() as session:
        ingest.store(session, [post("A", "a1", conversation="c1")], own_ids=set())
    first = workflows.triage_stored(rt)
    with db.session() as session:
        ingest.store(session, [
            post("B", "a1", conversation="c1"),                       # follows A's case (an earlier batch)
            post("C", "a2", conversation="c2"),                       # a new case...
            post("D", "a2", conversation="c2"),                       # ...followed up in the same batch
            post("E", "a2", reply_to="C"),                            # answers C: joins C's case
            post("F", "a3", conversation="c1"),                       # someone else in A's thread: a case of their own
            post("G", "a1", conversation="c1", later=timedelta(days=8)),  # too long after A's case: a new one
            post("H", "a1", reply_to="F"),                            # answers F, but F's case is not a1's
        ], own_ids=set())
    second = workflows.triage_stored(rt)
    with db.session() as session:
        case_of = dict(session.execute(select(m.Post.external_id, m.Post.case_id)).all())
        follow_ups = {p for p, in session.execute(
            select(m.Post.external_id).where(m.Post.id.in_(second.follow_ups)))}
    assert len(first.new_cases) == 1 and len(second.new_cases) == 4 and follow_ups == {"B", "D", "E"}
    assert case_of["B"] == case_of["A"] and case_of["D"] == case_of["E"] == case_of["C"]
    assert len({case_of[p] for p in "ACFGH"}) == 5
