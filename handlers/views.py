"""Modal submissions: validate before closing the modal, then send after the ack."""
from __future__ import annotations

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import workflows
from bot.domain.cases import CaseError
from bot.runtime import Runtime
from bot.slack.ids import INPUT, Block, StaleReference, View, parse_case_ref
from storage import models as m


def _value(view: dict, block: Block) -> str | None:
    state = view.get("state", {}).get("values", {})
    if block.value not in state:
        return None
    return (state[block.value].get(INPUT, {}).get("value") or "").strip()


def _length_error(rt: Runtime, case_id: int, text: str) -> str | None:
    with rt.db.session() as session:
        case = session.get(m.Case, case_id)
        network = rt.networks.get(case.network) if case else None
    if network is None:
        return None
    length = network.reply_length(text)
    if length > network.reply_limit:
        return (
            f"{length}/{network.reply_limit} characters as {network.label} counts them. "
            "Shorten it, or use Move to DM for the long answer."
        )
    return None


def register(app: App, rt: Runtime) -> None:
    def submit(ack: Ack, body: dict, view: dict, replies: dict[str, str], errors: dict[str, str]) -> None:
        user_id = body["user"]["id"]
        first_block = next(iter(replies.values()))[0] if replies else Block.REPLY.value
        try:
            case_id = parse_case_ref(view.get("private_metadata"))
        except StaleReference:
            ack(response_action="errors", errors={first_block: "This form comes from an older version of socialdesk. Close it and use the card again."})
            return
        if not rt.config.roles.may_answer(user_id):
            ack(response_action="errors", errors={first_block: "You are not allowed to answer customers, so nothing was sent."})
            return
        for kind, (block_id, text) in replies.items():
            if not text:
                errors[block_id] = "Write a reply before sending."
            elif kind == "public" and (problem := _length_error(rt, case_id, text)):
                errors[block_id] = problem
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            approval = workflows.approve(rt, case_id, user_id, {kind: text for kind, (_, text) in replies.items()})
        except CaseError as exc:
            ack(response_action="errors", errors={first_block: str(exc)})
            return
        ack()
        workflows.send_approval(rt, approval)

    @app.view(View.EDIT.value)
    def edit_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        submit(ack, body, view, {"public": (Block.REPLY.value, _value(view, Block.REPLY) or "")}, {})

    @app.view(View.MOVE_TO_DM.value)
    def dm_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        replies = {"public": (Block.PUBLIC.value, _value(view, Block.PUBLIC) or "")}
        private = _value(view, Block.PRIVATE)
        if private is not None:
            replies["private"] = (Block.PRIVATE.value, private)
        submit(ack, body, view, replies, {})
