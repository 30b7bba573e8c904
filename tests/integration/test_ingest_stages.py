"""Ingest in two stages: stored with the cursor, triaged in claimed batches, resumed after a crash, bad posts set aside."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timezone

import pytest
import requests
from sqlalchemy import event, func, select

from bot.domain import ingest
from bot.domain.posts import Author, Post
from bot.emulators.stack import card_text
from bot.flows import workflows
from bot.runtime import build_runtime
from storage import models as m

COMPLAINT = "@acme my order never arrived and nobody answers my emails. I want a refund"
AGENT = "U0AGENT"


def count(stack, model, *where) -> int:
    with stack.rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def posts(n: int, *, network: str = "x", start: int = 0, text: str = COMPLAINT) -> list[Post]:
    now = datetime.now(timezone.utc)
    return [
        Post(network=network, external_id=str(1000 + start + i), text=f"{text} #{start + i}",
             author=Author(external_id=f"u{start + i}", handle=f"user{start + i}", name=f"User {start + i}"), created_at=now)
        for i in range(n)
    ]


def get(stack, path: str) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False
        return http.get(f"{stack.url}{path}", timeout=10)


def test_a_poll_stores_its_batch_with_the_cursor_and_triage_follows(stack, customer):
    for i in range(5):
        stack.x.add_tweet(f"{COMPLAINT} ({i})", customer)
    result = stack.poll()
    assert len(result.stored) == 5 and len(result.new_cases) + len(result.follow_ups) == 5
    with stack.rt.db.session() as session:
        assert session.get(m.Cursor, "x:mentions").value == max(session.scalars(select(m.Post.external_id)), key=int)
        assert set(session.scalars(select(m.Post.triage_state))) == {"done"}
    assert len(stack.cards()) == 5
    assert stack.poll().stored == [] and count(stack, m.Post) == 5


def test_a_crash_between_storing_and_moving_the_cursor_stores_nothing_and_the_next_poll_stores_each_post_once(stack, customer):
    """The write of the cursor fails inside the poll's transaction: the posts written before it are rolled back with it."""
    for i in range(4):
        stack.x.add_tweet(f"{COMPLAINT} ({i})", customer)

    def crash_on_cursor(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("INSERT INTO CURSORS", "UPDATE CURSORS")):
            raise RuntimeError("killed between storing the posts and moving the cursor")

    event.listen(stack.rt.db.engine, "before_cursor_execute", crash_on_cursor)
    try:
        with pytest.raises(RuntimeError, match="killed between"):
            stack.poll()
    finally:
        event.remove(stack.rt.db.engine, "before_cursor_execute", crash_on_cursor)
    assert count(stack, m.Post) == 0 and count(stack, m.Cursor) == 0
    stack.restart()
    result = stack.poll()
    assert len(result.stored) == 4 and len(result.new_cases) == 4
    assert count(stack, m.Post) == 4 and len(stack.cards()) == 4
    assert stack.poll().stored == [] and len(stack.cards()) == 4


def test_posts_stored_by_a_process_that_died_before_triage_are_carded_after_restart(stack):
    """The crash window the issue found: stored, cursor moved, killed before any case existed."""
    for i in range(3):
        stack.x.add_tweet(f"{COMPLAINT} ({i})", stack.x.add_user(username=f"c{i}"))
    fetched = stack.rt.networks["x"].fetch({})
    with stack.rt.db.session() as session:  # exactly what poll() commits before triage
        ingest.store(session, fetched.posts, own_ids=set())
        session.add(m.Cursor(stream="x:mentions", value=fetched.cursors["x:mentions"]))
    stack.restart()
    assert stack.poll().stored == []  # the cursor moved: X gives nothing again...
    stack.slack.wait_for(lambda: len(stack.cards()) == 3, what="three cards")  # ...and yet every post is carded
    with stack.rt.db.session() as session:
        stored = sorted(session.scalars(select(m.Post.id)))
    assert sorted(c["metadata"]["event_payload"]["post_id"] for c in stack.cards()) == stored
    assert count(stack, m.Case) == 3


def test_a_claim_left_by_a_dead_process_is_taken_over_once_stale_and_only_once(stack, time_machine):
    time_machine.move_to(datetime.now(timezone.utc), tick=True)
    with stack.rt.db.session() as session:
        ingest.store(session, posts(4), own_ids=set())
    with stack.rt.db.session() as session:
        dead = ingest.claim(session, "dead-process", limit=10)
    assert len(dead) == 4
    assert workflows.triage_stored(stack.rt).new_cases == []  # still claimed by someone who may be alive
    time_machine.shift(ingest.CLAIM_STALE.total_seconds() + 1)
    assert len(workflows.triage_stored(stack.rt).new_cases) == 4
    # The dead process wakes up and tries to settle its old claim: nothing happens twice.
    with stack.rt.db.session() as session:
        late = ingest.settle(session, "dead-process", {i: ingest.not_triaged(ValueError("late")) for i in dead},
                             config=stack.rt.config, channel=stack.rt.channel)
    assert late.new_cases == [] and late.set_aside == 0 and count(stack, m.Case) == 4


def test_two_processes_triaging_the_same_posts_open_each_case_once(stack):
    with stack.rt.db.session() as session:
        ingest.store(session, posts(120), own_ids=set())
    other = build_runtime(stack.settings(), stack.config)
    results, errors = [], []
    all_hold_a_claim = threading.Barrier(3, timeout=20)
    local = threading.local()

    def classifier(items):
        # Each worker holds its first claim until all three do: the claims really overlap in time.
        if not getattr(local, "waited", False):
            local.waited = True
            all_hold_a_claim.wait()
        return ingest.classify_all(items)

    def run(rt):
        try:
            results.append(workflows.triage_stored(rt, batch=8, classifier=classifier))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(rt,)) for rt in (stack.rt, other, stack.rt)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    other.close()
    assert not errors
    opened = [c for r in results for c in r.new_cases]
    assert len(opened) == len(set(opened)) == 120 == count(stack, m.Case)
    assert all(r.new_cases for r in results)  # the work really was shared
    with stack.rt.db.session() as session:
        per_case = session.execute(select(m.Post.case_id, func.count()).group_by(m.Post.case_id)).all()
        audits = session.scalar(select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.action == "opened"))
    assert all(n == 1 for _, n in per_case) and len(per_case) == 120 and audits == 120


def test_a_lone_surrogate_in_a_mention_does_not_stop_the_mentions_after_it(stack, customer):
    other = stack.x.add_user(username="casey", name="Casey \ud800 Q")
    stack.x.add_tweet("@acme broken \ud800 text and my refund is late", other)
    stack.x.add_tweet(COMPLAINT, customer)
    stack.poll()
    assert len(stack.cards()) == 2
    stack.x.add_tweet("@acme and now the app crashes on login", stack.x.add_user(username="sam"))
    stack.poll()
    assert count(stack, m.Post) == 3 and len(stack.cards()) == 3
    text = "\n".join(card_text(c) for c in stack.cards())
    assert "broken \ufffd text" in text and "Casey \ufffd Q" in text


def test_a_lone_surrogate_in_a_signed_webhook_is_stored_and_carded_not_a_500(stack, customer):
    tweet_id = stack.x.add_tweet("@acme where is my refund \ud800", customer)
    response = stack.x_webhook([tweet_id])
    assert response.status_code == 200
    card = stack.slack.wait_for(lambda: stack.cards(), what="the card")[0]
    assert "where is my refund \ufffd" in card_text(card)


def test_a_webhooks_posts_are_stored_when_it_is_acknowledged_and_triaged_after(stack, customer):
    ids = [stack.x.add_tweet(f"{COMPLAINT} ({i})", customer) for i in range(3)]
    assert stack.x_webhook(ids).status_code == 200
    with stack.rt.db.session() as session:  # no waiting: the 200 came after the commit
        assert sorted(session.scalars(select(m.Post.external_id))) == sorted(ids)
    stack.slack.wait_for(lambda: count(stack, m.Post, m.Post.triage_state == "done") == 3, what="triage after the ack")
    stack.slack.wait_for(lambda: len(stack.cards()) == 1, what="one case, two follow-ups in its thread")


def test_a_post_triage_cannot_read_is_carded_as_not_triaged_counted_and_reviewable(stack):
    with stack.rt.db.session() as session:
        ingest.store(session, posts(6), own_ids=set())

    def classifier(items):
        return [ValueError("TextInputSequence must be str") if item.text.endswith("#3") else ingest.classify_each([item])[0]
                for item in items]

    result = workflows.triage_stored(stack.rt, classifier=classifier)
    assert len(result.new_cases) == 6 and result.set_aside == 1
    workflows.deliver(stack.rt)
    [odd] = [c for c in stack.cards() if "#3" in card_text(c)]
    assert "not triaged" in card_text(odd) and "ValueError" in card_text(odd)
    health = get(stack, "/healthz").json()
    assert health["ingest"]["set_aside"] == 1 and "TextInputSequence must be str" in health["ingest"]["latest_reason"]
    assert health["ingest"]["waiting_for_triage"] == 0
    assert "socialdesk_posts_set_aside_kept 1.0" in get(stack, "/metrics").text
    with stack.rt.db.session() as session:
        assert session.get(m.Counter, (datetime.now(timezone.utc).date().isoformat(), "set_aside")).value == 1
    review = stack.command(AGENT, "review set_aside").json()
    listed = str(review["blocks"])
    assert "#3" in listed and "TextInputSequence must be str" in listed and "#4" not in listed


def test_a_post_no_case_can_be_written_for_goes_to_the_lane_with_the_reason_and_the_rest_go_on(stack):
    with stack.rt.db.session() as session:
        ingest.store(session, posts(3), own_ids=set())

    def classifier(items):
        # The middle post gets a triage the case table cannot store: its write fails on its own.
        return [replace(t, reasons=(object(),)) if item.text.endswith("#1") else t for item, t in zip(items, ingest.classify_each(items))]

    result = workflows.triage_stored(stack.rt, classifier=classifier)
    assert len(result.new_cases) == 2 and result.set_aside == 1
    with stack.rt.db.session() as session:
        kept = session.scalars(select(m.Post).where(m.Post.triage_state == "set_aside")).one()
        assert kept.text.endswith("#1") and kept.case_id is None and kept.slack_state == "lane"
        assert "not JSON serializable" in kept.triage_error
    assert count(stack, m.Post, m.Post.triage_state.in_(("new", "claimed"))) == 0
    assert workflows.triage_stored(stack.rt).set_aside == 0  # not retried blindly
    workflows.deliver(stack.rt)
    [lane] = stack.lanes()
    assert "#1" in card_text(lane) and "not JSON serializable" in card_text(lane)
    assert len(stack.cards()) == 2


def test_the_brands_own_posts_are_stored_hidden_at_once_and_never_triaged(stack):
    with stack.rt.db.session() as session:
        brand = ingest.store(session, [*posts(2, start=60), *posts(1)], own_ids={"u60", "u61"})
    assert brand.dropped == 2 and len(brand.stored) == 1
    with stack.rt.db.session() as session:
        rows = session.scalars(select(m.Post).where(m.Post.author_external_id.in_(("u60", "u61")))).all()
        assert {(p.category, p.slack_state, p.triage_state) for p in rows} == {("own", "hidden", "done")}
    assert len(workflows.triage_stored(stack.rt).new_cases) == 1
    assert count(stack, m.Case) == 1
    with stack.rt.db.session() as session:
        again = ingest.store(session, posts(2, start=60), own_ids={"u60", "u61"})
    assert again.duplicates == 2 and again.dropped == 0


def test_a_burst_of_deliveries_starts_one_triage_loop_not_one_per_delivery(stack):
    """The background pool also sends replies and edits cards: triage must not take every worker."""
    started, release, runs = threading.Event(), threading.Event(), []

    def work():
        runs.append(threading.get_ident())
        started.set()
        release.wait(10)

    stack.rt.submit_single("triage-test", work)
    assert started.wait(10)
    for _ in range(20):  # twenty deliveries while it runs
        stack.rt.submit_single("triage-test", work)
    release.set()
    stack.slack.wait_for(lambda: "triage-test" not in stack.rt._singles, timeout=10, what="the loop ended")
    assert len(runs) == 2  # the run under way, then once more for everything asked meanwhile
