"""Configuration: secrets from the environment (or `.env`), the rest from `socialdesk.toml`.

Read once at start, typed, and fail fast with a message that names the variable or
the key and line at fault. Secrets are `SecretStr` so they never print.
"""
from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_GRAPH_VERSION = "v21.0"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class ConfigError(Exception):
    """A configuration problem a person must fix before the bot can start."""


def parse_duration(value: object) -> timedelta:
    """Turn "90s", "15m", "1h" or "2d" into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f'"{value}" is not a duration; write it like "90s", "15m", "1h" or "2d"')
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _check_user_ids(ids: list[str]) -> list[str]:
    for user_id in ids:
        if not _USER_ID.match(user_id):
            raise ValueError(f'"{user_id}" is not a Slack user id (they look like "U01ABCDEF")')
    return ids


UserIds = Annotated[list[str], BeforeValidator(lambda v: _check_user_ids(list(v)))]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlaConfig(_Section):
    x: Duration = timedelta(minutes=15)
    facebook: Duration = timedelta(hours=1)

    def for_network(self, network: str) -> timedelta:
        return getattr(self, network, self.facebook)


class OncallConfig(_Section):
    members: UserIds = []
    handoff: str = "09:00"
    rotation: Literal["daily", "weekly"] = "weekly"
    timezone: str = "UTC"
    escalate_to: UserIds = []
    escalate_after: Duration = timedelta(minutes=15)

    @field_validator("handoff")
    @classmethod
    def _handoff(cls, value: str) -> str:
        match = re.match(r"^(\d{1,2}):(\d{2})$", value)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError(f'"{value}" is not a time of day; write it like "09:00"')
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'"{value}" is not a known timezone (e.g. "Europe/London")') from None
        return value


class RolesConfig(_Section):
    agents: UserIds = []
    approvers: UserIds = []
    managers: UserIds = []

    def may_answer(self, user_id: str) -> bool:
        """Empty `agents` means everyone may answer; approvers and managers always may."""
        if not self.agents:
            return True
        return user_id in self.agents or user_id in self.approvers or user_id in self.managers

    def is_manager(self, user_id: str) -> bool:
        return user_id in self.managers


class RoutingConfig(_Section):
    """Which triage categories get a card in the channel."""

    card: list[Literal["complaint", "question", "praise", "spam", "other"]] = ["complaint", "question", "praise"]


class FileConfig(_Section):
    sla: SlaConfig = Field(default_factory=SlaConfig)
    oncall: OncallConfig = Field(default_factory=OncallConfig)
    roles: RolesConfig = Field(default_factory=RolesConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)


class Settings(BaseSettings):
    """Environment variables of the external contract (see README)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    socialdesk_channel: str = ""
    database_url: str = "sqlite:///socialdesk.db"

    x_bearer_token: SecretStr | None = None
    x_api_key: SecretStr | None = None
    x_api_secret: SecretStr | None = None
    x_access_token: SecretStr | None = None
    x_access_token_secret: SecretStr | None = None
    x_search_query: str = ""
    x_user_id: str = ""

    facebook_page_id: str = ""
    facebook_page_access_token: SecretStr | None = None
    facebook_app_secret: SecretStr | None = None
    facebook_verify_token: SecretStr | None = None

    slack_api_url: str = "https://slack.com/api/"
    x_api_url: str = "https://api.twitter.com"
    facebook_graph_url: str = "https://graph.facebook.com/"
    facebook_graph_version: str = DEFAULT_GRAPH_VERSION

    poll_interval_seconds: int = Field(default=60, ge=5)
    socialdesk_config: str = "socialdesk.toml"
    port: int = 3000
    host: str = "0.0.0.0"

    @property
    def x_enabled(self) -> bool:
        return all(
            s is not None and s.get_secret_value()
            for s in (self.x_bearer_token, self.x_api_key, self.x_api_secret, self.x_access_token, self.x_access_token_secret)
        )

    @property
    def facebook_enabled(self) -> bool:
        token = self.facebook_page_access_token
        return bool(self.facebook_page_id and token and token.get_secret_value())


def secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _line_of(text: str, section: str, key: str) -> int | None:
    """Find the line of `key` inside `[section]` so errors can point at it."""
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[([^\]]+)\]", stripped)
        if header:
            current = header.group(1).strip()
            if current == section and not key:
                return number
            continue
        if current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None


def load_file_config(path: str | Path) -> FileConfig:
    """Load socialdesk.toml; a missing file means all defaults."""
    path = Path(path)
    if not path.exists():
        return FileConfig()
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return FileConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(part) for part in err["loc"] if not isinstance(part, int)]
            section = loc[0] if loc else ""
            key = loc[1] if len(loc) > 1 else ""
            line = _line_of(text, section, key)
            where = f"[{section}] {key}".strip() if key else f"[{section}]"
            at = f" (line {line})" if line else ""
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{path}{at}: {where}: {message}")
        raise ConfigError("\n".join(problems)) from None


def load_settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("bad environment: " + "; ".join(problems)) from None
