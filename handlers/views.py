"""Modal submissions: validate before closing the modal, then send after the ack."""
from __future__ import annotations

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.domain import cases
from bot.domain.cases import CaseError
from bot.domain.tone import check_tone
from bot.flows import workflows
from bot.runtime import Runtime
from bot.slack.ids import ANYWAY, INPUT, Block, StaleReference, View, block_base, parse_case_ref


def _field(view: dict, block: Block) -> tuple[str, str | None]:
    """(block id as submitted, its text) for an input whose id may carry a "~n" suffix."""
    for block_id, values in view.get("state", {}).get("values", {}).items():
        if block_base(block_id) == block.value:
            return block_id, (values.get(INPUT, {}).get("value") or "").strip()
    return block.value, None


def _send_anyway(view: dict) -> bool:
    values = view.get("state", {}).get("values", {}).get(Block.SEND_ANYWAY.value, {})
    return bool(values.get(ANYWAY, {}).get("selected_options"))


def _length_error(rt: Runtime, case_id: int, text: str) -> str | None:
    with rt.db.session() as session:
        case = cases.find(session, case_id)
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
    def submit(ack: Ack, body: dict, view: dict, replies: dict[str, tuple[str, str]], errors: dict[str, str], *, tone_checked: bool = False) -> None:
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
            elif tone_checked and (findings := check_tone(text)) and not _send_anyway(view):
                errors[block_id] = (
                    "This may read badly in public: " + "; ".join(f"“{f.phrase}” ({f.why})" for f in findings)
                    + ". Rephrase, or tick “Send as written” below."
                )[:2000]
        if errors:
            ack(response_action="errors", errors=errors)
            return
        try:
            approval = workflows.approve(rt, case_id, user_id, {kind: text for kind, (_, text) in replies.items()})
        except CaseError as exc:
            ack(response_action="errors", errors={first_block: str(exc)})
            return
        ack()  # the approval is in the outbox: durable before Slack hears it was taken
        rt.submit(workflows.after_approval, rt, approval, user_id=user_id, draft=replies.get("public", ("", ""))[1])

    @app.view(View.EDIT.value)
    def edit_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        block_id, text = _field(view, Block.REPLY)
        submit(ack, body, view, {"public": (block_id, text or "")}, {}, tone_checked=True)

    @app.view(View.MOVE_TO_DM.value)
    def dm_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        block_id, public = _field(view, Block.PUBLIC)
        replies = {"public": (block_id, public or "")}
        private_id, private = _field(view, Block.PRIVATE)
        if private is not None:
            replies["private"] = (private_id, private)
        submit(ack, body, view, replies, {})
