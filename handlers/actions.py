"""Card buttons: `case_action` has acknowledged and resolved who acts on which case; call the flow, render."""
from __future__ import annotations

import json

from slack_bolt import App
from slack_sdk import WebClient

from bot.clock import utcnow
from bot.domain import cases, outbox
from bot.domain.approvals import NOT_APPROVER
from bot.domain.cases import CaseError
from bot.domain.roles import Role
from bot.domain.states import OPEN_STATUSES
from bot.flows import workflows
from bot.runtime import Runtime
from bot.slack import blocks
from bot.slack.ids import Action
from handlers.editor import editor_view
from handlers.middleware import case_action, case_listener


def register(app: App, rt: Runtime) -> None:
    def approve(case_id: int, user_id: str, role: Role) -> None:
        workflows.approve_from_card(rt, case_id, user_id, approver=role.may_approve)

    def reject(case_id: int, user_id: str, role: Role) -> None:
        if not role.may_approve:
            raise CaseError(NOT_APPROVER)
        workflows.reject(rt, case_id, user_id)
        rt.submit(workflows.after_reject, rt, case_id, user_id)

    def retry(case_id: int, user_id: str) -> None:
        rt.submit(workflows.after_approval, rt, workflows.retry(rt, case_id, user_id), user_id=user_id)

    def edit(case_id: int, role: Role, body: dict, client: WebClient) -> None:
        with rt.db.session() as session:
            case = cases.get_answerable(session, case_id, approver=role.may_approve)
            view = editor_view(rt, case, outbox.current_draft(case))
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def move_to_dm(case_id: int, body: dict, client: WebClient) -> None:
        with rt.db.session() as session:
            case = cases.get_answerable(session, case_id)
            network = rt.networks.get(case.network)
            blocker = network.private_reply_blocker(workflows.target_of(case), utcnow()) if network else f"{case.network} is not connected"
            view = blocks.dm_modal(case, case.suggested_reply, blocker=blocker)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def claim_case(case_id: int, user_id: str) -> None:
        with rt.db.session() as session:
            cases.claim(session, case_id, user_id)
        rt.submit(workflows.after_change, rt, case_id, blocks.history_entry(user_id, "is on it"))

    def reply_on_network(case_id: int, user_id: str) -> None:
        """The link opened the post in their browser; the click also claims the case if nobody has."""
        with rt.db.session() as session:
            case = cases.get_case(session, case_id)
            if case.claimed_by or case.status not in OPEN_STATUSES:
                return
            cases.claim(session, case_id, user_id)
        rt.submit(workflows.after_change, rt, case_id, blocks.history_entry(user_id, "went to answer it on the network"))

    def mark_replied_case(case_id: int, user_id: str) -> None:
        with rt.db.session() as session:
            cases.mark_replied(session, case_id, user_id)
        rt.submit(workflows.after_change, rt, case_id, blocks.history_entry(user_id, "replied on the network itself"))

    def dismiss_case(case_id: int, user_id: str, action: dict) -> None:
        reason = json.loads(action["selected_option"]["value"]).get("reason", "")
        if reason not in blocks.DISMISS_REASONS:
            raise CaseError("That dismiss reason is not one socialdesk knows; pick one from the menu again.")
        with rt.db.session() as session:
            cases.dismiss(session, case_id, user_id, reason)
        rt.submit(workflows.after_change, rt, case_id, blocks.history_entry(user_id, "dismissed the case", blocks.DISMISS_REASONS.get(reason, reason)))

    def recategorize_case(case_id: int, user_id: str, action: dict) -> None:
        chosen = (action.get("selected_option") or {}).get("value") or action.get("value")
        category = json.loads(chosen).get("category", "")
        with rt.db.session() as session:
            before = cases.get_case(session, case_id).category
            cases.recategorize(session, case_id, user_id, category, config=rt.config)
        rt.submit(workflows.after_change, rt, case_id, blocks.history_entry(user_id, "re-filed the case", f"{before} → {category}"))

    listeners = {
        Action.APPROVE: approve,
        Action.RETRY: retry,
        Action.EDIT: edit,
        Action.MOVE_TO_DM: move_to_dm,
        Action.CLAIM: claim_case,
        Action.REJECT: reject,
        Action.DISMISS: dismiss_case,
        Action.RECATEGORIZE: recategorize_case,
        Action.REPLY_ON_NETWORK: reply_on_network,
        Action.MARK_REPLIED: mark_replied_case,
    }
    # An approval is acknowledged only once it is in the outbox (a crash right after the ack loses nothing);
    # these listeners write the database only and hand Slack and the networks to the background pool.
    durable = {Action.APPROVE, Action.RETRY, Action.REJECT}
    for action_id, listener in listeners.items():
        app.action(action_id.value, middleware=[case_action(rt, durable=action_id in durable)])(case_listener(rt, listener))
