"""App Home: the person's cases and the team's numbers."""
from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot.domain.states import CaseStatus, OPEN_STATUSES
from bot.flows import digest
from bot.runtime import Runtime
from bot.slack import blocks, stats_blocks
from storage import models as m


def register(app: App, rt: Runtime) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict, client: WebClient):
        if event.get("tab") != "home":
            return
        user_id = event["user"]
        with rt.db.session() as session:
            open_cases = select(m.Case).options(selectinload(m.Case.posts)).where(m.Case.status.in_(OPEN_STATUSES))
            mine = list(session.scalars(open_cases.where(m.Case.claimed_by == user_id).order_by(m.Case.created_at)))
            waiting = list(session.scalars(open_cases.where(m.Case.claimed_by.is_(None)).order_by(m.Case.created_at).limit(15)))
            counts = dict(session.execute(select(m.Case.status, func.count()).group_by(m.Case.status)).all())
        numbers = {"open": counts.get(CaseStatus.OPEN, 0) + counts.get(CaseStatus.FAILED, 0), "answered": counts.get(CaseStatus.ANSWERED, 0), "dismissed": counts.get(CaseStatus.DISMISSED, 0)}
        team = stats_blocks.home_numbers(*digest.home_reports(rt, client, user_id)) if rt.config.roles.is_manager(user_id) else None
        client.views_publish(user_id=user_id, view=blocks.home_view(user_id, mine, waiting, numbers, team))
