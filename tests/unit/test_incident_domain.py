"""Spike detection and grouping on a real SQLite file: baselines, minimum volume, cooldown, who may join."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import IncidentsConfig
from bot.domain import grouping, incidents
from storage import models as m

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc)  # a Monday afternoon
SET = Path(__file__).resolve().parents[1] / "data" / "incident_set.jsonl"


def _post(session, text: str, at: datetime, *, network: str = "x", category: str = "complaint", state: str = "pending") -> int:
    case = m.Case(network=network, author_external_id=f"a{at.timestamp()}{text[:5]}", category=category, channel="C1", created_at=at)
    session.add(case)
    session.flush()
    session.add(m.Post(network=network, external_id=f"{case.id}", case_id=case.id, text=text, slack_state=state, created_at=at, ingested_at=at))
    session.flush()
    return case.id


def _burst(session, n: int, at: datetime, text: str = "@acme checkout error 500 again", **kw) -> list[int]:
    return [_post(session, f"{text} #{i}", at - timedelta(seconds=i * 7), **kw) for i in range(n)]


def test_the_baseline_follows_the_hour_and_the_weekday(db):
    config = IncidentsConfig(min_posts=10, spike_factor=3)
    with db.session() as session:
        for week in range(1, 5):  # Monday lunchtimes are always this busy
            _burst(session, 30, NOW - timedelta(weeks=week), text="@acme my parcel is late", state="posted")
        _burst(session, 30, NOW, text="@acme my parcel is late")
        assert incidents.spikes(session, NOW, config) == []  # as usual for this hour and day
        assert incidents.baseline(session, "x", NOW, config) == pytest.approx(30)
        # the same thirty at 4 a.m. on Tuesday, when it is usually quiet, is a spike
        night = NOW + timedelta(hours=14)
        _burst(session, 30, night)
        [spike] = incidents.spikes(session, night, config)
        assert (spike.network, spike.observed, spike.usual) == ("x", 30, 0)


def test_a_handful_of_posts_is_never_a_crisis(db):
    config = IncidentsConfig(min_posts=20)
    with db.session() as session:
        _burst(session, 19, NOW)
        assert incidents.spikes(session, NOW, config) == []
        assert incidents.detect(session, channel="C1", config=config, now=NOW) == []
        _post(session, "@acme checkout error 500 once more", NOW)
        assert incidents.detect(session, channel="C1", config=config, now=NOW) == [1]


def test_the_cooldown_keeps_one_crisis_from_alerting_ten_times(db):
    config = IncidentsConfig(min_posts=10, cooldown="30m")
    with db.session() as session:
        _burst(session, 12, NOW)
        assert incidents.detect(session, channel="C1", config=config, now=NOW) == [1]
        later = NOW + timedelta(minutes=12)
        _burst(session, 12, later, text="@acme the app login is broken, invalid session")
        assert incidents.detect(session, channel="C1", config=config, now=later) == []  # cooling down
        much_later = NOW + timedelta(minutes=35)
        _burst(session, 12, much_later, text="@acme the app login is broken, invalid session")
        assert incidents.detect(session, channel="C1", config=config, now=much_later) == [2]


def test_posts_already_in_slack_keep_their_cards_and_unrelated_ones_stay_out(db):
    config = IncidentsConfig(min_posts=10)
    with db.session() as session:
        carded = _burst(session, 3, NOW, state="posted")
        waiting = _burst(session, 12, NOW - timedelta(seconds=1))
        other = _post(session, "@acme my parcel never arrived", NOW)
        [incident_id] = incidents.detect(session, channel="C1", config=config, now=NOW)
        members = set(session.scalars(select(m.Case.id).where(m.Case.incident_id == incident_id)))
        assert members == set(waiting)
        assert not members & set(carded) and other not in members
        states = set(session.scalars(select(m.Post.slack_state).where(m.Post.case_id.in_(waiting))))
        assert states == {incidents.WAITING}  # no card will be posted for them


def _labelled():
    return [json.loads(line) for line in SET.read_text().splitlines()]


def test_safety_and_legal_complaints_never_join_even_when_they_name_the_problem(db):
    rows = _labelled()
    assert len(rows) >= 2000
    with db.session() as session:
        opened = []
        for crisis in ("checkout", "login", "promo"):
            texts = [r["text"] for r in rows if r["topic"] == crisis][:200]
            opened.append(m.Incident(status="open", title=crisis, channel="C1", created_at=NOW,
                                     profile=grouping.profile(grouping.terms(t) for t in texts)))
        session.add_all(opened)
        session.flush()
        urgent = [r for r in rows if r["urgent"]]
        assert len(urgent) >= 50
        for row in urgent:
            assert incidents.best_incident(row["text"], "complaint", opened, 0.6) is None, row["text"]
        # and near-duplicates or same-topic posts do join the right one
        for text, crisis in (("is the site down?? @acme", "checkout"), ("@acme can't pay, error 500", "checkout"),
                             ("@acme login keeps failing on the app", "login"), ("@acme SAVE20 says invalid", "promo")):
            joined = incidents.best_incident(text, "complaint", opened, 0.6)
            assert joined is not None and joined.title == crisis, text
        unrelated = [r for r in rows if r["topic"] == "none" and not r["urgent"]]
        swallowed = [r["text"] for r in unrelated if incidents.best_incident(r["text"], r["category"], opened, 0.6)]
        assert len(swallowed) <= len(unrelated) * 0.03, swallowed[:10]


def test_praise_and_spam_never_join():
    profile = {"checkout": 1.0, "site": 0.5}
    incident = m.Incident(id=1, status="open", title="checkout", profile=profile)
    assert incidents.best_incident("@acme checkout was so fast, love it", "praise", [incident], 0.6) is None
    assert incidents.best_incident("@acme checkout broken", "spam", [incident], 0.6) is None
    assert incidents.best_incident("@acme checkout broken", "complaint", [incident], 0.6) is incident


def test_terms_ignore_handles_links_and_filler():
    assert grouping.terms("@acme Is the SITE down?? https://t.co/x #fail") == {"site", "down", "site down"}
    assert "cannot" in grouping.terms("I can't pay") and "pay" in grouping.terms("payment failed")


def test_stats_count_incidents_their_posts_duration_and_time_to_the_answer(db):
    from bot.slack.stats_blocks import incident_line

    config = IncidentsConfig(min_posts=10)
    with db.session() as session:
        _burst(session, 12, NOW)
        [incident_id] = incidents.detect(session, channel="C1", config=config, now=NOW)
        session.add(m.AuditEvent(actor="U1", action="incident_answered", detail={"incident_id": incident_id, "posts": 12},
                                 created_at=NOW + timedelta(minutes=9)))
        incidents.resolve(session, incident_id, "U1", now=NOW + timedelta(hours=2))
        n = incidents.numbers(session, NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (n.opened, n.posts, n.median_duration, n.median_to_answer, n.median_to_status, n.open_now) == (1, 12, 7200, 540, None, 0)
    assert "*1* opened, *12* posts" in incident_line(n) and "9 min" in incident_line(n)


def test_phrases_are_what_people_wrote_each_word_once():
    """A pair never spans a dropped word or punctuation ("check out, error" is not "check error")."""
    texts = ["@acme is the website down? can't log in or check out, error 503 everywhere"] * 8 + ["@acme checkout is broken, can't pay"]
    assert "check error" not in grouping.terms(texts[0]) and "down cannot" not in grouping.terms(texts[0])
    phrases = grouping.top_phrases(grouping.profile(grouping.terms(t) for t in texts))
    assert set(phrases[:3]) == {"site down", "503 everywhere", "cannot login"}
    words = [w for p in phrases for w in p.split()]
    assert len(words) == len(set(words))
