"""Channel notices about a network connection: posted once per outage, marked resolved when a call works again.

A network that refuses our credentials (Facebook code 190, a missing permission)
would otherwise only show up in logs, while the channel quietly stops getting cards.
"""
from __future__ import annotations

import logging
from urllib.error import URLError

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.networks.base import AuthFailed, NetworkError
from bot.runtime import Runtime
from bot.slack import blocks
from storage import models as m

log = logging.getLogger(__name__)
EVENT_TYPE = "socialdesk_notice"


def _key(name: str) -> str:
    return f"{name}:auth"


def _label(rt: Runtime, name: str) -> str:
    network = rt.networks.get(name)
    return network.label if network is not None else name


def network_failed(rt: Runtime, name: str, exc: NetworkError) -> None:
    """Post the "reconnect" message, unless this outage already has one."""
    if not isinstance(exc, AuthFailed) or not rt.channel:
        return
    key = _key(name)
    with rt.db.session() as session:
        if session.get(m.Notice, key) is not None:
            return
    try:
        with rt.db.session() as session:
            session.add(m.Notice(key=key, channel=rt.channel, text=exc.message))
    except IntegrityError:
        return  # another process claimed this outage first
    text, body = blocks.connection_notice(_label(rt, name), exc.message)
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
    log.warning("%s needs to be reconnected; told the channel", name)


def network_ok(rt: Runtime, name: str) -> None:
    """The network answered again: close the outage and say so on its notice."""
    key = _key(name)
    with rt.db.session() as session:
        row = session.get(m.Notice, key)
        if row is None:
            return
        channel, ts = row.channel, row.ts
        session.delete(row)
    if not ts:
        return
    text, body = blocks.connection_restored(_label(rt, name))
    try:
        rt.slack.chat_update(channel=channel, ts=ts, text=text, blocks=body)
    except (SlackApiError, URLError, OSError) as error:
        log.warning("could not mark the %s notice resolved: %s", name, type(error).__name__)
