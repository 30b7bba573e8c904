"""Who someone is to socialdesk ([roles] in socialdesk.toml): each role may do what the ones below it may."""
from __future__ import annotations

from enum import StrEnum

from bot.config import RolesConfig


class Role(StrEnum):
    MANAGER = "manager"    # manager views, and everything an approver may do
    APPROVER = "approver"  # releases or sends back held drafts, and answers
    AGENT = "agent"        # answers customers (everyone, while `agents` is empty)
    NONE = "none"          # may look, not answer

    @property
    def may_answer(self) -> bool:
        return self is not Role.NONE

    @property
    def may_approve(self) -> bool:
        return self in (Role.MANAGER, Role.APPROVER)


def role_of(roles: RolesConfig, user_id: str) -> Role:
    if roles.is_manager(user_id):
        return Role.MANAGER
    if user_id in roles.approvers:
        return Role.APPROVER
    return Role.AGENT if roles.may_answer(user_id) else Role.NONE
