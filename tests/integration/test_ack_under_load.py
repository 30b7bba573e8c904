"""Clicks are acknowledged within Slack's 3 seconds whatever the Slack Web API or the networks are doing."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from bot.slack.ids import Action
from storage import models as m


def test_clicks_are_acknowledged_in_time_while_slack_and_x_hang(stack):
    for i in range(12):
        stack.x.add_tweet(f"@acme my order {i} never arrived and nobody answers, refund please", stack.x.add_user(username=f"c{i}"))
    stack.poll()
    with stack.rt.db.session() as session:
        case_ids = list(session.scalars(select(m.Case.id)))
    assert len(case_ids) == 12
    stack.slack.fail("chat.update", status=None, delay=6, times=100)
    stack.slack.fail("chat.postMessage", status=None, delay=6, times=100)
    stack.x.fail("create_tweet", status=None, delay=6, times=100)

    def click(case_id):
        started = time.monotonic()
        response = stack.click("U0AGENT", Action.APPROVE, case_id, timeout=10)
        return response.status_code, time.monotonic() - started

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(click, case_ids))
    assert all(code == 200 for code, _ in answers), answers
    assert max(took for _, took in answers) < 3, answers
    with stack.rt.db.session() as session:  # every acknowledged approval is in the outbox
        assert session.scalar(select(m.Reply.id).where(m.Reply.case_id.in_(case_ids)).limit(1)) is not None
        assert len(set(session.scalars(select(m.Reply.case_id)))) == 12
    stack.slack.clear_faults()
    stack.x.clear_faults()
