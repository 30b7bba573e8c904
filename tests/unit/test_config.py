"""Configuration: durations, defaults, and bad files that name the key and the line."""
from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, FileConfig, load_file_config, load_settings, parse_duration


@pytest.mark.parametrize("text,expected", [("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1)), ("2d", timedelta(days=2))])
def test_durations(text, expected):
    assert parse_duration(text) == expected


def test_no_file_means_sensible_defaults(tmp_path):
    config = load_file_config(tmp_path / "missing.toml")
    assert config == FileConfig()
    assert config.sla.x == timedelta(minutes=15) and config.sla.facebook == timedelta(hours=1)
    assert config.roles.may_answer("U0ANYONE")


def test_a_full_file_loads(tmp_path):
    path = tmp_path / "socialdesk.toml"
    path.write_text(
        '[sla]\nx = "10m"\nfacebook = "2h"\n\n[oncall]\nmembers = ["U01AAA", "U01BBB"]\nhandoff = "09:00"\n'
        'rotation = "daily"\ntimezone = "Europe/London"\nescalate_to = ["U01MGR"]\nescalate_after = "15m"\n\n'
        '[roles]\nagents = ["U01AAA"]\napprovers = []\nmanagers = ["U01MGR"]\n'
    )
    config = load_file_config(path)
    assert config.sla.x == timedelta(minutes=10)
    assert config.oncall.members == ["U01AAA", "U01BBB"]
    assert config.roles.may_answer("U01AAA") and config.roles.may_answer("U01MGR") and not config.roles.may_answer("U01ZZZ")
    assert config.roles.is_manager("U01MGR") and not config.roles.is_manager("U01AAA")


# Every bad configuration stops the start with a message naming the key and its line.
@pytest.mark.parametrize(
    "body,expected",
    [
        ('[sla]\nx = "soon"\n', 'line 2): [sla] x: "soon" is not a duration'),
        ('[oncall]\n\nhandoff = "25:00"\n', 'line 3): [oncall] handoff: "25:00" is not a time of day'),
        ('[oncall]\ntimezone = "Mars/Olympus"\n', "line 2): [oncall] timezone"),
        ('[oncall]\nmembers = ["alice"]\n', '"alice" is not a Slack user id'),
        ('[roles]\nboss = ["U01AAA"]\n', "line 2): [roles] boss: unknown key"),
        ("[sla\nx=1", "not valid TOML"),
        # [oncall]
        ('[oncall]\nmembers = ["U01AAA"]\nhandoff = "25:00"\n', 'line 3): [oncall] handoff: "25:00" is not a time of day'),
        ('[oncall]\nhandoff = "09:00"\nrotation = "weekly"\n', "[oncall] members: the rotation has no members but handoff, rotation are set"),
        ('[oncall]\nmembers = []\nescalate_to = ["U01MGR"]\n', "line 2): [oncall] members: the rotation has no members"),
        ('[oncall]\nmembers = ["U01AAA"]\ntimezone = "Europe/Londn"\n', 'line 3): [oncall] timezone: "Europe/Londn" is not a known timezone'),
        ('[oncall]\nmembers = ["U01AAA", "alice"]\n', 'line 2): [oncall] members: "alice" is not a Slack user id'),
        ('[oncall]\nmembers = ["U01AAA"]\nescalate_to = ["@boss"]\n', 'line 3): [oncall] escalate_to: "@boss" is not a Slack user id'),
        ('[oncall]\nmembers = ["U01AAA"]\nquiet_hours = "late"\n', "line 3): [oncall] quiet_hours"),
        ('[oncall]\nmembers = ["U01AAA"]\nrotation = "monthly"\n', "line 3): [oncall] rotation"),
        ('[oncall]\nmembers = ["U01AAA"]\nhandoff_day = "someday"\n', "line 3): [oncall] handoff_day"),
        # [sla]
        ('[sla]\nbusiness_hours = "9-5"\n', 'line 2): [sla] business_hours: "9" is not a time of day'),
        ('[sla]\nbusiness_hours = "09:00-17:00"\ntimezone = "Moon/Base"\n', 'line 3): [sla] timezone: "Moon/Base" is not a known timezone'),
        ('[sla]\nbusiness_days = []\n', "line 2): [sla] business_days"),
        ('[sla]\nbusiness_days = ["monday"]\n', "line 2): [sla] business_days"),
        ('[sla]\nnudge_before = "soon"\n', 'line 2): [sla] nudge_before: "soon" is not a duration'),
        ('[sla.urgent]\nx = "fast"\n', '[sla] urgent: "fast" is not a duration'),
        ('[sla.urgent]\ntiktok = "5m"\n', "[sla] urgent: unknown key"),
        # [digest]
        ('[digest]\nchannel = "#managers"\n', 'line 2): [digest] channel: "#managers" is not a Slack channel id'),
        ('[digest]\nchannel = "C0MGRS"\nday = "funday"\n', 'line 3): [digest] day: "funday" is not a day of the week'),
        ('[digest]\ntime = "9am"\n', 'line 2): [digest] time: "9am" is not a time of day'),
        ('[digest]\ntimezone = "Mars/Olympus"\n', "line 2): [digest] timezone"),
        ('[digest]\nhour = 9\n', "line 2): [digest] hour: unknown key"),
        # mistakes explained in plain words, with the nearest key
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
    ],
)
def test_a_bad_file_names_the_key_and_line(tmp_path, body, expected):
    path = tmp_path / "socialdesk.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as error:
        load_file_config(path)
    assert expected in str(error.value)
    assert "Input should be" not in str(error.value) and "'U'" not in str(error.value)  # never pydantic's own words


def test_settings_come_from_the_environment_and_hide_secrets(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-value")
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "30")
    settings = load_settings()
    assert settings.poll_interval_seconds == 30
    assert "xoxb-secret-value" not in repr(settings) and "xoxb-secret-value" not in str(settings.model_dump())
    assert settings.database_url == "sqlite:///socialdesk.db" and settings.port == 3000


def test_a_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "often")
    with pytest.raises(ConfigError, match="POLL_INTERVAL_SECONDS"):
        load_settings()
