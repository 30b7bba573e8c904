"""Configuration: secrets from the environment (or `.env`), the rest from `socialdesk.toml`.

Read once at start, typed, and fail fast with a message that names the variable or
the key and line at fault. Secrets are `SecretStr` so they never print.
"""
from __future__ import annotations

import difflib
import json
import re
import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_GRAPH_VERSION = "v21.0"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class ConfigError(Exception):
    """A configuration problem a person must fix before the bot can start."""


class StartupError(Exception):
    """The bot cannot start for a reason outside its configuration file (a refused token, no network): one sentence."""


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


def _user_id_list(value: object) -> list[str]:
    """A list of user ids; one id as a plain string is a mistake to name, not a list of its letters."""
    if isinstance(value, str):
        raise ValueError(f'should be a list in square brackets, like ["{value or "U01ABCDEF"}"], not a single string')
    if not isinstance(value, (list, tuple)):
        raise ValueError('should be a list of Slack user ids, like ["U01ABCDEF"]')
    return _check_user_ids([str(v) for v in value])


UserIds = Annotated[list[str], BeforeValidator(_user_id_list)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Priority = Literal["urgent", "high", "normal", "low"]


def parse_time_of_day(value: str) -> time:
    match = re.match(r"^\s*(\d{1,2}):(\d{2})\s*$", str(value))
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f'"{value}" is not a time of day; write it like "09:00"')
    return time(int(match.group(1)), int(match.group(2)))


def parse_window(value: str) -> tuple[time, time] | None:
    """ "09:00-17:00" -> (09:00, 17:00); "" -> None. An end at or before the start runs past midnight."""
    if not str(value).strip():
        return None
    parts = str(value).split("-")
    if len(parts) != 2:
        raise ValueError(f'"{value}" is not a time range; write it like "09:00-17:00"')
    return parse_time_of_day(parts[0]), parse_time_of_day(parts[1])


def _check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{value}" is not a known timezone (e.g. "Europe/London")') from None
    return value


class _PerNetwork(BaseModel):
    """A section whose other keys are network names (`x = "15m"`): any network socialdesk has an adapter for."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Duration] = Field(init=False)

    @model_validator(mode="before")
    @classmethod
    def _network_keys(cls, data):
        from bot.networks import catalogue  # the adapters know their own names; imported late (they import config)

        if isinstance(data, dict):
            known = catalogue()
            for key in data:
                if key not in cls.model_fields and key not in known:
                    raise ValueError(f'unknown key "{key}" (besides the keys of this section, the networks: {", ".join(known)})')
        return data

    def target_for(self, network: str) -> timedelta | None:
        return (self.__pydantic_extra__ or {}).get(network)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            from bot.networks import catalogue

            if name in catalogue():
                return self._default(name)
            raise

    def _default(self, network: str) -> timedelta | None:
        return None


class PrioritySla(_PerNetwork):
    """Targets for one priority; a network left out keeps its own target."""


class SlaConfig(_PerNetwork):
    """`x = "15m"`, `facebook = "1h"`, ...: each network's target, defaulting to what its adapter says."""

    urgent: PrioritySla = Field(default_factory=PrioritySla)
    high: PrioritySla = Field(default_factory=PrioritySla)
    normal: PrioritySla = Field(default_factory=PrioritySla)
    low: PrioritySla = Field(default_factory=PrioritySla)
    business_hours: str = ""  # "09:00-17:00"; empty: the clock runs around the day
    business_days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1)
    holidays: list[date] = []
    timezone: str = ""  # of the business hours; empty: [oncall] timezone
    nudge_before: Duration = timedelta(minutes=5)  # thread nudge this long before the due time
    check_every: Duration = timedelta(seconds=30)  # how often the SLA clocks are checked

    def _default(self, network: str) -> timedelta:
        from bot.networks import info

        return info(network).sla

    def for_network(self, network: str) -> timedelta:
        return self.target_for(network) or self._default(network)

    def target(self, network: str, priority: str) -> timedelta:
        """Time to first response for a case of this network and priority."""
        by_priority = getattr(self, priority, None) if priority in ("urgent", "high", "normal", "low") else None
        specific = by_priority.target_for(network) if by_priority is not None else None
        return specific if specific is not None else self.for_network(network)

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _check_timezone(value) if value else value

    @field_validator("check_every")
    @classmethod
    def _check_every(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value


class _NoMembers:
    """Stands in for a missing member list so the error names `[oncall] members`."""

    def __init__(self, keys: list[str]):
        self.keys = keys


class OncallConfig(_Section):
    members: UserIds = []
    handoff: str = "09:00"
    rotation: Literal["daily", "weekly"] = "weekly"
    timezone: str = "UTC"
    escalate_to: UserIds = []
    escalate_after: Duration = timedelta(minutes=15)
    handoff_day: Weekday = "mon"  # weekly rotations hand over on this day
    rotation_start: date = date(2024, 1, 1)  # a day of the first member's first shift: anchors the order
    page_after: Duration = timedelta(0)  # DM the on-call person this long after the due time
    quiet_hours: str = ""  # "22:00-07:00" in `timezone`: no DMs then, except for these priorities:
    page_in_quiet_hours: list[Priority] = ["urgent"]

    @model_validator(mode="before")
    @classmethod
    def _rotation_needs_members(cls, data):
        if isinstance(data, dict) and not data.get("members") and set(data) - {"members"}:
            data = {**data, "members": _NoMembers(sorted(set(data) - {"members"}))}
        return data

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, value):
        if isinstance(value, _NoMembers):
            raise ValueError(
                f"the rotation has no members but {', '.join(value.keys)} {'is' if len(value.keys) == 1 else 'are'} set: "
                'list the Slack user ids of the people on call (members = ["U01ABCDEF"]) or remove the [oncall] section'
            )
        return value

    @field_validator("handoff")
    @classmethod
    def _handoff(cls, value: str) -> str:
        parse_time_of_day(value)
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        parse_window(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _check_timezone(value)


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
    """Which triage categories get a card; the rest of what is addressed to the brand goes to the lane.

    Nothing addressed to the brand is hidden: only spam (unless `card` lists
    it) and, with `search = "hidden"`, brand-search hits that are not cards;
    both are counted and reviewable with `/socialdesk review`.
    """

    card: list[Literal["complaint", "question", "praise", "spam", "other"]] = ["complaint", "question", "praise"]
    search: Literal["lane", "hidden"] = "lane"  # brand-search hits (not addressed to the brand) that get no card
    lane_shown: int = Field(default=10, ge=1, le=20)  # posts listed in the lane message (the rest are counted)


_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


class DigestConfig(_Section):
    """The weekly digest for managers; an empty `channel` means no digest is posted."""

    channel: str = ""
    day: str = "mon"          # APScheduler day_of_week: "mon", "mon-fri", "mon,thu", "*"
    time: str = "09:00"
    timezone: str = "UTC"
    slowest: int = Field(default=5, ge=0, le=20)   # open cases listed
    topics: int = Field(default=5, ge=0, le=20)    # complaint topics listed

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value and not _CHANNEL_ID.match(value):
            raise ValueError(f'"{value}" is not a Slack channel id (they look like "C01ABCDEF"; a name like #managers will not do)')
        return value

    @field_validator("day")
    @classmethod
    def _day(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger(day_of_week=value.strip().lower(), timezone="UTC")
        except (ValueError, TypeError):
            raise ValueError(f'"{value}" is not a day of the week; write "mon", "mon-fri", "mon,thu" or "*" for every day') from None
        return value.strip().lower()

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
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

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


class ApprovalsConfig(_Section):
    """When an agent's reply needs an approver's click before it goes out."""

    required: Literal["none", "all", "high_priority", "big_accounts"] = "none"
    min_followers: int = Field(default=10_000, ge=0)  # "big_accounts": authors with at least this many


class WorkflowConfig(_Section):
    claim_timeout: Duration = timedelta(hours=2)  # a claim nobody acted on is released after this


class SavedReply(_Section):
    name: str = Field(min_length=1, max_length=75)
    text: str = Field(min_length=1, max_length=3000)
    category: Literal["complaint", "question", "praise", "spam", "other", "any"] = "any"
    lang: str = ""  # ISO 639-1 code ("es") of the reply's language; empty: any post

    @field_validator("lang")
    @classmethod
    def _lang(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(r"[a-z]{2}", value):
            raise ValueError(f'"{value}" is not a two-letter language code (ISO 639-1, e.g. "es", "de")')
        return value


class IncidentsConfig(_Section):
    """When many people complain about one thing at once: one incident instead of a card each."""

    window: Duration = timedelta(minutes=10)     # complaints counted over this long
    min_posts: int = Field(default=20, ge=2)     # fewer complaints than this in a window are never a spike
    spike_factor: float = Field(default=4.0, ge=1.0)  # ...and at least this many times the usual number
    baseline_weeks: int = Field(default=4, ge=1, le=12)  # "usual": the same hour and weekday of past weeks
    cooldown: Duration = timedelta(minutes=30)   # after a spike opens an incident, no new spike alert this long
    large_group: int = Field(default=100, ge=2)  # ...except for a group this large that fits no open incident
    join_score: float = Field(default=0.6, gt=0.0, le=2.0)  # how typical of an incident a post must be to join it
    batch_every: Duration = timedelta(seconds=30)  # new posts go into the incident's thread in batches this often
    update_every: Duration = timedelta(seconds=15)  # the incident message is edited at most this often
    remind_after: Duration = timedelta(minutes=30)  # no public status update for this long: remind the channel


class XPrices(_Section):
    """US dollars per unit. Defaults: X's pay-per-use price list (docs.x.com, x-api/getting-started/pricing,
    as published on 2026-08-22; pay per use since 2026-02-06). Change them here when X changes its prices."""

    post_read: float = Field(default=0.005, ge=0)       # a post returned by search or a lookup
    owned_read: float = Field(default=0.001, ge=0)      # a post from our own mentions timeline (since 2026-04-20)
    user_read: float = Field(default=0.010, ge=0)       # a user object (authors expanded with each page)
    reply: float = Field(default=0.010, ge=0)           # a reply to a post that mentioned or quoted us
    post: float = Field(default=0.015, ge=0)            # a post of our own (an incident status update)
    post_with_link: float = Field(default=0.200, ge=0)  # any post that contains a URL
    dm: float = Field(default=0.015, ge=0)              # a direct message sent


class XConfig(_Section):
    """What socialdesk may spend on X's API in a calendar month (UTC); 0 means no limit (spend is still shown)."""

    monthly_budget: float = Field(default=100.0, ge=0)
    prices: XPrices = Field(default_factory=XPrices)


class FileConfig(_Section):
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    approvals: ApprovalsConfig = Field(default_factory=ApprovalsConfig)
    workflow: WorkflowConfig = Field(default_factory=WorkflowConfig)
    saved_replies: list[SavedReply] = Field(default_factory=list)
    sla: SlaConfig = Field(default_factory=SlaConfig)
    oncall: OncallConfig = Field(default_factory=OncallConfig)
    roles: RolesConfig = Field(default_factory=RolesConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    digest: DigestConfig = Field(default_factory=DigestConfig)
    x: XConfig = Field(default_factory=XConfig)


class Settings(BaseSettings):
    """Environment variables of the external contract (see README)."""

    # Extra keys are kept: a network adapter reads its own `<name>_*` values from them (see bot/networks).
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="allow")

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    socialdesk_channel: str = ""
    database_url: str = "sqlite:///socialdesk.db"

    slack_api_url: str = "https://slack.com/api/"
    # Each network reads its own variables (X_*, FACEBOOK_*, INSTAGRAM_*) in its adapter module: bot/networks.

    poll_interval_seconds: int = Field(default=60, ge=5)
    socialdesk_config: str = "socialdesk.toml"
    port: int = 3000
    host: str = "0.0.0.0"


def secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _line_of(text: str, section: str, key: str) -> int | None:
    """Find the line of `key` inside `[section]` so errors can point at it."""
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.match(r"^\[\[?([^\]]+)\]", stripped)
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
            problems.append(f"{path}{at}: {where}: {_plain_message(err, loc)}")
        raise ConfigError("\n".join(problems)) from None


def _field_of(loc: list[str]):
    """The pydantic field at `loc` (section, key, ...), or None."""
    model, field = FileConfig, None
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        field = fields[part]
        annotation = field.annotation
        model = next((a for a in getattr(annotation, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)), annotation)
    return field


def _plain_message(err: dict, loc: list[str]) -> str:
    """Pydantic's wording turned into what a person can act on: the expected kind of value, with an example."""
    kind = err["type"]
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        known = list(getattr(_model_at(loc[:-1]), "model_fields", {}))
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else (f"; known keys: {', '.join(known)}" if known else "")
        return f"unknown {'section' if len(loc) == 1 else 'key'} `{key}`{hint}"
    field = _field_of(loc)
    default = field.get_default(call_default_factory=True) if field is not None else None
    if kind in ("int_parsing", "int_type", "int_from_float"):
        example = default if isinstance(default, int) and not isinstance(default, bool) and default else 10
        return f"`{key}` should be a whole number, like {example}"
    if kind in ("float_parsing", "float_type"):
        return f"`{key}` should be a number, like 0.5"
    if kind in ("bool_parsing", "bool_type"):
        return f"`{key}` should be true or false (without quotes)"
    if kind == "string_type":
        return f'`{key}` should be text in quotes, like "{default or "..."}"'
    if kind in ("list_type", "tuple_type"):
        example = json.dumps(default) if isinstance(default, list) and default else '["..."]'
        return f"`{key}` should be a list in square brackets, like {example}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"`{key}` should be a section of its own ([{'.'.join(loc)}]) with keys under it" if len(loc) == 1 else \
            f"`{key}` should be a table of keys, like {key} = {{ ... }}"
    if kind == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"`{key}` should be one of {allowed}".replace("'", '"')
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"`{key}` " + err["msg"].replace("Input should be", "should be")
    if kind in ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"):
        return f"`{key}` should be a date, like 2026-12-25"
    if kind == "missing":
        return f"`{key}` is required"
    return err["msg"].removeprefix("Value error, ")


def _model_at(loc: list[str]):
    if not loc:
        return FileConfig
    field = _field_of(loc)
    if field is None:
        return None
    annotation = field.annotation
    return next((a for a in (annotation, *getattr(annotation, "__args__", ())) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def load_settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("bad environment: " + "; ".join(problems)) from None
