"""A big burst said several ways, arriving network by network, is one incident, not thousands of cards.

Replays what the crisis benchmark showed (bench/bench_incident.py --posts 10000): Facebook
webhooks arrive at once and open the incident with two phrasings; X polls then bring the
others ("is the site down??", "can't pay, error 500"), which fit nothing the incident had
learnt, so they got cards and the cooldown kept a second incident from opening. Real SQLite
file, the real domain functions in the order the incident job calls them.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from bot.config import IncidentsConfig
from bot.domain import incidents
from storage import models as m

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc)
FACEBOOK = ["@acme checkout is broken", "@acme checkout down for everyone?", "@acme checkout is broken, again"]
X = ["@acme is the site down??", "@acme your site is down, can't check out", "@acme payment page won't load, site down?",
     "@acme can't pay, error 500", "@acme error 500 when I try to pay"]


def _post(session, text: str, at: datetime, network: str, category: str = "complaint") -> int:
    case = m.Case(network=network, author_external_id=f"{network}{at.timestamp()}{text}", category=category, channel="C1", created_at=at)
    session.add(case)
    session.flush()
    session.add(m.Post(network=network, external_id=str(case.id), case_id=case.id, text=text, slack_state="pending", created_at=at, ingested_at=at))
    session.flush()
    return case.id


def _ingest(session, texts: list[str], at: datetime, network: str, config: IncidentsConfig) -> list[int]:
    """What ingest does: store, then offer the new cases to the open incidents (absorb)."""
    ids = [_post(session, text, at, network) for text in texts]
    incidents.place(session, ids, threshold=config.join_score)
    return ids


def _tick(session, at: datetime, config: IncidentsConfig) -> list[int]:
    """What the incident job does every 5 s: detect, then re-learn each open incident."""
    opened = incidents.detect(session, channel="C1", config=config, now=at)
    for incident in session.scalars(select(m.Incident).where(m.Incident.status == "open")):
        incidents.learn(session, incident)
    return opened


def _carded(session, ids: list[int]) -> list[int]:
    return list(session.scalars(select(m.Case.id).where(m.Case.id.in_(ids), m.Case.incident_id.is_(None))))


def test_a_burst_said_several_ways_over_two_networks_is_one_incident(db):
    config = IncidentsConfig()
    with db.session() as session:
        first = _ingest(session, [f"{FACEBOOK[i % 3]} ({i})" for i in range(60)], NOW, "facebook", config)
        assert _tick(session, NOW + timedelta(seconds=1), config) == [1]
        assert _carded(session, first) == []
        # the X poll brings the other phrasings: they do not fit what the incident knows yet
        later = [f"{X[i % len(X)]} ({i})" for i in range(300)]
        x_ids = _ingest(session, later, NOW + timedelta(seconds=5), "x", config)
        assert len(_carded(session, x_ids)) == 300  # at ingest each would get a card
        for k in range(2, 4):  # inside the cooldown, as the burst goes on
            assert _tick(session, NOW + timedelta(seconds=5 * k), config) == []
        assert _carded(session, x_ids) == []  # they joined the incident instead
        assert session.scalar(select(func.count(m.Incident.id))) == 1
        # and the incident now knows how they say it: the next ones join at ingest
        more = _ingest(session, [f"{X[i % len(X)]} (again {i})" for i in range(20)], NOW + timedelta(seconds=30), "x", config)
        assert _carded(session, more) == []


def test_safety_complaints_and_posts_a_person_moved_out_stay_out_of_the_grown_incident(db):
    config = IncidentsConfig()
    with db.session() as session:
        _ingest(session, [f"{FACEBOOK[i % 3]} ({i})" for i in range(60)], NOW, "facebook", config)
        _tick(session, NOW + timedelta(seconds=1), config)
        x_ids = _ingest(session, [f"{X[i % len(X)]} ({i})" for i in range(300)], NOW + timedelta(seconds=5), "x", config)
        safety = _ingest(session, [f"@acme is the site down?? my charger caught fire ({i})" for i in range(5)], NOW + timedelta(seconds=5), "x", config)
        # someone takes one post out of the incident by hand: a card of its own, for good
        moved = _ingest(session, ["@acme checkout down for everyone? (moved)"], NOW + timedelta(seconds=5), "facebook", config)[0]
        incidents.move_out(session, moved, "U1")
        _tick(session, NOW + timedelta(seconds=10), config)
        assert _carded(session, x_ids) == []
        assert sorted(_carded(session, safety + [moved])) == sorted(safety + [moved])
        states = set(session.scalars(select(m.Post.slack_state).where(m.Post.case_id.in_(safety + [moved]))))
        assert states == {"pending"}  # their cards still go out


def test_a_pulse_of_one_phrasing_does_not_make_the_incident_forget_the_others(db):
    """X arrives in poll pulses: the latest few hundred posts can all say it one way."""
    config = IncidentsConfig()
    with db.session() as session:
        mixed = [("@acme is the site down??" if i % 2 else "@acme checkout error 500") + f" ({i})" for i in range(200)]
        _ingest(session, mixed, NOW, "facebook", config)
        assert _tick(session, NOW + timedelta(seconds=1), config) == [1]
        pulse = _ingest(session, [f"@acme checkout error 500 ({i})" for i in range(400)], NOW + timedelta(seconds=5), "x", config)
        assert _carded(session, pulse) == []
        _tick(session, NOW + timedelta(seconds=10), config)
        late = _ingest(session, [f"@acme is the site down?? (late {i})" for i in range(5)], NOW + timedelta(seconds=12), "facebook", config)
        assert _carded(session, late) == []


def test_within_the_cooldown_only_a_large_group_that_fits_no_incident_opens_another(db):
    config = IncidentsConfig(min_posts=10, cooldown="30m", large_group=40)
    with db.session() as session:
        _ingest(session, [f"@acme checkout error 500 again #{i}" for i in range(12)], NOW, "x", config)
        assert _tick(session, NOW, config) == [1]
        later = NOW + timedelta(minutes=5)
        # a second, unrelated problem, but small: cards, no second alert in the cooldown
        small = _ingest(session, [f"@acme the app login is broken, invalid session #{i}" for i in range(39)], later, "x", config)
        assert _tick(session, later, config) == []
        assert len(_carded(session, small)) == 39
        # one more makes it as large as `large_group`: one more incident beats forty cards
        small += _ingest(session, ["@acme the app login is broken, invalid session #39"], later, "x", config)
        assert _tick(session, later + timedelta(seconds=5), config) == [2]
        assert _carded(session, small) == []
        assert set(session.scalars(select(m.Case.incident_id).where(m.Case.id.in_(small)))) == {2}
        assert session.scalar(select(m.AuditEvent.detail).where(m.AuditEvent.action == "incident_opened").order_by(m.AuditEvent.id.desc()))["during_cooldown"]
