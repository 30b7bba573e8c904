"""Who must have a reply approved before it goes out ([approvals] and [roles] in socialdesk.toml)."""
from __future__ import annotations

from dataclasses import dataclass

from bot.config import ApprovalsConfig, RolesConfig

NOT_APPROVER = ":lock: Only approvers can approve or reject a draft. Approvers are listed in `[roles] approvers` (managers may approve too)."


@dataclass(frozen=True)
class ApprovalPolicy:
    approvals: ApprovalsConfig
    roles: RolesConfig

    def is_approver(self, user_id: str) -> bool:
        return user_id in self.roles.approvers or user_id in self.roles.managers

    def needs_approval(self, *, user_id: str, priority: str, followers: int) -> bool:
        """Whether this person's reply must wait for an approver (approvers never wait)."""
        if self.is_approver(user_id):
            return False
        rule = self.approvals.required
        if rule == "all":
            return True
        if rule == "high_priority":
            return priority in ("urgent", "high")
        if rule == "big_accounts":
            return followers >= self.approvals.min_followers
        return False
