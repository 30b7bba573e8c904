"""Card buttons: ack, check who clicked, call the domain, render."""
from __future__ import annotations

import json

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.clock import utcnow
from bot.flows import workflows
from bot.domain.cases import CaseError, claim, dismiss, get_answerable, recategorize
from bot.domain.outbox import WAITED_FOR_DM
from bot.domain.states import CaseStatus, ReplyStatus
from bot.runtime import Runtime
from bot.slack import blocks
from bot.slack.ids import Action, StaleReference, parse_case_ref
from handlers.common import NOT_ALLOWED, NOT_APPROVER, STALE, tell
from handlers.editor import editor_view
from storage import models as m


def register(app: App, rt: Runtime) -> None:
    def guarded(handler):
        """Ack within Slack's 3 seconds, then refuse stale cards and people not allowed to answer."""

        def listener(ack: Ack, body: dict, client: WebClient, action: dict):
            ack()
            try:
                case_id = parse_case_ref(action.get("value") or (action.get("selected_option") or {}).get("value"))
            except StaleReference:
                tell(client, body, STALE)
                return
            user_id = body["user"]["id"]
            if not rt.config.roles.may_answer(user_id):
                tell(client, body, NOT_ALLOWED)
                return
            try:
                handler(case_id, user_id, body, client, action)
            except CaseError as exc:
                tell(client, body, str(exc))
                rt.publisher.refresh(case_id)

        listener.__name__ = handler.__name__
        return listener

    @guarded
    def approve(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        with rt.db.session() as session:
            case = session.get(m.Case, case_id)
            status, draft = (case.status, case.suggested_reply) if case else ("gone", "")
        if status == CaseStatus.PENDING_APPROVAL:
            if not rt.policy.is_approver(user_id):
                raise CaseError(NOT_APPROVER)
            workflows.send_approval(rt, workflows.release(rt, case_id, user_id))
            return
        workflows.send_approval(rt, workflows.approve(rt, case_id, user_id, {"public": draft}))

    @guarded
    def reject(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        if not rt.policy.is_approver(user_id):
            raise CaseError(NOT_APPROVER)
        workflows.reject(rt, case_id, user_id)

    @guarded
    def retry(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        workflows.send_approval(rt, workflows.retry(rt, case_id, user_id))

    @guarded
    def edit(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        with rt.db.session() as session:
            case = get_answerable(session, case_id, approver=rt.policy.is_approver(user_id))
            held = [r.text for r in case.replies if r.status == ReplyStatus.AWAITING and r.kind == "public"]
            failed = [r.text for r in case.replies if r.status == ReplyStatus.FAILED and r.kind == "public" and r.error != WAITED_FOR_DM]
            draft = (held or failed or [case.suggested_reply])[-1]
            view = editor_view(rt, case, draft)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @guarded
    def move_to_dm(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        with rt.db.session() as session:
            case = get_answerable(session, case_id)
            network = rt.networks.get(case.network)
            blocker = network.private_reply_blocker(workflows.target_of(case), utcnow()) if network else f"{case.network} is not connected"
            view = blocks.dm_modal(case, case.suggested_reply, blocker=blocker)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    @guarded
    def claim_case(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        with rt.db.session() as session:
            claim(session, case_id, user_id)
        rt.publisher.refresh(case_id)
        rt.publisher.note(case_id, blocks.history_entry(user_id, "is on it"))

    @guarded
    def dismiss_case(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        reason = json.loads(action["selected_option"]["value"]).get("reason", "")
        if reason not in blocks.DISMISS_REASONS:
            raise CaseError("That dismiss reason is not one socialdesk knows; pick one from the menu again.")
        with rt.db.session() as session:
            dismiss(session, case_id, user_id, reason)
        rt.publisher.refresh(case_id)
        rt.publisher.note(case_id, blocks.history_entry(user_id, "dismissed the case", blocks.DISMISS_REASONS.get(reason, reason)))

    @guarded
    def recategorize_case(case_id: int, user_id: str, body: dict, client: WebClient, action: dict) -> None:
        chosen = (action.get("selected_option") or {}).get("value") or action.get("value")
        category = json.loads(chosen).get("category", "")
        with rt.db.session() as session:
            case = session.get(m.Case, case_id)
            before = case.category if case else ""
            recategorize(session, case_id, user_id, category, config=rt.config)
        rt.publisher.refresh(case_id)
        rt.publisher.note(case_id, blocks.history_entry(user_id, "re-filed the case", f"{before} → {category}"))

    app.action(Action.APPROVE.value)(approve)
    app.action(Action.RETRY.value)(retry)
    app.action(Action.EDIT.value)(edit)
    app.action(Action.MOVE_TO_DM.value)(move_to_dm)
    app.action(Action.CLAIM.value)(claim_case)
    app.action(Action.REJECT.value)(reject)
    app.action(Action.DISMISS.value)(dismiss_case)
    app.action(Action.RECATEGORIZE.value)(recategorize_case)

