"""On-call: who is on call at any moment (rotation plus overrides), and changing it.

Pure domain over a database session: no Slack, no HTTP. The rotation is computed
from `[oncall]`, never stored, so a changed config takes effect at once; only
runtime changes (overrides, swaps) and sent hand-over summaries live in the database.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config import WEEKDAYS, FileConfig, OncallConfig, parse_duration, parse_time_of_day, parse_window
from bot.domain.errors import UserFacingError
from bot.domain.sla import local_instant
from storage import models as m

MAX_OVERRIDE = timedelta(days=14)
_HORIZON = timedelta(days=30)  # how far around `now` overrides are considered without a rotation
_TICK = timedelta(microseconds=1)
_LOOKAHEAD = 8  # shifts looked through for the end of one person's turn (a one-person rotation never ends)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_RAW_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class OncallError(UserFacingError):
    """A change to the on-call schedule that cannot happen; the message is for the person who tried."""


@dataclass(frozen=True)
class Shift:
    """One rotation shift: members[index] from start to end."""

    user: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class OnCall:
    """Who is on call at a moment, since when and until when (the next change of person)."""

    user: str | None
    since: datetime
    until: datetime
    override: m.OncallOverride | None = None


def rotation_shift(config: OncallConfig, at: datetime) -> Shift | None:
    """The rotation shift covering `at`, handing over at `handoff` local time (DST-safe: counted in local days)."""
    if not config.members:
        return None
    zone = ZoneInfo(config.timezone)
    handoff = parse_time_of_day(config.handoff)
    local = at.astimezone(zone)
    length = 1 if config.rotation == "daily" else 7
    day = local.date()
    if length == 7:
        day -= timedelta(days=(day.weekday() - WEEKDAYS.index(config.handoff_day)) % 7)
    if at < local_instant(day, handoff, zone):
        day -= timedelta(days=length)
    anchor = config.rotation_start
    if length == 7:
        anchor -= timedelta(days=(anchor.weekday() - WEEKDAYS.index(config.handoff_day)) % 7)
    index = ((day - anchor).days // length) % len(config.members)
    return Shift(config.members[index], local_instant(day, handoff, zone), local_instant(day + timedelta(days=length), handoff, zone))


def _overrides(session: Session, start: datetime, end: datetime) -> list[m.OncallOverride]:
    return list(
        session.scalars(
            select(m.OncallOverride).where(m.OncallOverride.starts_at < end, m.OncallOverride.ends_at > start).order_by(m.OncallOverride.id)
        )
    )


def _who(overrides: list[m.OncallOverride], base: str | None, at: datetime) -> tuple[str | None, m.OncallOverride | None]:
    """The newest override covering `at` wins; otherwise the rotation."""
    for override in reversed(overrides):
        if override.starts_at <= at < override.ends_at:
            return override.user_id, override
    return base, None


def on_call(session: Session, config: FileConfig, at: datetime) -> OnCall:
    """Who is on call at `at`, since when, and until the next change of person (across shift boundaries)."""
    current = _segment(session, config, at)
    until = current.until
    for _ in range(_LOOKAHEAD):
        following = _segment(session, config, until)
        if following.user != current.user:
            break
        until = following.until
    return OnCall(current.user, current.since, until, current.override)


def _segment(session: Session, config: FileConfig, at: datetime) -> OnCall:
    """The stretch around `at` with one person, within one rotation shift: a shift boundary is always a hand-over."""
    shift = rotation_shift(config.oncall, at)
    low, high = (shift.start, shift.end) if shift else (at - _HORIZON, at + _HORIZON)
    overrides = _overrides(session, low, high)
    base = shift.user if shift else None
    user, override = _who(overrides, base, at)
    points = sorted({p for o in overrides for p in (o.starts_at, o.ends_at) if low < p < high})
    since = low
    for point in reversed([p for p in points if p <= at]):
        if _who(overrides, base, point - _TICK)[0] != user:
            since = point
            break
    until = high
    for point in (p for p in points if p > at):
        if _who(overrides, base, point)[0] != user:
            until = point
            break
    return OnCall(user, since, until, override)


def next_on_call(session: Session, config: FileConfig, current: OnCall) -> OnCall:
    return on_call(session, config, current.until)


def page_order(session: Session, config: FileConfig, at: datetime) -> list[str]:
    """Whom to page, in order: the person on call, then the rest of the rotation from the next one on."""
    current = on_call(session, config, at)
    members = config.oncall.members
    order = [current.user] if current.user else []
    shift = rotation_shift(config.oncall, at)
    if shift is not None:
        start = members.index(shift.user)
        order += [members[(start + i) % len(members)] for i in range(1, len(members) + 1)]
    return list(dict.fromkeys(order))


# -- quiet hours ---------------------------------------------------------------


def quiet_until(config: OncallConfig, at: datetime) -> datetime | None:
    """The end of the quiet hours `at` falls in, or None when it is not quiet."""
    window = parse_window(config.quiet_hours)
    if window is None:
        return None
    zone = ZoneInfo(config.timezone)
    local_day = at.astimezone(zone).date()
    for day in (local_day - timedelta(days=1), local_day):
        end_day = day if window[1] > window[0] else day + timedelta(days=1)
        start, end = local_instant(day, window[0], zone), local_instant(end_day, window[1], zone)
        if start <= at < end:
            return end
    return None


def may_page(config: OncallConfig, priority: str, at: datetime) -> bool:
    """DMs wait for the end of quiet hours, except for the priorities that may wake people."""
    return priority in config.page_in_quiet_hours or quiet_until(config, at) is None


# -- changing it -------------------------------------------------------------


def parse_user(token: str) -> str:
    """A user from a slash command: `<@U123>`, `<@U123|name>` or a raw `U123` id."""
    match = _MENTION.match(token)
    if match:
        return match.group(1)
    if _RAW_ID.match(token):
        return token
    if token.startswith("@"):
        raise OncallError(
            f"I can't tell who `{token}` is: Slack sent the name as plain text. Pick the person from the "
            "@-autocomplete so Slack sends a mention, or use their member id (Profile → ⋮ → Copy member ID, like U01ABCDEF)."
        )
    raise OncallError(f"`{token}` is not a person: mention them (@name from the autocomplete) or give their member id (U01ABCDEF).")


def parse_override_args(args: list[str]) -> tuple[str | None, timedelta | None]:
    """`[@someone] [4h]` in any order."""
    user, duration = None, None
    for token in args:
        if token.startswith(("<@", "@")) or _RAW_ID.match(token):
            if user is not None:
                raise OncallError("Name one person at a time.")
            user = parse_user(token)
            continue
        try:
            duration = parse_duration(token)
        except ValueError:
            raise OncallError(f'`{token}` is neither a person nor a duration; write it like `override @someone 4h` ("90m", "4h", "2d").') from None
    if duration is not None and not timedelta(0) < duration <= MAX_OVERRIDE:
        raise OncallError(f"An override lasts between 1 minute and {MAX_OVERRIDE.days} days.")
    return user, duration


def _may_be_on_call(config: FileConfig, user: str) -> bool:
    return user in config.oncall.members or config.roles.is_manager(user)


def override(session: Session, config: FileConfig, actor: str, target: str | None, duration: timedelta | None, now: datetime) -> OnCall:
    """`target` (default: the actor) is on call from now for `duration` (default: to the end of the rotation shift).

    Managers may put anyone on call; anyone on the rotation may take over for themselves.
    With `[roles] managers` empty nobody can put someone else on call.
    """
    target = target or actor
    if target != actor and not config.roles.is_manager(actor):
        raise OncallError("Only managers (`[roles] managers` in socialdesk.toml) may put someone else on call. You can take over yourself with `/socialdesk oncall override 4h`.")
    if target == actor and not _may_be_on_call(config, actor):
        raise OncallError("You are not on the on-call rotation (`[oncall] members`), so you cannot take it over. Ask a manager.")
    if duration is None:
        shift = rotation_shift(config.oncall, now)
        if shift is None:
            raise OncallError("Say for how long, like `/socialdesk oncall override 4h`: there is no rotation whose shift it could last to.")
        ends = shift.end
    else:
        ends = now + duration
    session.add(m.OncallOverride(user_id=target, starts_at=now, ends_at=ends, kind="override", created_by=actor, created_at=now))
    session.flush()
    return on_call(session, config, now)


def swap(session: Session, config: FileConfig, actor: str, target: str | None, now: datetime) -> tuple[OnCall, OnCall]:
    """The person on call hands the rest of their turn to `target` (default: whoever is next). Returns (before, after)."""
    current = on_call(session, config, now)
    if current.user is None:
        raise OncallError("Nobody is on call right now, so there is nothing to hand over. Use `/socialdesk oncall override` to take over.")
    if actor != current.user and not config.roles.is_manager(actor):
        raise OncallError(f"Only the person on call (<@{current.user}>) or a manager can hand over.")
    if target is None:
        target = next_on_call(session, config, current).user
        if target is None or target == current.user:
            raise OncallError("There is nobody else on the rotation to hand over to; name someone: `/socialdesk oncall swap @someone`.")
    if target == current.user:
        raise OncallError(f"<@{target}> is already on call.")
    if target not in config.oncall.members and not config.roles.is_manager(actor):
        raise OncallError(f"<@{target}> is not on the rotation (`[oncall] members`); only a manager can hand over to them.")
    session.add(m.OncallOverride(user_id=target, starts_at=now, ends_at=current.until, kind="swap", created_by=actor, created_at=now))
    session.flush()
    return current, on_call(session, config, now)


# -- hand-overs ----------------------------------------------------------------

HANDOFF_GRACE = timedelta(hours=1)  # a hand-over missed by longer (bot was down) gets no late summary


def handoff_due(session: Session, config: FileConfig, now: datetime) -> OnCall | None:
    """The current hand-over if its summary should go out now: started recently, and not in quiet hours."""
    current = on_call(session, config, now)
    if current.user is None or quiet_until(config.oncall, now) is not None:
        return None
    deliver_from = quiet_until(config.oncall, current.since) or current.since
    if not deliver_from <= now < deliver_from + HANDOFF_GRACE:
        return None
    return current


def claim_handoff(session_factory, user: str, since: datetime, now: datetime) -> bool:
    """Insert the hand-over row; the unique constraint lets exactly one process send its summary."""
    try:
        with session_factory() as session:
            session.add(m.OncallHandoff(user_id=user, starts_at=since, created_at=now))
        return True
    except IntegrityError:
        return False


def finish_handoff(session: Session, user: str, since: datetime, status: str) -> None:
    row = session.scalars(select(m.OncallHandoff).where(m.OncallHandoff.user_id == user, m.OncallHandoff.starts_at == since)).first()
    if row is not None:
        row.status = status
