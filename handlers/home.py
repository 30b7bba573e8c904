"""App Home: the person's cases and the team's numbers."""
from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.domain import cases
from bot.flows import digest
from bot.runtime import Runtime
from bot.slack import blocks, stats_blocks


def register(app: App, rt: Runtime) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict, client: WebClient):
        if event.get("tab") != "home":
            return
        user_id = event["user"]
        with rt.db.session() as session:
            lists = cases.home_lists(session, user_id)
        team = stats_blocks.home_numbers(*digest.home_reports(rt, client, user_id)) if rt.config.roles.is_manager(user_id) else None
        client.views_publish(user_id=user_id, view=blocks.home_view(user_id, lists.mine, lists.waiting, lists.numbers, team))
