"""An incident answer too long for X goes as Move to DM does for one card: the whole answer by DM, a short public reply saying so."""
from __future__ import annotations

from sqlalchemy import select

from bot.domain import incidents
from bot.domain.outbox import DM_PUBLIC_DEFAULT
from bot.domain.replylength import weighted_length
from bot.flows import workflows
from bot.slack.ids import Action, Block, View, incident_ref
from storage import models as m
from tests.integration.test_incident_controls import AGENT, OUTAGE, _check, _declare_with_posts, _modal, _posts_in, _submit, _typed, team  # noqa: F401

LONG = ("We're so sorry: checkout has been failing since 14:05 because a payment provider is down. No order was charged twice, "
        "and any payment that failed has been released by your bank within 3 working days. We'll post here the minute it's back; "
        "if you were charged, reply to this message with your order number.")  # 300+ weighted characters: too long to post on X


def _answer(stack, text: str):
    return _submit(stack, AGENT, View.INCIDENT_ANSWER, {Block.REPLY.value: {"incident_draft": text}})


def _drain(stack) -> None:
    while workflows.process_outbox(stack.rt):
        pass


def _x_authors(stack, tweets: list[str]) -> dict[str, str]:
    """tweet id -> its author's X user id."""
    with stack.rt.db.session() as session:
        return dict(session.execute(select(m.Post.external_id, m.Post.author_external_id).where(m.Post.external_id.in_(tweets))).all())


def test_the_preview_says_x_gets_a_short_reply_and_a_dm_and_prices_both(team):
    assert weighted_length(LONG) > 280
    _declare_with_posts(team, texts=OUTAGE[:3])
    page_post = team.graph.add_post("Black Friday!")
    team.graph.add_comment(page_post, "checkout is broken, error 500 when I pay", team.graph.add_user("Fan"))
    team.poll("facebook")
    assert _posts_in(team, 1) == 4
    shown = _check(_typed(team, _modal(team, AGENT, Action.INCIDENT_ANSWER), LONG))
    assert ":envelope: *X* · short public reply + DM for 3 posts · $0.075" in shown  # each: a DM ($0.015) and a reply ($0.010)
    assert "too long to post on X" in shown and ":no_entry:" not in shown
    assert ":white_check_mark: *Facebook* · 1 reply · free" in shown  # Facebook takes it as it is


def test_a_long_answer_reaches_each_x_author_once_by_dm_with_a_short_public_reply_and_facebook_as_written(team):
    tweets = _declare_with_posts(team, texts=OUTAGE[:3])
    page_post = team.graph.add_post("Black Friday!")
    comment = team.graph.add_comment(page_post, "checkout is broken, error 500 when I pay", team.graph.add_user("Fan"))
    team.poll("facebook")
    assert _answer(team, LONG).status_code == 200
    _drain(team)
    authors = _x_authors(team, tweets)
    team.x.wait_for(lambda: all(team.x.replies_to(t) for t in tweets), what="the public replies on X")
    for tweet in tweets:
        [dm] = [d for d in team.x.dms if d["participant_id"] == authors[tweet]]
        assert dm["text"] == LONG  # the whole answer, privately
        [public] = team.x.replies_to(tweet)
        assert public["text"].endswith(DM_PUBLIC_DEFAULT) and weighted_length(public["text"]) <= 280
    assert [c["message"] for c in team.graph.replies_to(comment)] == [LONG]
    with team.rt.db.session() as session:
        assert incidents.answer_progress(session, 1) == {"sent": 4, "queued": 0, "failed": 0}
    assert "answered already" in str(_answer(team, LONG).json()["errors"])  # a second submit reaches nobody twice
    _drain(team)
    assert len(team.x.dms) == 3 and all(len(team.x.replies_to(t)) == 1 for t in tweets)


def test_a_closed_dm_fails_that_post_without_a_public_reply_and_retry_sends_both_once(team):
    tweets = _declare_with_posts(team, texts=OUTAGE[:2])
    authors = _x_authors(team, tweets)
    team.x.add_user(authors[tweets[0]], username="person0", name="Person 0", dms_open=False)  # this author takes no DMs from the brand
    assert _answer(team, LONG).status_code == 200
    _drain(team)
    assert team.x.replies_to(tweets[0]) == []  # no "we've sent you a DM" when no DM went
    assert len(team.x.replies_to(tweets[1])) == 1 and [d["participant_id"] for d in team.x.dms] == [authors[tweets[1]]]
    with team.rt.db.session() as session:
        assert incidents.answer_progress(session, 1)["failed"] == 1
    team.x.add_user(authors[tweets[0]], username="person0", name="Person 0", dms_open=True)
    with team.rt.db.session() as session:
        assert incidents.retry_failed(session, 1, AGENT) == 1
    _drain(team)
    assert [d["participant_id"] for d in team.x.dms].count(authors[tweets[0]]) == 1
    assert len(team.x.replies_to(tweets[0])) == 1 and len(team.x.replies_to(tweets[1])) == 1
    with team.rt.db.session() as session:
        assert incidents.answer_progress(session, 1) == {"sent": 2, "queued": 0, "failed": 0}
