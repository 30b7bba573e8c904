"""socialdesk.toml mistakes explained in plain words, with the section, the line and the nearest key."""
from __future__ import annotations

import pytest

from bot.config import ConfigError, load_file_config


@pytest.mark.parametrize("toml, expected", [
    ('[oncall]\nmembers = ["U01AAA"]\nhandof = "09:00"\n', '(line 3): [oncall] handof: unknown key `handof`; did you mean `handoff`?'),
    ('[oncal]\nmembers = ["U01AAA"]\n', '(line 1): [oncal]: unknown section `oncal`; did you mean `oncall`?'),
    ('[roles]\nzzz = 1\n', "unknown key `zzz`; known keys: agents, approvers, managers"),
    ('[approvals]\nrequired = "big_accounts"\nmin_followers = "lots"\n', "[approvals] min_followers: `min_followers` should be a whole number, like 10000"),
    ('[approvals]\nmin_followers = 1.5\n', "should be a whole number, like 10000"),
    ('[oncall]\nmembers = "U01AAA"\n', '[oncall] members: should be a list in square brackets, like ["U01AAA"], not a single string'),
    ('[roles]\nmanagers = "U01MGR"\n', 'like ["U01MGR"], not a single string'),
    ('[sla]\nbusiness_days = "mon"\n', '`business_days` should be a list in square brackets, like ["mon", "tue", "wed", "thu", "fri"]'),
    ('[routing]\ncard = "complaint"\n', "`card` should be a list in square brackets"),
    ('[oncall]\nmembers = ["U01AAA"]\nrotation = "monthly"\n', '`rotation` should be one of "daily" or "weekly"'),
    ('[oncall]\nmembers = ["U01AAA"]\nhandoff = 9\n', '`handoff` should be text in quotes, like "09:00"'),
    ('sla = 5\n', "`sla` should be a section of its own ([sla])"),
    ('[digest]\nslowest = 50\n', "`slowest` should be less than or equal to 20"),
])
def test_mistakes_are_explained(tmp_path, toml, expected):
    path = tmp_path / "socialdesk.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_file_config(path)
    assert expected in str(raised.value)
    assert "Input should be" not in str(raised.value) and "'U'" not in str(raised.value)
