"""The app manifest declares what the code uses, so one paste creates a working app."""
from __future__ import annotations

import json
from tests.helpers import ROOT

MANIFEST = json.loads((ROOT / "bot" / "slack" / "manifest.json").read_text())


def test_the_command_events_and_interactivity_are_declared():
    assert [c["command"] for c in MANIFEST["features"]["slash_commands"]] == ["/socialdesk"]
    settings = MANIFEST["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert "app_home_opened" in settings["event_subscriptions"]["bot_events"]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    for url in (settings["interactivity"]["request_url"], settings["event_subscriptions"]["request_url"], MANIFEST["features"]["slash_commands"][0]["url"]):
        assert url.endswith("/slack/events")


def test_the_scopes_cover_the_web_api_methods_the_bot_calls():
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    needed = {
        "chat:write": "chat.postMessage, chat.update, chat.postEphemeral",
        "commands": "/socialdesk",
        "channels:history": "conversations.history to reconcile a card whose answer was lost",
        "im:write": "conversations.open for on-call DMs",
        "users:read": "users.info for names and timezones",
        "files:write": "files_upload_v2 for charts and exports",
    }
    assert set(needed) <= scopes

