"""The lane's buttons (**Make a case**, clear) and `/socialdesk review`: ack, check who, one domain call, render.

`REVIEW` is passed to `commands.register` (see `bot.app.build_bolt`).
"""
from __future__ import annotations

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.domain import lane
from bot.domain.cases import CaseError
from bot.flows import workflows
from bot.runtime import Runtime
from bot.slack import lane_blocks
from bot.slack.ids import Action, parse_post_ref
from handlers.commands import Subcommand
from handlers.common import NOT_ALLOWED, STALE, allowed_click, tell

MADE = ":white_check_mark: Made a case: its card is in the channel now."


def review(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    what = (args[0].lower() if args else "spam")
    try:
        with rt.db.session() as session:
            found = lane.review(session, what)
            text, body = lane_blocks.review_message(found.what, found.counts, found.posts, found.days)
    except CaseError as exc:
        ack(response_type="ephemeral", text=str(exc))
        return
    ack(response_type="ephemeral", text=text, blocks=body)


REVIEW = Subcommand("review", "review [spam|own|search|lane|glanced|set_aside]", "what triage kept out of the cards (last 7 days), with Make a case", review)


def register(app: App, rt: Runtime) -> None:
    @app.action(Action.MAKE_CASE.value)
    def make_case(ack: Ack, body: dict, client: WebClient, action: dict):
        post_id = allowed_click(ack, body, client, action, parse_post_ref, rt.config.roles)  # the card follows
        if post_id is None:
            return
        user_id = body["user"]["id"]
        try:
            with rt.db.session() as session:
                lane.make_case(session, post_id, user_id, config=rt.config, channel=rt.channel)
        except CaseError as exc:
            tell(client, body, str(exc))
            return
        workflows.deliver(rt)
        if (body.get("container") or {}).get("is_ephemeral"):
            tell(client, body, MADE)

    @app.action(Action.CLEAR_LANE.value)
    def clear(ack: Ack, body: dict, client: WebClient, action: dict):
        ack()
        user_id = body["user"]["id"]
        if not rt.config.roles.may_answer(user_id):
            tell(client, body, NOT_ALLOWED)
            return
        try:
            up_to = int(action.get("value") or 0)
        except ValueError:
            tell(client, body, STALE)
            return
        with rt.db.session() as session:
            lane.clear_lane(session, user_id, up_to)
        rt.submit(rt.publisher.refresh_lane, rt.channel, shown=rt.config.routing.lane_shown)  # the edit off Bolt's listener threads
