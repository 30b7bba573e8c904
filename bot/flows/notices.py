"""Channel notices about a network connection: posted once per outage, marked resolved when a call works again.

A network that refuses our credentials (Facebook code 190, a missing permission),
or X polling paused to keep the month within its budget, would otherwise only show
up in logs, while the channel quietly stops getting cards from it.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from urllib.error import URLError

from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.clock import utcnow
from bot.networks.base import AuthFailed, BudgetPaused, NetworkError
from bot.runtime import Runtime
from bot.slack import blocks
from storage import models as m

log = logging.getLogger(__name__)
EVENT_TYPE = "socialdesk_notice"


#: The outages that get a notice, and what their key ends with.
_KINDS = ("auth", "budget")


def _key(name: str, kind: str) -> str:
    return f"{name}:{kind}"


def _label(rt: Runtime, name: str) -> str:
    network = rt.networks.get(name)
    return network.label if network is not None else name


def _notice(rt: Runtime, name: str, exc: NetworkError) -> tuple[str, tuple[str, list[dict]]] | None:
    """(kind, the message) for an outage a person must hear about; None for one that passes by itself."""
    if isinstance(exc, AuthFailed):
        return "auth", blocks.connection_notice(_label(rt, name), exc.message)
    if isinstance(exc, BudgetPaused):
        return "budget", blocks.budget_notice(_label(rt, name), name, exc.message,
                                            utcnow() + timedelta(seconds=exc.retry_after or 0))
    return None


def network_failed(rt: Runtime, name: str, exc: NetworkError) -> None:
    """Post the notice ("reconnect", "polling paused"), unless this outage already has one."""
    found = _notice(rt, name, exc) if rt.channel else None
    if found is None:
        return
    kind, (text, body) = found
    key = _key(name, kind)
    with rt.db.session() as session:
        if session.get(m.Notice, key) is not None:
            return
    try:
        with rt.db.session() as session:
            session.add(m.Notice(key=key, channel=rt.channel, text=exc.message))
    except IntegrityError:
        return  # another process claimed this outage first
    try:
        response = rt.slack.chat_postMessage(channel=rt.channel, text=text, blocks=body, unfurl_links=False,
                                             metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}})
    except SlackApiError as error:
        # Slack answered, so nothing was posted: let the next failing poll try again.
        log.warning("could not post the %s notice: %s", name, error.response.get("error") if error.response else error)
        with rt.db.session() as session:
            row = session.get(m.Notice, key)
            if row is not None:
                session.delete(row)
        return
    except (URLError, OSError) as error:
        log.warning("no answer from Slack posting the %s notice (%s); not posting it again", name, type(error).__name__)
        return
    with rt.db.session() as session:
        row = session.get(m.Notice, key)
        if row is not None:
            row.ts = response.get("ts")
    log.warning("%s: told the channel (%s)", name, exc.message)


def network_ok(rt: Runtime, name: str) -> None:
    """The network answered again: close its outages and say so on their notices."""
    closed = []
    with rt.db.session() as session:  # one read per successful poll, whatever the kinds
        for row in session.scalars(select(m.Notice).where(m.Notice.key.in_([_key(name, kind) for kind in _KINDS]))):
            closed.append((row.key, row.channel, row.ts))
            session.delete(row)
    for key, channel, ts in closed:
        if not ts:
            continue
        label = _label(rt, name)
        text, body = blocks.connection_restored(label) if key == _key(name, "auth") else blocks.budget_resumed(label)
        try:
            rt.slack.chat_update(channel=channel, ts=ts, text=text, blocks=body)
        except (SlackApiError, URLError, OSError) as error:
            log.warning("could not mark the %s notice resolved: %s", name, type(error).__name__)
