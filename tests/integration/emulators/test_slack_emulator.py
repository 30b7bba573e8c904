"""The Slack emulator driven by the real slack_sdk over real HTTP."""

import json
import time
from urllib.parse import parse_qs

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from bot.emulators import SlackEmulator, slack_client


@pytest.fixture
def emu():
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu):
    return WebClient(token=emu.token, base_url=emu.api_url, timeout=5)


def api_error(call) -> dict:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response


def test_auth_test_and_token_checks(emu, client):
    assert client.auth_test()["user_id"] == "U0BOT"
    assert api_error(WebClient(token="xoxb-wrong", base_url=emu.api_url).auth_test)["error"] == "invalid_auth"
    assert api_error(lambda: client.api_call("chat.nope"))["error"] == "unknown_method"
    request = emu.received("auth.test")[0]
    assert request.method == "POST" and request.headers["authorization"] == "Bearer xoxb-test"


def test_post_update_and_permalink(emu, client):
    first = client.chat_postMessage(channel="C1", text="New complaint", blocks=[{"type": "divider"}])
    second = client.chat_postMessage(channel="C1", text="Another")
    assert float(first["ts"]) < float(second["ts"])
    assert abs(float(first["ts"]) - time.time()) < 60  # epoch seconds, as Slack uses
    assert first["message"]["user"] == "U0BOT"

    client.chat_update(channel="C1", ts=first["ts"], text="Resolved", blocks=[])
    assert [m["text"] for m in emu.messages("C1")] == ["Resolved", "Another"]
    assert emu.updates("C1", first["ts"])[0]["text"] == "Resolved"
    assert api_error(lambda: client.chat_update(channel="C1", ts="1.2", text="x"))["error"] == "message_not_found"

    link = client.chat_getPermalink(channel="C1", message_ts=first["ts"])["permalink"]
    assert link == "https://acme.slack.com/archives/C1/p" + first["ts"].replace(".", "")
    assert emu.calls("chat.postMessage")[0]["blocks"] == [{"type": "divider"}]


def test_known_channels(client):
    with SlackEmulator(known_channels=["C1"]) as strict:
        strict_client = WebClient(token=strict.token, base_url=strict.api_url)
        strict_client.chat_postMessage(channel="C1", text="ok")
        assert api_error(lambda: strict_client.chat_postMessage(channel="C9", text="x"))["error"] == "channel_not_found"


def test_history_metadata_and_threads(emu, client):
    metadata = {"event_type": "complaint", "event_payload": {"id": 42}}
    parent = client.chat_postMessage(channel="C1", text="card", metadata=metadata)["ts"]
    client.chat_postMessage(channel="C1", text="bot note", thread_ts=parent)
    emu.add_message("C1", "agent note", user="U1", thread_ts=parent)
    later = client.chat_postMessage(channel="C1", text="later")["ts"]

    plain = client.conversations_history(channel="C1")["messages"]
    assert [m["text"] for m in plain] == ["later", "card"]  # newest first, top level only
    assert "metadata" not in plain[1] and plain[1]["reply_count"] == 2
    rich = client.conversations_history(channel="C1", include_all_metadata=True, limit=1, oldest=parent)
    assert [m["ts"] for m in rich["messages"]] == [later] and rich["has_more"] is False
    assert client.conversations_history(channel="C1", include_all_metadata=True)["messages"][1]["metadata"] == metadata

    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m["text"] for m in replies] == ["card", "bot note", "agent note"]
    assert [m["text"] for m in emu.thread("C1", parent)] == ["card", "bot note", "agent note"]


def test_views(emu, client):
    view = {"type": "modal", "callback_id": "reply_modal", "title": {"type": "plain_text", "text": "Reply"},
            "private_metadata": '{"complaint_id":42}', "blocks": []}
    opened = client.views_open(trigger_id="1234.5678.abcd", view=view)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "reply_modal"
    assert api_error(lambda: client.views_open(trigger_id="expired-1", view=view))["error"] == "expired_trigger_id"

    client.views_update(view_id=opened["id"], view={**view, "callback_id": "sent"})
    assert emu.opened_views[0]["callback_id"] == "sent"

    home = {"type": "home", "blocks": [{"type": "divider"}]}
    first = client.views_publish(user_id="U1", view=home)["view"]
    second = client.views_publish(user_id="U1", view={**home, "blocks": []})["view"]
    assert first["id"] == second["id"] and emu.home_views["U1"]["blocks"] == []


def test_files_upload_v2_makes_three_calls(emu, client):
    parent = client.chat_postMessage(channel="C1", text="card")["ts"]
    result = client.files_upload_v2(channel="C1", content="a,b\n1,2\n", filename="report.csv", title="Report",
                                    initial_comment="Weekly report", thread_ts=parent)
    file_id = result["file"]["id"]
    assert [r.route for r in emu.received()[1:]] == [
        "files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    upload = emu.uploads[file_id]
    assert upload["content"] == b"a,b\n1,2\n" and upload["title"] == "Report"
    assert (upload["channel_id"], upload["thread_ts"], upload["initial_comment"]) == ("C1", parent, "Weekly report")
    assert emu.thread("C1", parent)[-1]["files"][0]["id"] == file_id


def test_users_and_dm_channels(emu, client):
    emu.add_user("U1", "alice", "Alice Doe", tz="America/New_York")
    emu.add_user("U2", "bob", deleted=True)
    assert client.users_info(user="U1")["user"]["real_name"] == "Alice Doe"
    assert api_error(lambda: client.users_info(user="U404"))["error"] == "user_not_found"
    dm = client.conversations_open(users="U1")["channel"]["id"]
    assert dm.startswith("D") and client.conversations_open(users=["U1"])["channel"]["id"] == dm
    assert client.chat_postMessage(channel="U1", text="your case")["channel"] == dm
    assert api_error(lambda: client.conversations_open(users="U2"))["error"] == "user_not_found"
    client.chat_postEphemeral(channel=dm, user="U1", text="only you")
    assert emu.ephemerals[0]["text"] == "only you"


def test_rate_limit_raises_then_retry_handler_recovers(emu, client):
    emu.fail("chat.postMessage", status=429, headers={"Retry-After": "0"})
    response = api_error(lambda: client.chat_postMessage(channel="C1", text="x"))
    assert response.status_code == 429 and response["error"] == "ratelimited"

    retrying = WebClient(token=emu.token, base_url=emu.api_url,
                         retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)])
    emu.fail("chat.postMessage", status=429, headers={"Retry-After": "0"})
    assert retrying.chat_postMessage(channel="C1", text="after retry")["ok"]
    assert len(emu.calls("chat.postMessage")) == 3 and emu.messages("C1")[-1]["text"] == "after retry"


def test_slow_answer_times_the_client_out(emu):
    emu.fail("auth.test", status=None, delay=2.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        WebClient(token=emu.token, base_url=emu.api_url, timeout=0.3).auth_test()
    assert time.monotonic() - started < 1.5


def test_response_url_records_respond(emu):
    url = emu.new_response_url()
    WebhookClient(url).send(text="Working on it", response_type="ephemeral")
    assert emu.responses == [{"text": "Working on it", "response_type": "ephemeral"}]


def test_socket_mode_round_trip(emu, client):
    socket_client = SocketModeClient(app_token=emu.app_token, web_client=client, auto_reconnect_enabled=False)

    def ack(sm_client, request):
        sm_client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    socket_client.socket_mode_request_listeners.append(ack)
    socket_client.connect()
    try:
        envelope_id = emu.socket_send({"type": "events_api", "payload": json.loads(
            slack_client.event_callback({"type": "app_home_opened", "user": "U1", "tab": "home"}))})
        emu.wait_for(lambda: emu.socket_acks, what="a Socket Mode ack")
        assert emu.socket_acks == [{"envelope_id": envelope_id}]
    finally:
        emu.stop()  # closing our end first spares close() its 3 s blocking receive
        socket_client.close()


def test_signed_block_actions_verify_and_arrive_intact(emu):
    secret = "test-secret"
    blocks = [{"type": "actions", "block_id": "card", "elements": [
        {"type": "button", "action_id": "resolve", "text": {"type": "plain_text", "text": "Resolve"}, "value": "42"},
        {"type": "static_select", "action_id": "assign", "options": [
            {"text": {"type": "plain_text", "text": "Alice"}, "value": "U1"}]}]}]
    body = slack_client.block_actions("U1", "assign", "U1", channel="C1", message_ts="1700000000.000100",
                                      message_blocks=blocks)
    response = slack_client.post(emu.new_response_url(), body, slack_client.SlackSigner(secret), retry_num=1)
    assert response.status_code == 200

    received = emu.received("response")[0]
    assert SignatureVerifier(secret).is_valid_request(received.body, received.headers)
    assert not SignatureVerifier("other").is_valid_request(received.body, received.headers)
    assert received.headers["x-slack-retry-num"] == "1"
    payload = json.loads(parse_qs(received.body.decode())["payload"][0])
    action = payload["actions"][0]
    assert (action["block_id"], action["selected_option"]["value"]) == ("card", "U1")
    assert payload["container"]["message_ts"] == "1700000000.000100"


def test_wait_for_names_what_it_waited_for(emu):
    with pytest.raises(TimeoutError, match="a card"):
        emu.wait_for(lambda: emu.messages("C1"), timeout=0.05, what="a card")


def test_bolt_routes_our_payloads(emu, client):
    """Bolt's own parsing accepts every payload builder, and its client/respond calls land in the emulator."""
    signer = slack_client.SlackSigner("test-secret")
    app = App(signing_secret="test-secret", client=client, process_before_response=True)
    seen = []

    @app.action("resolve")
    def on_resolve(ack, body, respond):
        ack()
        seen.append(("action", body["actions"][0]["value"]))
        respond(text="Resolved")

    @app.view("reply_modal")
    def on_submit(ack, view):
        ack()
        seen.append(("view", view["state"]["values"]["reply"]["text"]["value"], view["private_metadata"]))

    @app.command("/socialdesk")
    def on_command(ack, command, client):
        ack()
        client.views_open(trigger_id=command["trigger_id"], view={"type": "modal", "callback_id": "reply_modal",
                                                                  "title": {"type": "plain_text", "text": "R"}})

    @app.event("app_home_opened")
    def on_home(event, client):
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

    bodies = [
        slack_client.block_actions("U1", "resolve", "case-42", channel="C1", message_ts="1700000000.000100",
                                   response_url=emu.new_response_url()),
        slack_client.view_submission("U1", "reply_modal", "case-42", {"reply": {"text": "Sorry!"}}),
        slack_client.slash_command("U1", text="open"),
        slack_client.event_callback({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}),
    ]
    for body in bodies:
        headers = {k.lower(): [v] for k, v in signer.headers(body).items()}
        assert app.dispatch(BoltRequest(body=body.decode(), headers=headers)).status == 200

    assert seen == [("action", "case-42"), ("view", "Sorry!", "case-42")]
    assert emu.responses == [{"text": "Resolved"}]
    assert emu.opened_views[0]["callback_id"] == "reply_modal" and "U1" in emu.home_views
