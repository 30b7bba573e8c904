"""`/socialdesk incident ...` and the incident message's controls (answer, status, resolve, split, merge, own card, acknowledge).

`INCIDENT` is passed to `commands.register`; `register(app, rt)` adds the buttons.
"""
from __future__ import annotations

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select

from bot.clock import utcnow
from bot.flows import incidents as incident_flow
from bot.flows import workflows
from bot.flows.escalation import may_acknowledge
from bot.domain import incidents, spend
from bot.domain.states import IncidentStatus
from bot.networks.base import Target
from bot.runtime import Runtime
from bot.slack import incident_blocks
from bot.slack.blocks import history_entry
from bot.slack.ids import Action, Block, StaleReference, View, parse_case_ref, parse_incident_ref, parse_merge_ref
from bot.slack.text import escape
from handlers.commands import Subcommand
from handlers.common import NOT_ALLOWED, STALE, allowed_click, tell
from storage import models as m

USAGE = "incident [start <what is wrong> | list | resolve <#> [final update] | merge <#> into <#> | split <#> <words>]"


def _number(word: str) -> int:
    try:
        return int(word.lstrip("#"))
    except ValueError:
        raise incidents.IncidentError(f"“{escape(word)}” is not an incident number (they look like `#3`).") from None


def incident_command(rt: Runtime, ack: Ack, command: dict, args: list[str], client: WebClient) -> None:
    user = command["user_id"]
    action = args[0].lower() if args else "list"
    if action != "list" and not rt.config.roles.may_answer(user):
        ack(response_type="ephemeral", text=NOT_ALLOWED)
        return
    try:
        if action == "start":
            with rt.db.session() as session:
                incident = incidents.declare(session, " ".join(args[1:]), user, channel=rt.channel, config=rt.config.incidents)
                incident_flow.queue_message(session, incident)
                number, title = incident.id, incident.title
            ack(response_type="in_channel", text=f"<@{user}> started incident #{number}: {escape(title)}. Posts about it now join it instead of getting cards.")
        elif action == "list":
            with rt.db.session() as session:
                open_ = list(session.scalars(select(m.Incident).where(m.Incident.status == IncidentStatus.OPEN).order_by(m.Incident.id)))
                counts = dict(session.execute(
                    select(m.Case.incident_id, func.count(m.Case.id)).where(m.Case.incident_id.is_not(None)).group_by(m.Case.incident_id)
                ).all())
            ack(response_type="ephemeral", text=incident_blocks.incident_list(open_, counts))
            return
        elif action == "resolve" and len(args) >= 2:
            number = _number(args[1])
            final = " ".join(args[2:])
            with rt.db.session() as session:
                closed = incidents.close(session, number, user, final_text=final, networks=sorted(rt.networks), limits=limits(rt))
            said = " The final update goes out on " + " and ".join(sorted(rt.networks)) + "." if closed.status_ids else ""
            ack(response_type="in_channel", text=f"<@{user}> resolved incident #{number}. New posts get cards again.{said}")
            rt.submit(_after_close, rt, number, closed)
            return
        elif action == "merge" and len(args) == 4 and args[2].lower() == "into":
            source, target = _number(args[1]), _number(args[3])
            with rt.db.session() as session:
                incidents.merge(session, source, target, user)
            ack(response_type="in_channel", text=f"<@{user}> merged incident #{source} into #{target}.")
            incident_flow.refresh_due(rt, force=source)
            number = target
        elif action == "split" and len(args) >= 3:
            source = _number(args[1])
            with rt.db.session() as session:
                new = incidents.split(session, source, " ".join(args[2:]), user, channel=rt.channel)
                incident_flow.queue_message(session, new)
                number = new.id
            ack(response_type="in_channel", text=f"<@{user}> split incident #{source}: posts about “{escape(' '.join(args[2:]))}” are now incident #{number}.")
            incident_flow.refresh_due(rt, force=source)
        else:
            ack(response_type="ephemeral", text=f"Usage: `/socialdesk {USAGE}`")
            return
    except incidents.IncidentError as exc:
        ack(response_type="ephemeral", text=str(exc))
        return
    rt.submit(_show, rt, number)


INCIDENT = Subcommand("incident", USAGE, "one message, one answer and one page for many posts about the same problem", incident_command)


def _show(rt: Runtime, incident_id: int) -> None:
    rt.publisher.deliver_pending()
    incident_flow.refresh_due(rt, force=incident_id)


def limits(rt: Runtime) -> dict:
    """Each connected network's reply limit and how it counts length (X: 280 weighted characters)."""
    return {name: (network.reply_limit, network.reply_length) for name, network in rt.networks.items()}


def private(rt: Runtime) -> dict:
    """Each connected network's say on whether a post can get a DM: an answer too long to post goes that way, as Move to DM does."""
    now = utcnow()

    def blocker(network):
        return lambda post: network.private_reply_blocker(
            Target(post.external_id, post.author_external_id, post.author_handle, post.created_at, post.kind, post.conversation_id), now)
    return {name: blocker(network) for name, network in rt.networks.items()}


def price(rt: Runtime):
    """One write's cost on a network (X's price list from [x.prices]; Facebook free)."""
    return lambda network, what, text: spend.write_cost(rt.config.x, network, what, text)


def answer_view(rt: Runtime, incident_id: int, draft: str = "") -> dict:
    with rt.db.session() as session:
        view = incidents.view(session, incident_id)
        destinations, already = incidents.preview_answer(session, incident_id, draft, limits(rt), price(rt), private(rt))
    return incident_blocks.answer_modal(view, destinations, already, draft)


def status_view(rt: Runtime, incident_id: int, draft: str = "") -> dict:
    with rt.db.session() as session:
        view = incidents.view(session, incident_id)
    return incident_blocks.status_modal(view, incidents.preview_status(draft, sorted(rt.networks), limits(rt), price(rt)), draft)


def resolve_view(rt: Runtime, incident_id: int, draft: str = "") -> dict:
    with rt.db.session() as session:
        view = incidents.view(session, incident_id)
        answers, already = incidents.preview_answer(session, incident_id, draft, limits(rt), price(rt), private(rt))
    status = incidents.preview_status(draft, sorted(rt.networks), limits(rt), price(rt))
    return incident_blocks.resolve_modal(view, status, answers, already, draft)


def split_view(rt: Runtime, incident_id: int) -> dict:
    with rt.db.session() as session:
        return incident_blocks.split_modal(incidents.view(session, incident_id))


MODALS = {View.INCIDENT_ANSWER.value: answer_view, View.INCIDENT_STATUS.value: status_view, View.INCIDENT_RESOLVE.value: resolve_view}


def _after_close(rt: Runtime, incident_id: int, closed: incidents.Closed) -> None:
    """Once closed: the final update out, the replies through the outbox, the message shown resolved, the chart in the thread."""
    if closed.status_ids:
        incident_flow.send_status(rt, closed.status_ids)
    if closed.answered:
        _answer_and_send(rt, incident_id)
    incident_flow.refresh_due(rt, force=incident_id)
    incident_flow.upload_charts(rt)


def _answer_and_send(rt: Runtime, incident_id: int) -> None:
    while workflows.process_outbox(rt):  # the outbox sends at most a batch per call; the job carries on too
        incident_flow.refresh_due(rt)
    incident_flow.refresh_due(rt, force=incident_id)


def _post_status(rt: Runtime, incident_id: int, ids: list[int]) -> None:
    incident_flow.send_status(rt, ids)
    incident_flow.refresh_due(rt, force=incident_id)


def register(app: App, rt: Runtime) -> None:
    def _incident_click(ack: Ack, body: dict, client: WebClient, action: dict) -> int | None:
        return allowed_click(ack, body, client, action, parse_incident_ref, rt.config.roles)

    def opens(build):
        """A button that opens one of the incident's modals."""
        def open_modal(ack: Ack, body: dict, client: WebClient, action: dict):
            incident_id = _incident_click(ack, body, client, action)
            if incident_id is not None:
                _open_modal(client, body, build, incident_id)
        return open_modal

    for button, build in ((Action.INCIDENT_ANSWER, answer_view), (Action.INCIDENT_STATUS, status_view),
                          (Action.INCIDENT_RESOLVE, resolve_view), (Action.INCIDENT_SPLIT, split_view)):
        app.action(button.value)(opens(build))

    def _open_modal(client: WebClient, body: dict, build, incident_id: int) -> None:
        """Only an open incident gets a modal; a stale message says why instead."""
        try:
            with rt.db.session() as session:
                incidents.get_open(session, incident_id)
        except incidents.IncidentError as exc:
            tell(client, body, str(exc))
            return
        client.views_open(trigger_id=body["trigger_id"], view=build(rt, incident_id))

    @app.action(Action.INCIDENT_DRAFT.value)
    def typed(ack: Ack, body: dict, action: dict, client: WebClient):
        """Each pause in typing: the per-network preview (posts, price, length) follows the text."""
        ack()
        view = body.get("view") or {}
        build = MODALS.get(view.get("callback_id"))
        try:
            incident_id = parse_incident_ref(view.get("private_metadata"))
        except StaleReference:
            return
        if build is None:
            return
        try:
            client.views_update(view_id=view["id"], hash=view.get("hash"), view=build(rt, incident_id, action.get("value") or ""))
        except SlackApiError as exc:
            if exc.response.get("error") != "hash_conflict":  # typed again meanwhile: the next event updates
                raise

    def _incident_form(ack: Ack, body: dict, view: dict, not_allowed: str) -> tuple[str, str, int] | None:
        """Who submitted, the text, and the incident; None once the modal has been told why not."""
        user = body["user"]["id"]
        values = view.get("state", {}).get("values", {})
        text = next((v.get("value") or "" for v in values.get(Block.REPLY.value, {}).values()), "").strip()
        try:
            incident_id = parse_incident_ref(view.get("private_metadata"))
        except StaleReference:
            ack(response_action="errors", errors={_first_block(view): "This form comes from an older version of socialdesk."})
            return None
        if not rt.config.roles.may_answer(user):
            ack(response_action="errors", errors={_first_block(view): not_allowed})
            return None
        return user, text, incident_id

    def _first_block(view: dict) -> str:
        values = view.get("state", {}).get("values", {})
        return Block.REPLY.value if Block.REPLY.value in values else next(iter(values), Block.REPLY.value)

    @app.view(View.INCIDENT_ANSWER.value)
    def answer_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        form = _incident_form(ack, body, view, "You are not allowed to answer customers, so nothing was sent.")
        if form is None:
            return
        user, text, incident_id = form
        try:
            with rt.db.session() as session:
                incidents.answer_all(session, incident_id, text, user, limits(rt), private=private(rt))
        except incidents.IncidentError as exc:
            ack(response_action="errors", errors={Block.REPLY.value: str(exc)})
            return
        ack()
        rt.submit(_answer_and_send, rt, incident_id)

    @app.view(View.INCIDENT_STATUS.value)
    def status_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        form = _incident_form(ack, body, view, "You are not allowed to post for the brand, so nothing was sent.")
        if form is None:
            return
        user, text, incident_id = form
        try:
            with rt.db.session() as session:
                ids = incidents.queue_status(session, incident_id, text, user, sorted(rt.networks), limits(rt))
        except incidents.IncidentError as exc:
            ack(response_action="errors", errors={Block.REPLY.value: str(exc)})
            return
        ack()
        rt.submit(_post_status, rt, incident_id, ids)

    @app.view(View.INCIDENT_RESOLVE.value)
    def resolve_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        form = _incident_form(ack, body, view, "You are not allowed to resolve incidents, so nothing changed.")
        if form is None:
            return
        user, text, incident_id = form
        ticked = (view.get("state", {}).get("values", {}).get(Block.ALSO_ANSWER.value, {}).get(Block.ALSO_ANSWER.value) or {})
        also = any(o.get("value") == "yes" for o in ticked.get("selected_options") or [])
        try:
            with rt.db.session() as session:
                closed = incidents.close(session, incident_id, user, final_text=text, networks=sorted(rt.networks), limits=limits(rt),
                                         answer_posts=also, private=private(rt))
        except incidents.IncidentError as exc:
            ack(response_action="errors", errors={Block.REPLY.value: str(exc)})
            return
        ack()
        rt.submit(_after_close, rt, incident_id, closed)

    @app.view(View.INCIDENT_SPLIT.value)
    def split_submitted(ack: Ack, body: dict, view: dict, client: WebClient):
        form = _incident_form(ack, body, view, "You are not allowed to change incidents, so nothing changed.")
        if form is None:
            return
        user, _, incident_id = form
        values = view.get("state", {}).get("values", {})
        phrase = ((values.get(Block.SPLIT_PHRASE.value, {}).get(Block.SPLIT_PHRASE.value) or {}).get("value") or "").strip()
        network = ((values.get(Block.SPLIT_NETWORK.value, {}).get(Block.SPLIT_NETWORK.value) or {}).get("selected_option") or {}).get("value")
        try:
            with rt.db.session() as session:
                new = incidents.split(session, incident_id, phrase, user, channel=rt.channel, network=network)
                incident_flow.queue_message(session, new)
                number = new.id
        except incidents.IncidentError as exc:
            ack(response_action="errors", errors={Block.SPLIT_PHRASE.value: str(exc)})
            return
        ack()
        rt.submit(_split_shown, rt, incident_id, number, user)

    @app.action(Action.INCIDENT_MERGE.value)
    def merge(ack: Ack, body: dict, client: WebClient, action: dict):
        picked = dict(action, value=(action.get("selected_option") or {}).get("value"))
        ref = allowed_click(ack, body, client, picked, parse_merge_ref, rt.config.roles)
        if ref is None:
            return
        source, target = ref
        user = body["user"]["id"]
        try:
            with rt.db.session() as session:
                incidents.merge(session, source, target, user)
        except incidents.IncidentError as exc:
            tell(client, body, str(exc))
            return
        rt.submit(_merged, rt, source, target, user)

    @app.action(Action.INCIDENT_RETRY.value)
    def retry(ack: Ack, body: dict, client: WebClient, action: dict):
        incident_id = _incident_click(ack, body, client, action)
        if incident_id is None:
            return
        with rt.db.session() as session:
            again = incidents.retry_failed(session, incident_id, body["user"]["id"])
        tell(client, body, f"Sending the answer again to {again} posts." if again else "No failed answers to send again.")
        rt.submit(_answer_and_send, rt, incident_id)

    @app.action(Action.INCIDENT_ACK.value)
    def acknowledge(ack: Ack, body: dict, client: WebClient, action: dict):
        """On the page DM: whoever takes it stops the escalation; the incident message shows who."""
        ack()
        user = body["user"]["id"]
        try:
            incident_id = parse_incident_ref(action.get("value"))
        except StaleReference:
            tell(client, body, STALE)
            return
        if not may_acknowledge(rt, user):
            tell(client, body, "Only the on-call rotation, escalation contacts, agents and managers can acknowledge a page.")
            return
        try:
            incident_flow.acknowledge(rt, incident_id, user)
        except incidents.IncidentError as exc:
            tell(client, body, str(exc))
            rt.submit(incident_flow.close_pages, rt, incident_id=incident_id)  # a page still showing its button loses it
            return
        rt.submit(incident_flow.after_acknowledge, rt, incident_id, user)

    @app.action(Action.INCIDENT_MOVE_OUT.value)
    def move_out(ack: Ack, body: dict, client: WebClient, action: dict):
        case_id = allowed_click(ack, body, client, action, parse_case_ref, rt.config.roles)
        if case_id is None:
            return
        user = body["user"]["id"]
        try:
            with rt.db.session() as session:
                incident_id = incidents.move_out(session, case_id, user)
        except incidents.IncidentError as exc:
            tell(client, body, str(exc))
            return
        rt.submit(_moved_out, rt, client, body, case_id, incident_id, user)


def _merged(rt: Runtime, source: int, target: int, user: str) -> None:
    """After the pick was acknowledged, on the background pool: both messages and the thread show the merge."""
    incident_flow.note(rt, target, history_entry(user, f"merged incident #{source} into this one"))
    incident_flow.refresh_due(rt, force=source)
    incident_flow.refresh_due(rt, force=target)


def _moved_out(rt: Runtime, client: WebClient, body: dict, case_id: int, incident_id: int, user: str) -> None:
    """After the click was acknowledged, on the background pool: the post's own card, its thread, the incident's count."""
    tell(client, body, f"The post has its own card now; it left incident #{incident_id}.")
    rt.publisher.deliver_pending()
    rt.publisher.note(case_id, history_entry(user, f"moved this post out of incident #{incident_id}"))
    incident_flow.refresh_due(rt, force=incident_id)


def _split_shown(rt: Runtime, source: int, new: int, user: str) -> None:
    rt.publisher.deliver_pending()
    incident_flow.refresh_due(rt, force=source)
    incident_flow.note(rt, source, history_entry(user, f"split posts off into incident #{new}"))
