"""The reply editor modal: opening it, saved replies, and the live length and tone check."""
from __future__ import annotations

import json

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import cases
from bot.domain.saved_replies import fill, saved_replies_for
from bot.domain.tone import check_tone
from bot.runtime import Runtime
from bot.triage import language
from bot.slack import blocks
from bot.slack.ids import INPUT, Action, Block, View, block_base
from storage import models as m


def saved_for(rt: Runtime, case: m.Case) -> list[tuple[str, str]]:
    root = case.root
    saved = [(r.name, fill(r.text, name=root.author_name, handle=root.author_handle)) for r in saved_replies_for(case.category, rt.config.saved_replies, language.from_reasons(case.reasons))]
    if case.alternative_reply:
        saved.insert(0, ("Sent for a similar case", case.alternative_reply))
    return saved


def editor_view(rt: Runtime, case: m.Case, draft: str, *, generation: int = 0) -> dict:
    network = rt.networks.get(case.network)
    return blocks.edit_modal(
        case,
        draft,
        limit=network.reply_limit if network else None,
        length=network.reply_length(draft) if network else len(draft),
        tone=[f"“{f.phrase}”: {f.why}" for f in check_tone(draft)],
        notes=network.draft_notes(draft) if network else [],
        saved=saved_for(rt, case),
        generation=generation,
    )


def current_draft(view: dict) -> str:
    for block_id, values in view.get("state", {}).get("values", {}).items():
        if block_base(block_id) == Block.REPLY.value:
            return values.get(INPUT, {}).get("value") or ""
    return ""


def register(app: App, rt: Runtime) -> None:
    def _case_and_meta(body: dict) -> tuple[m.Case | None, dict]:
        meta = json.loads(body["view"].get("private_metadata") or "{}")
        with rt.db.session() as session:
            case = cases.find(session, int(meta.get("case", 0)))
        return case, meta

    def _update(client: WebClient, body: dict, view: dict) -> None:
        try:
            client.views_update(view_id=body["view"]["id"], hash=body["view"].get("hash"), view=view)
        except SlackApiError as exc:
            if exc.response.get("error") != "hash_conflict":  # the person typed again; the next event updates
                raise

    @app.action(INPUT)
    def typed(ack: Ack, body: dict, action: dict, client: WebClient):
        """Every keystroke pause: recount the weighted length and re-run the tone check."""
        ack()
        if body.get("view", {}).get("callback_id") != View.EDIT.value:
            return
        case, meta = _case_and_meta(body)
        if case is not None:
            _update(client, body, editor_view(rt, case, action.get("value") or "", generation=int(meta.get("gen", 0))))

    @app.action(Action.PICK_SAVED.value)
    def picked(ack: Ack, body: dict, action: dict, client: WebClient):
        """Swap the draft for a saved reply; a new block id makes Slack show the new text."""
        ack()
        case, meta = _case_and_meta(body)
        if case is None:
            return
        saved = saved_for(rt, case)
        index = int(action["selected_option"]["value"])
        if 0 <= index < len(saved):
            _update(client, body, editor_view(rt, case, saved[index][1], generation=int(meta.get("gen", 0)) + 1))
