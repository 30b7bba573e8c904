"""Roles: each one may do what the ones below it may."""
from __future__ import annotations

import pytest

from bot.config import RolesConfig
from bot.domain.roles import Role, role_of

ROLES = RolesConfig(agents=["U0AGENT"], approvers=["U0APPROVER"], managers=["U0MANAGER"])


@pytest.mark.parametrize(
    "user, role, may_answer, may_approve",
    [
        ("U0MANAGER", Role.MANAGER, True, True),
        ("U0APPROVER", Role.APPROVER, True, True),
        ("U0AGENT", Role.AGENT, True, False),
        ("U0STRANGER", Role.NONE, False, False),
    ],
)
def test_role_of(user, role, may_answer, may_approve):
    got = role_of(ROLES, user)
    assert got is role and got.may_answer is may_answer and got.may_approve is may_approve
    assert got.may_answer == ROLES.may_answer(user)  # the same answer as the config's own rule


def test_everyone_answers_while_no_agents_are_listed():
    assert role_of(RolesConfig(), "U0ANYONE") is Role.AGENT
