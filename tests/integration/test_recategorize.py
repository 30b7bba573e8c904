"""Re-filing a card triage got wrong (complaint / question / praise), and feeding that back to training."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.flows import escalation
from bot.config import FileConfig, OncallConfig, RolesConfig, SlaConfig
from bot.domain import sla
from bot.domain.cases import CaseError, dismiss, recategorize
from bot.domain.corrections import stored_corrections
from bot.emulators import slack_client
from bot.emulators.stack import CHANNEL, card_text
from bot.slack import blocks
from bot.slack.ids import Action, StaleReference, parse_case_ref
from bot.triage import Triage, suggest_reply
from handlers.common import NOT_ALLOWED, STALE
from storage import models as m
from storage.db import Database, alembic_config, upgrade
from tests.helpers import case_of, dms, make_team, open_case

COMPLAINT = "@acme my parcel has been lost for two weeks and nobody replies to my emails"  # triage: complaint, normal
UTC = timezone.utc


# -- helpers ---------------------------------------------------------------------


def open_card(stack, text: str = COMPLAINT, *, username: str = "mo", followers: int = 10) -> m.Case:
    """A case whose card is in the channel."""
    _, case = open_case(stack, text, username=username, followers=followers)
    stack.slack.wait_for(lambda: case_of(stack, case.id).card_ts, what="the card")
    return case_of(stack, case.id)


def card(stack, case: m.Case) -> dict:
    return next(c for c in stack.cards() if c["ts"] == case.card_ts)


def actions_of(message: dict) -> list[dict]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def refile_menu(message: dict) -> dict | None:
    return next((e for e in actions_of(message) if e.get("action_id") == Action.RECATEGORIZE), None)


def option_for(message: dict, category: str) -> dict:
    return next(o for o in refile_menu(message)["options"] if json.loads(o["value"])["category"] == category)


def choose(stack, user: str, message: dict, value: str):
    """What Slack sends when someone picks an option in the card's overflow menu."""
    body = slack_client.block_actions(user, Action.RECATEGORIZE, value, channel=CHANNEL, message_ts=message["ts"], message_blocks=message["blocks"])
    response = stack.send_to_slack_endpoint(body)
    assert response.status_code == 200
    return response


def refile(stack, user: str, case: m.Case, category: str):
    message = card(stack, case)
    return choose(stack, user, message, option_for(message, category)["value"])


def audit_actions(stack, case_id: int) -> list[m.AuditEvent]:
    with stack.rt.db.session() as session:
        return list(session.scalars(select(m.AuditEvent).where(m.AuditEvent.case_id == case_id).order_by(m.AuditEvent.id)))


def told(stack, fragment: str) -> str:
    """Wait for the ephemeral message that contains `fragment`, and return its text."""
    return stack.slack.wait_for(
        lambda: next((e["text"] for e in stack.slack.ephemerals if fragment in e["text"]), None), what=f"ephemeral {fragment!r}"
    )


def assert_valid_actions_block(block: dict) -> None:
    """The Block Kit limits Slack enforces on a card's actions block (it rejects the whole message otherwise)."""
    assert block["type"] == "actions"
    elements = block["elements"]
    assert 1 <= len(elements) <= 25
    ids = [e["action_id"] for e in elements]
    assert len(ids) == len(set(ids)), ids
    for element in elements:
        if element["type"] == "overflow":
            assert 2 <= len(element["options"]) <= 5
            assert "placeholder" not in element
        if element["type"] in ("overflow", "static_select"):
            for option in element["options"]:
                assert option["text"]["type"] == "plain_text" and 1 <= len(option["text"]["text"]) <= 75
                assert 1 <= len(option["value"]) <= 150
            values = [o["value"] for o in element["options"]]
            assert len(values) == len(set(values))


# -- the menu --------------------------------------------------------------------


def test_an_open_card_offers_to_refile_it_as_the_other_categories(stack):
    case = open_card(stack)
    assert case.category == "complaint"
    message = card(stack, case)
    menu = refile_menu(message)
    assert menu is not None and menu["type"] == "overflow" and actions_of(message)[-1] is menu
    assert [o["text"]["text"] for o in menu["options"]] == ["Re-file as question", "Re-file as praise"]
    for option, category in zip(menu["options"], ("question", "praise"), strict=True):
        assert parse_case_ref(option["value"]) == case.id
        assert json.loads(option["value"]) == {"v": 1, "case": case.id, "category": category}
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    assert_valid_actions_block(actions)


def _case(status: str, category: str, **extra) -> m.Case:
    post = m.Post(network="x", external_id="1", kind="mention", text="hello", url="https://x.com/a/status/1", author_handle="a",
                  author_name="A", created_at=datetime(2026, 3, 9, tzinfo=UTC), context="")
    return m.Case(id=7, network="x", status=status, category=category, priority="normal", reasons=[category], suggested_reply="Hi",
                  created_at=datetime(2026, 3, 9, tzinfo=UTC), posts=[post], replies=[], **extra)


@pytest.mark.parametrize("category", ["complaint", "question", "praise", "other"])
@pytest.mark.parametrize("status", ["open", "failed", "pending_approval", "replying", "answered", "dismissed"])
def test_the_menu_is_on_every_open_card_and_the_card_stays_valid_block_kit(status, category):
    extra = {"claimed_by": None, "last_error": "boom"} if status == "failed" else {"answered_by": "U1"} if status == "answered" else {}
    body = blocks.case_card(_case(status, category, **extra))
    actions = [b for b in body if b["type"] == "actions"]
    for block in actions:
        assert_valid_actions_block(block)
    menu = next((e for b in actions for e in b["elements"] if e["action_id"] == Action.RECATEGORIZE), None)
    if status not in ("open", "failed"):
        assert menu is None
        return
    offered = [json.loads(o["value"])["category"] for o in menu["options"]]
    assert offered == [c for c in ("complaint", "question", "praise") if c != category]


# -- re-filing through Slack -----------------------------------------------------


def test_refiling_as_a_question_updates_the_case_card_thread_and_audit_log(stack):
    case = open_card(stack)
    updates_before = len(stack.slack.updates(CHANNEL, case.card_ts))

    refile(stack, "U0AGENT", case, "question")

    stack.slack.wait_for(lambda: case_of(stack, case.id).category == "question", what="re-filed")
    after = case_of(stack, case.id)
    assert after.corrected_category == "question" and after.status == "open"
    assert after.reasons[0] == "question" and not {"complaint", "praise", "spam", "other"} & set(after.reasons)
    assert after.priority == case.priority  # a question keeps the priority it had
    assert after.due_at == sla.due_at(stack.rt.config, "x", after.priority, after.created_at)
    expected = suggest_reply(
        Triage(category="question", sentiment=after.sentiment, severity=after.severity, priority=after.priority, score=0.0,
               reasons=tuple(after.reasons), topic=after.topic),
        name="Mo Farah", handle="mo", network="x",
    )
    assert after.suggested_reply == expected and after.suggested_reply != case.suggested_reply

    # The card was edited in place: new category, new suggested reply, a menu without "question".
    updated = stack.slack.wait_for(lambda: stack.slack.updates(CHANNEL, case.card_ts)[updates_before:], what="chat.update")[-1]
    text = card_text(updated)
    assert "question" in text and expected in text
    assert [o["text"]["text"] for o in refile_menu(card(stack, case))["options"]] == ["Re-file as complaint", "Re-file as praise"]
    # The thread says who did it, and the audit log remembers.
    note = stack.slack.wait_for(
        lambda: next((msg["text"] for msg in stack.slack.thread(CHANNEL, case.card_ts) if "re-filed" in msg.get("text", "")), None),
        what="the thread note",
    )
    assert note == "<@U0AGENT> re-filed the case: complaint → question"
    [event] = [e for e in audit_actions(stack, case.id) if e.action == "recategorized"]
    assert event.actor == "U0AGENT" and event.detail == {"from": "complaint", "to": "question", "priority": after.priority}
    assert stack.x.created == []


def test_picking_the_category_it_already_has_changes_nothing(stack):
    case = open_card(stack)
    stale_card = card(stack, case)  # still offers "question" after the first click
    refile(stack, "U0AGENT", case, "question")
    stack.slack.wait_for(lambda: case_of(stack, case.id).category == "question", what="re-filed")
    choose(stack, "U0OTHER", stale_card, option_for(stale_card, "question")["value"])
    assert told(stack, "already filed") == "It is already filed as a question."
    assert [e.action for e in audit_actions(stack, case.id)].count("recategorized") == 1


def test_two_people_refiling_at_once_change_it_once(stack):
    case = open_card(stack)
    message = card(stack, case)
    value = option_for(message, "question")["value"]
    clicks = [threading.Thread(target=choose, args=(stack, who, message, value)) for who in ("U0ONE", "U0TWO")]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    assert told(stack, "already filed") == "It is already filed as a question."
    [event] = [e for e in audit_actions(stack, case.id) if e.action == "recategorized"]
    assert event.detail["from"] == "complaint" and event.actor in ("U0ONE", "U0TWO")
    assert case_of(stack, case.id).category == "question"
    notes = stack.slack.wait_for(
        lambda: [msg for msg in stack.slack.thread(CHANNEL, case.card_ts) if "re-filed" in msg.get("text", "")], what="the note"
    )
    assert len(notes) == 1


def test_a_failed_case_can_be_refiled_too(stack):
    case = open_card(stack)
    stack.x.fail("create_tweet", status=403, body={"detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403})
    stack.click("U0AGENT", Action.APPROVE, case.id)
    stack.slack.wait_for(lambda: case_of(stack, case.id).status == "failed" and "Not sent" in card_text(card(stack, case)), what="failed card")
    assert refile_menu(card(stack, case)) is not None
    refile(stack, "U0AGENT", case, "question")
    stack.slack.wait_for(lambda: case_of(stack, case.id).category == "question", what="re-filed")
    assert case_of(stack, case.id).status == "failed"


# -- praise: the light card, and nobody is paged ----------------------------------

AAA, BBB, MGR = "U01AAA", "U01BBB", "U01MGR"
MONDAY = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


@pytest.fixture
def team(make_stack, time_machine):
    config = FileConfig(
        sla=SlaConfig(x="15m", nudge_before="5m"),
        oncall=OncallConfig(members=[AAA, BBB], handoff="09:00", rotation="weekly", timezone="Europe/London",
                            rotation_start=date(2026, 3, 2), escalate_to=[MGR], escalate_after="15m"),
        roles=RolesConfig(managers=[MGR]),
    )
    return make_team(make_stack, time_machine, config, {AAA: "alice", BBB: "bob", MGR: "maria"}, MONDAY)


def dm_texts(stack, user: str) -> list[str]:
    return [card_text(msg) for msg in dms(stack, user)]


def steps(stack, case_id: int) -> set[str]:
    with stack.rt.db.session() as session:
        return set(session.scalars(select(m.EscalationStep.step).where(m.EscalationStep.case_id == case_id)))


def test_refiling_as_praise_gives_the_light_card_and_never_pages_anyone(team, time_machine):
    praise = open_card(team, username="kind")
    control = open_card(team, COMPLAINT.replace("two weeks", "ten days"), username="cross")
    assert praise.category == control.category == "complaint"

    refile(team, "U0AGENT", praise, "praise")

    light = team.slack.wait_for(lambda: next((c for c in [card(team, praise)] if "Say thanks" in card_text(c)), None), what="the praise card")
    labels = [e["text"]["text"] for e in actions_of(light) if e["type"] == "button"]
    assert labels == ["Say thanks", "Edit"]
    assert [o["text"]["text"] for o in refile_menu(light)["options"]] == ["Re-file as complaint", "Re-file as question"]
    after = case_of(team, praise.id)
    assert after.priority == "low" and after.suggested_reply.startswith("Thank you, Mo!")

    for shift in (timedelta(minutes=10, seconds=5), timedelta(minutes=5), timedelta(minutes=16), timedelta(hours=2)):
        time_machine.shift(shift)
        escalation.check(team.rt)
    assert steps(team, control.id) >= {"nudge", "page"}  # the same clock pages for a complaint…
    assert steps(team, praise.id) == set()  # …but nobody is woken up for thanks
    dms = [text for user in (AAA, BBB, MGR) for text in dm_texts(team, user)]
    assert any("ten days" in text for text in dms)
    assert not any("two weeks" in text for text in dms)


def test_refiling_praise_back_as_a_complaint_raises_its_priority(team):
    case = open_card(team, "@acme thank you so much, the staff were wonderful today!", username="fan")
    assert case.category == "praise" and case.priority == "low"
    assert [o["text"]["text"] for o in refile_menu(card(team, case))["options"]] == ["Re-file as complaint", "Re-file as question"]
    refile(team, MGR, case, "complaint")
    team.slack.wait_for(lambda: case_of(team, case.id).category == "complaint", what="re-filed")
    after = case_of(team, case.id)
    assert after.priority == "normal" and after.reasons[0] == "complaint" and "praise" not in after.reasons
    assert after.due_at == sla.due_at(team.rt.config, "x", "normal", after.created_at)
    team.slack.wait_for(
        lambda: [e["text"]["text"] for e in actions_of(card(team, case)) if e["type"] == "button"][:3] == ["Approve", "Edit", "Move to DM"],
        what="the full complaint card",
    )


# -- refusals --------------------------------------------------------------------


def test_someone_not_allowed_to_answer_is_refused_and_nothing_changes(make_stack):
    stack = make_stack(config=FileConfig(roles=RolesConfig(agents=["U0AGENT"])))
    case = open_card(stack)
    updates_before = len(stack.slack.updates(CHANNEL, case.card_ts))
    refile(stack, "U0STRANGER", case, "praise")
    assert told(stack, "not on the list") == NOT_ALLOWED
    after = case_of(stack, case.id)
    assert (after.category, after.corrected_category, after.priority) == ("complaint", None, case.priority)
    assert len(stack.slack.updates(CHANNEL, case.card_ts)) == updates_before
    assert "recategorized" not in [e.action for e in audit_actions(stack, case.id)]


@pytest.mark.parametrize("value", [
    "complaint-42",  # a menu from a version before versioned references
    '{"v":0,"case":1,"category":"question"}',  # an older reference version
    '{"v":1,"category":"question"}',  # no case
    "",
])
def test_a_stale_or_forged_menu_value_is_refused_and_nothing_changes(stack, value):
    case = open_card(stack)
    if '"case":1' in value:
        value = value.replace('"case":1', f'"case":{case.id}')
    with pytest.raises(StaleReference):
        parse_case_ref(value)
    choose(stack, "U0AGENT", card(stack, case), value)
    assert told(stack, "older version") == STALE
    assert case_of(stack, case.id).category == "complaint"
    assert "recategorized" not in [e.action for e in audit_actions(stack, case.id)]


@pytest.mark.parametrize("category, message", [
    ("spam", "use Dismiss… for spam"),
    ("other", "use Dismiss…"),
    (None, "can be re-filed as complaint, question or praise"),
    (["question"], "can be re-filed as"),
])
def test_a_category_that_cannot_be_chosen_is_refused(stack, category, message):
    case = open_card(stack)
    data = {"v": 1, "case": case.id} | ({} if category is None else {"category": category})
    choose(stack, "U0AGENT", card(stack, case), json.dumps(data))
    told(stack, message)
    after = case_of(stack, case.id)
    assert (after.category, after.corrected_category) == ("complaint", None)


def test_an_answered_case_cannot_be_refiled(stack):
    case = open_card(stack)
    old_card = card(stack, case)
    stack.click("U0AGENT", Action.APPROVE, case.id)
    stack.slack.wait_for(lambda: case_of(stack, case.id).status == "answered", what="answered")
    answered = case_of(stack, case.id)
    assert refile_menu(card(stack, case)) is None  # the card no longer offers it…

    choose(stack, "U0OTHER", old_card, option_for(old_card, "praise")["value"])  # …but an old copy of it still can be clicked

    text = told(stack, "already answered")
    assert text == "This case was already answered by <@U0AGENT>. Only a case waiting for an answer can be re-filed."
    after = case_of(stack, case.id)
    assert (after.category, after.corrected_category, after.priority, after.suggested_reply, after.due_at) == (
        "complaint", None, answered.priority, answered.suggested_reply, answered.due_at)
    assert "recategorized" not in [e.action for e in audit_actions(stack, case.id)]
    assert not any("re-filed" in msg.get("text", "") for msg in stack.slack.thread(CHANNEL, case.card_ts))


# -- the domain on its own ------------------------------------------------------


NOW = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


def add_case(db: Database, text: str, *, category: str = "complaint", priority: str = "normal", status: str = "open",
             reasons: list[str] | None = None, follow_ups: tuple[str, ...] = ()) -> int:
    with db.session() as session:
        case = m.Case(network="x", status=status, category=category, priority=priority, reasons=reasons or [category, "48.2k followers"],
                      suggested_reply="old", created_at=NOW, due_at=NOW, sla_met=False)
        session.add(case)
        session.flush()
        for i, body in enumerate((text, *follow_ups)):
            session.add(m.Post(network="x", external_id=f"{case.id}-{i}", case_id=case.id, text=body,
                               author_name="Sam Lee", author_handle="sam", created_at=NOW))
        return case.id


def test_recategorize_sets_the_case_up_as_triage_would_have(db):
    config = FileConfig(sla=SlaConfig(x="15m", low={"x": "4h"}))
    case_id = add_case(db, "@acme how do I reset my password?", reasons=["complaint", "angry", "48.2k followers"])
    with db.session() as session:
        case = recategorize(session, case_id, "U1", "praise", config=config, now=NOW + timedelta(minutes=1))
        assert (case.category, case.corrected_category, case.priority) == ("praise", "praise", "low")
        assert case.reasons == ["praise", "angry", "48.2k followers"]
        assert case.due_at == NOW + timedelta(hours=4)
        assert case.sla_met is None  # judged again against the new due time
        assert case.suggested_reply == "Thank you, Sam! That's lovely to hear and we'll pass it on to the team."
    with db.session() as session:
        case = recategorize(session, case_id, "U1", "complaint", config=config)
        assert (case.category, case.corrected_category, case.priority) == ("complaint", "complaint", "normal")
        assert case.reasons == ["complaint", "angry", "48.2k followers"]
        assert case.due_at == NOW + timedelta(minutes=15)
        assert case.suggested_reply.startswith("Hi Sam, ")
        events = list(session.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "recategorized").order_by(m.AuditEvent.id)))
    assert [e.detail for e in events] == [
        {"from": "complaint", "to": "praise", "priority": "low"},
        {"from": "praise", "to": "complaint", "priority": "normal"},
    ]


def test_recategorize_keeps_a_raised_priority(db):
    case_id = add_case(db, "@acme is the outage over?", category="question", priority="urgent")
    with db.session() as session:
        assert recategorize(session, case_id, "U1", "complaint", config=FileConfig()).priority == "urgent"


def test_recategorize_loses_a_race_with_a_clear_message(db):
    case_id = add_case(db, "@acme where is my order?")
    with db.session() as slow:
        seen = slow.get(m.Case, case_id)  # read before the other person's click lands (kept: the identity map holds it weakly)
        with db.session() as fast:
            recategorize(fast, case_id, "U1", "question", config=FileConfig())
        with pytest.raises(CaseError, match="Someone just re-filed this case as a question"):
            recategorize(slow, case_id, "U2", "praise", config=FileConfig())
    with db.session() as slow:
        seen = slow.get(m.Case, case_id)
        with db.session() as fast:
            dismiss(fast, case_id, "U1", "handled")
        with pytest.raises(CaseError, match="dismissed"):
            recategorize(slow, case_id, "U2", "praise", config=FileConfig())
    with db.session() as session:
        case = session.get(m.Case, case_id)
        assert (case.category, case.status) == ("question", "dismissed")
    assert seen.category == "question"  # the loser was refreshed to what is true now


# -- corrections for training ---------------------------------------------------


def test_stored_corrections_include_refiled_cases_and_a_dismissal_wins(db):
    config = FileConfig()
    refiled = add_case(db, "@acme do you ship to Canada?", follow_ups=("@acme hello??",))
    praise = add_case(db, "@acme love the new app", category="question")
    refiled_then_dismissed = add_case(db, "@acme follow us for free crypto")
    spam = add_case(db, "@acme cheap followers here")
    handled = add_case(db, "@acme my order is late")
    answered = add_case(db, "@acme can I change my delivery address?")
    untouched = add_case(db, "@acme the app crashes on login")
    with db.session() as session:
        recategorize(session, refiled, "U1", "question", config=config)
        recategorize(session, praise, "U1", "praise", config=config)
        recategorize(session, refiled_then_dismissed, "U1", "question", config=config)
        dismiss(session, refiled_then_dismissed, "U1", "spam")
        dismiss(session, spam, "U1", "spam")
        dismiss(session, handled, "U1", "handled")
        recategorize(session, answered, "U1", "question", config=config)
        session.get(m.Case, answered).status = "answered"
    assert untouched

    assert stored_corrections(db) == [
        ("@acme do you ship to Canada?", "question"),  # the root post only, not the follow-up
        ("@acme love the new app", "praise"),
        ("@acme follow us for free crypto", "spam"),  # re-filed, then dismissed as spam: the dismissal wins
        ("@acme cheap followers here", "spam"),
        ("@acme can I change my delivery address?", "question"),  # answered since: still a correction
    ]


# -- the schema -----------------------------------------------------------------


def test_migrations_on_a_fresh_database_give_exactly_the_models(tmp_path):
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    upgrade(engine)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), m.Base.metadata)
        version = connection.scalar(sqlalchemy.text("select version_num from alembic_version"))
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    [head] = ScriptDirectory.from_config(alembic_config(engine)).get_heads()  # one head, whatever lands next
    assert diffs == [] and version == head
    engine.dispose()


def test_0002_keeps_existing_cases_and_downgrades_cleanly(tmp_path):
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "insert into cases (id, network, conversation_id, author_external_id, status, category, priority, severity, sentiment, topic,"
            " reasons, suggested_reply, channel, created_at, updated_at) values (1, 'x', '', '', 'open', 'complaint', 'normal', 0, 0.0,"
            " 'general', '[]', '', '', '2026-03-09 10:00:00', '2026-03-09 10:00:00')"
        ))
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select id, category, corrected_category from cases")).all() == [(1, "complaint", None)]

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    columns = {c["name"] for c in sqlalchemy.inspect(engine).get_columns("cases")}
    assert "corrected_category" not in columns and "category" in columns
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("select id, category from cases")).all() == [(1, "complaint")]
    engine.dispose()
