"""What one answer or status update would cost and whether it fits, the rate series behind the chart, and closing with a final word."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.charts import incident_chart
from bot.config import XConfig, XPrices
from bot.domain import incidents, spend
from bot.domain.replylength import weighted_length
from bot.domain.states import IncidentStatus
from storage import models as m

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc)
LIMITS = {"x": (280, weighted_length), "facebook": (8000, len)}
PRICE = lambda network, what, text: spend.write_cost(XConfig(), network, what, text)  # noqa: E731


def test_x_bills_each_write_by_the_price_list_and_a_link_makes_any_post_dearer():
    x = XConfig(prices=XPrices(reply=0.01, post=0.015, post_with_link=0.2, dm=0.015))
    assert spend.write_cost(x, "x", "reply", "Sorry, we're on it") == 0.01
    assert spend.write_cost(x, "x", "post", "Checkout is down") == 0.015
    assert spend.write_cost(x, "x", "reply", "Updates at status.acme.com") == 0.2
    assert spend.write_cost(x, "x", "dm", "Updates at status.acme.com") == 0.015  # a DM is billed as a DM, link or not
    assert spend.write_cost(x, "facebook", "reply", "Updates at status.acme.com") == 0.0


def _incident(session, *posts: tuple[str, str, str, str]) -> int:
    """posts: (network, handle, kind, status)."""
    incident = m.Incident(status=IncidentStatus.OPEN, title="checkout down", profile={"checkout": 1.0}, channel="C1", created_at=NOW)
    session.add(incident)
    session.flush()
    for i, (network, handle, kind, status) in enumerate(posts):
        case = m.Case(network=network, author_external_id=f"a{i}", category="complaint", channel="C1", status=status,
                      created_at=NOW + timedelta(minutes=i), incident_id=incident.id)
        session.add(case)
        session.flush()
        session.add(m.Post(network=network, external_id=f"p{i}", case_id=case.id, kind=kind, text="checkout broken", author_handle=handle,
                           slack_state="listed", created_at=case.created_at, ingested_at=case.created_at))
    session.flush()
    return incident.id


def test_the_answer_preview_counts_eligible_posts_prices_them_and_measures_the_longest_handle(db):
    with db.session() as session:
        incident_id = _incident(session, ("x", "a" * 15, "mention", "open"), ("x", "bo", "message", "open"), ("x", "cy", "mention", "answered"),
                                ("facebook", "Sam Lee", "comment", "open"))
        text = "z" * 262  # fits alone; with "@aaaaaaaaaaaaaaa " (17) it is 279, with one more character too long for X
        [fb, x], already = incidents.preview_answer(session, incident_id, text, LIMITS, PRICE)
        assert already == 1
        assert (x.network, x.writes, x.length, x.limit, x.fits) == ("x", 2, 279, 280, True)
        assert x.cost == pytest.approx(0.010 + 0.015)  # a reply, and a DM for the one who wrote privately
        assert (fb.writes, fb.cost, fb.fits) == (1, 0.0, True)
        [_, x] = incidents.preview_answer(session, incident_id, text + "z", LIMITS, PRICE)[0]
        assert (x.length, x.fits) == (280, True)
        [_, x] = incidents.preview_answer(session, incident_id, text + "zz", LIMITS, PRICE)[0]
        assert (x.length, x.fits) == (281, False)
        [_, x] = incidents.preview_answer(session, incident_id, "", LIMITS, PRICE)[0]
        assert (x.writes, x.length, x.cost) == (2, 0, 0.0)  # nothing typed yet: only who it would go to


def test_the_status_preview_is_one_post_per_account():
    [fb, x] = incidents.preview_status("Checkout is down; updates at status.acme.com", ["facebook", "x"], LIMITS, PRICE)
    assert (fb.writes, fb.cost, x.writes, x.cost) == (1, 0.0, 1, 0.2)
    [x] = incidents.preview_status("ü" * 281, ["x"], LIMITS, PRICE)
    assert not x.fits


def test_closing_is_all_or_nothing_and_only_once(db):
    with db.session() as session:
        incident_id = _incident(session, ("x", "al", "mention", "open"), ("x", "bo", "mention", "open"))
    with pytest.raises(incidents.IncidentError, match="Too long"), db.session() as session:
        incidents.close(session, incident_id, "U1", final_text="x" * 300, networks=["x"], limits=LIMITS, answer_posts=True)
    with db.session() as session:
        assert session.get(m.Incident, incident_id).status == "open"  # rolled back with the refusal
        closed = incidents.close(session, incident_id, "U1", final_text="Fixed, sorry!", networks=["x", "facebook"], limits=LIMITS, answer_posts=True)
        assert (len(closed.status_ids), closed.answered, closed.incident.status) == (2, 2, "resolved")
    with pytest.raises(incidents.IncidentError, match="is resolved"), db.session() as session:
        incidents.close(session, incident_id, "U2", final_text="Fixed!", networks=["x"], limits=LIMITS, answer_posts=True)
    with db.session() as session:
        assert len(list(session.query(m.Reply))) == 2 and len(list(session.query(m.StatusUpdate))) == 2


def test_the_rate_series_spans_the_whole_incident_and_the_chart_is_a_png(db):
    with db.session() as session:
        incident_id = _incident(session, *[("x", f"p{i}", "mention", "open") for i in range(30)])  # one a minute for 30 min
        start, bucket, counts = incidents.rate_series(session, incident_id, NOW + timedelta(hours=2), points=24)
    assert start == NOW and sum(counts) == 30 and len(counts) <= 24 + 1
    assert bucket == timedelta(minutes=5) and counts[:6] == [5, 5, 5, 5, 5, 5] and not any(counts[6:])
    png = incident_chart("checkout down", start, bucket, counts, resolved=True)
    assert png.startswith(b"\x89PNG") and len(png) > 2000
