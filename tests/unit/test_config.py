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


@pytest.mark.parametrize(
    "body,expected",
    [
        ('[sla]\nx = "soon"\n', 'line 2): [sla] x: "soon" is not a duration'),
        ('[oncall]\n\nhandoff = "25:00"\n', 'line 3): [oncall] handoff: "25:00" is not a time of day'),
        ('[oncall]\ntimezone = "Mars/Olympus"\n', "line 2): [oncall] timezone"),
        ('[oncall]\nmembers = ["alice"]\n', '"alice" is not a Slack user id'),
        ('[roles]\nboss = ["U01AAA"]\n', "line 2): [roles] boss: unknown key"),
        ("[sla\nx=1", "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_key_and_line(tmp_path, body, expected):
    path = tmp_path / "socialdesk.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as error:
        load_file_config(path)
    assert expected in str(error.value)


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
