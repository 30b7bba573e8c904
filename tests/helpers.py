"""Helpers the tests share: the repository root, and the moves a person makes on the emulated stack."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAYLOADS = ROOT / "tests" / "payloads"


# -- reading the stack -------------------------------------------------------------


def case_of(stack, case_id: int | None = None):
    """A case with its posts and replies loaded; without an id, the only case there is (fails if there are more)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from storage import models as m

    query = select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies))
    with stack.rt.db.session() as session:
        if case_id is not None:
            return session.scalars(query.where(m.Case.id == case_id)).one()
        cases = list(session.scalars(query))
    assert len(cases) == 1, cases
    return cases[0]


def only_case(stack):
    return case_of(stack)


def open_case(stack, text: str, *, customer: dict | None = None, username: str = "mo", name: str = "Mo Farah", followers: int = 10):
    """A customer's post on the emulated X, polled in: (the post's id, its case)."""
    customer = customer or stack.x.add_user(username=username, name=name, followers=followers)
    tweet_id = stack.x.add_tweet(text, customer)
    [case_id] = stack.poll().new_cases
    return tweet_id, case_of(stack, case_id)


def buttons(message: dict) -> list[str]:
    """The labels of a message's buttons, in order."""
    return [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def dms(stack, user: str) -> list[dict]:
    """Every direct message the bot sent one person."""
    from slack_sdk import WebClient

    client = WebClient(token=stack.slack.token, base_url=stack.slack.api_url)
    return stack.slack.messages(client.conversations_open(users=user)["channel"]["id"])


def make_team(make_stack, time_machine, config, people: dict[str, str], at):
    """A stack at a fixed moment (time keeps ticking) whose Slack knows these people (id -> name)."""
    time_machine.move_to(at, tick=True)
    stack = make_stack(config=config)
    for user, name in people.items():
        stack.slack.add_user(user, name)
    return stack


def count(stack, model) -> int:
    """How many rows of a model the database holds."""
    from sqlalchemy import func, select

    with stack.rt.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))
