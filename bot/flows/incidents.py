"""The incident flows: fold posts into incidents at ingest, and keep each incident's message current.

One job (`tick`) detects spikes, re-learns what open incidents are about, queues each
incident's message and its thread batches (paced by the publisher, like cards), edits
the message in place at most every `update_every`, pages on-call once per incident (and
escalates when nobody acknowledges), and uploads the rate chart to the thread when the
incident opens and when it is resolved (twice in its life, within the channel's pace).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import charts
from bot.clock import utcnow
from bot.domain import cases, incidents, oncall, sla
from bot.domain.ingest import IngestResult
from bot.domain.states import CaseStatus, IncidentStatus, SlackState
from bot.flows.escalation import warn_unreachable
from bot.jobs import Job
from bot.runtime import Runtime
from bot.slack import incident_blocks, pacing
from bot.slack.publisher import Publisher, messages, retry_after
from bot.networks.base import NetworkError
from bot.slack.blocks import history_entry
from bot.slack.dm import GONE, NotSent, Sent, Unreachable, direct_message, permalink, slack_error
from bot.slack.text import escape
from bot.triage import classify, suggest_reply
from storage import models as m

log = logging.getLogger(__name__)
INCIDENT_RANK = 0  # an incident message goes before any card
BATCH_RANK = 2


def absorb(rt: Runtime, session: Session, result: IngestResult) -> dict[int, int]:
    """Right after ingest, in the same transaction: new posts that fit an open incident join it (no card).

    A follow-up to a post in an incident goes to the incident's thread, except when the
    incident's answer already reached that post: then the author is writing again, and
    it opens a case of its own (a card).
    """
    placed = incidents.place(session, result.new_cases, threshold=rt.config.incidents.join_score)
    if not result.follow_ups:
        return placed
    rows = session.execute(
        select(m.Post, m.Case).join(m.Case, m.Post.case_id == m.Case.id)
        .where(m.Post.id.in_(result.follow_ups), m.Post.slack_state == SlackState.PENDING, m.Case.incident_id.is_not(None))
    ).all()
    for post, case in rows:
        if case.status in (CaseStatus.ANSWERED, CaseStatus.DISMISSED):
            _own_case(rt, session, post, case)
        else:
            post.slack_state = incidents.WAITING
    return placed


def _own_case(rt: Runtime, session: Session, post: m.Post, previous: m.Case) -> None:
    now = utcnow()
    triage = classify(post.text, followers=post.author_followers, engagement=post.engagement, prior_complaints=1)
    case = m.Case(
        network=post.network, conversation_id=post.conversation_id or post.external_id, author_external_id=post.author_external_id,
        status=CaseStatus.OPEN, category=triage.category, priority=triage.priority, severity=triage.severity, sentiment=triage.sentiment,
        topic=triage.topic, reasons=list(triage.reasons), channel=previous.channel, created_at=now,
        suggested_reply=suggest_reply(triage, name=post.author_name, handle=post.author_handle, network=post.network),
        due_at=sla.due_at(rt.config, post.network, triage.priority, now),
    )
    session.add(case)
    session.flush()
    post.case_id = case.id
    cases.audit(session, case.id, "system", "opened", post_id=post.id, category=triage.category, priority=triage.priority,
                after_incident=previous.incident_id)


# -- what the publisher builds when a queued incident message goes out -------------


def _build_incident(session: Session, row: m.SlackMessage) -> dict:
    view = incidents.view(session, row.ref_id)
    return {"text": incident_blocks.incident_fallback(view), "blocks": incident_blocks.incident_message(view), "thread_ts": None}


def _incident_posted(session: Session, row: m.SlackMessage) -> None:
    incident = session.get(m.Incident, row.ref_id)
    incident.message_ts, incident.shown_at = row.ts, utcnow()


def _build_batch(session: Session, row: m.SlackMessage) -> dict | None:
    ts = session.scalar(select(m.Incident.message_ts).where(m.Incident.id == row.ref_id))
    if not ts:
        return None
    ids, more = _batch_ids(row.text)
    posts = list(session.scalars(select(m.Post).where(m.Post.id.in_(ids)).order_by(m.Post.author_followers.desc(), m.Post.id)))
    return {"text": incident_blocks.batch_fallback(len(posts) + more), "blocks": incident_blocks.batch(posts, more), "thread_ts": ts}


def _incident_parent(session: Session, row: m.SlackMessage) -> list[str]:
    ts = session.scalar(select(m.Incident.message_ts).where(m.Incident.id == row.ref_id))
    return [ts] if ts else []


def _batch_ids(text: str) -> tuple[list[int], int]:
    """A batch row's text: "listed post ids|how many more"."""
    listed, _, more = text.partition("|")
    return [int(i) for i in listed.split(",") if i], int(more or 0)


def _build_note(session: Session, row: m.SlackMessage) -> dict | None:
    ts = session.scalar(select(m.Incident.message_ts).where(m.Incident.id == row.ref_id))
    return {"text": row.text, "thread_ts": ts} if ts else None


def install(publisher: Publisher) -> None:
    """Teach the publisher how to build incident messages (it knows nothing of incidents otherwise)."""
    publisher.message_builders.update({"incident": _build_incident, "incident_batch": _build_batch, "incident_note": _build_note})
    publisher.after_posted["incident"] = _incident_posted
    publisher.parent_finders["incident_batch"] = _incident_parent
    publisher.parent_finders["incident_note"] = _incident_parent


def note(rt: Runtime, incident_id: int, text: str) -> None:
    """A line in the incident's thread (queued and paced like everything else)."""
    with rt.db.session() as session:
        channel = session.get(m.Incident, incident_id).channel
    rt.publisher.enqueue(channel, "incident_note", incident_id, text, rank=1)
    rt.publisher.deliver_pending()


def send_status(rt: Runtime, update_ids: list[int]) -> int:
    """Post queued status updates, each at most once; the incident's thread says where each went or why not."""
    sent = 0
    for update_id in update_ids:
        with rt.db.session() as session:
            row = incidents.take_status(session, update_id)
            if row is None:
                continue
            incident_id, network_name, text, who, final = row.incident_id, row.network, row.text, row.requested_by, row.final
        network = rt.networks.get(network_name)
        try:
            if network is None:
                raise NetworkError(f"{network_name} is not connected")
            out = network.post_status(text)
        except NetworkError as exc:
            with rt.db.session() as session:
                incidents.status_failed(session, update_id, exc.message)
            note(rt, incident_id, history_entry("system", f"could not post the status update on {network_name}", escape(exc.message)))
            continue
        with rt.db.session() as session:
            incidents.status_sent(session, update_id, out.external_id, out.url)
        what = "posted the final update" if final else "posted a status update"
        label = network.label
        note(rt, incident_id, history_entry(who, f"{what} on {label}", f"<{out.url}|view>" if out.url else ""))
        sent += 1
    return sent



# -- the job -------------------------------------------------------------------


def queue_message(session: Session, incident: m.Incident) -> None:
    """The incident's message, queued once (in the transaction that opened the incident)."""
    session.add(m.SlackMessage(channel=incident.channel, kind="incident", ref_id=incident.id, text="", rank=INCIDENT_RANK,
                               state=SlackState.PENDING, created_at=utcnow()))


def tick(rt: Runtime, now: datetime | None = None) -> None:
    """Detect, learn, batch, edit, page: each step on its own, so one failing does not stop the rest."""
    now = now or utcnow()
    config = rt.config.incidents
    with rt.db.session() as session:
        for incident_id in incidents.detect(session, channel=rt.channel, config=config, now=now):
            queue_message(session, session.get(m.Incident, incident_id))
            log.info("spike: opened incident %s", incident_id)
        for incident in session.scalars(select(m.Incident).where(m.Incident.status == IncidentStatus.OPEN)):
            incidents.learn(session, incident)
            _queue_batch(session, incident, now, config.batch_every)
    rt.publisher.deliver_pending()
    refresh_due(rt, now)
    page_due(rt, now)
    escalate_due(rt, now)
    close_pages(rt, now)
    upload_charts(rt, now)
    remind(rt, now)


def remind(rt: Runtime, now: datetime | None = None) -> int:
    """While an incident is open, say so in its thread when no public update went out for `remind_after`."""
    now = now or utcnow()
    after = rt.config.incidents.remind_after
    reminded = []
    with rt.db.session() as session:
        for incident in session.scalars(select(m.Incident).where(m.Incident.status == IncidentStatus.OPEN, m.Incident.message_ts.is_not(None))):
            if incidents.needs_reminder(incident, now, after):
                incident.reminded_at = now
                reminded.append(incident.id)
    for incident_id in reminded:
        note(rt, incident_id, incident_blocks.reminder(after))
    return len(reminded)


def _queue_batch(session: Session, incident: m.Incident, now: datetime, every) -> None:
    if not incident.message_ts:
        return
    last = session.scalar(
        select(func.max(m.SlackMessage.created_at)).where(m.SlackMessage.kind == "incident_batch", m.SlackMessage.ref_id == incident.id)
    )
    if last is not None and now - last < every:
        return
    ids = incidents.take_batch(session, incident.id, limit=100_000)
    if not ids:
        return
    shown = list(session.scalars(
        select(m.Post.id).where(m.Post.id.in_(ids)).order_by(m.Post.author_followers.desc(), m.Post.id).limit(incident_blocks.BATCH_LISTED)
    ))
    session.add(m.SlackMessage(channel=incident.channel, kind="incident_batch", ref_id=incident.id, rank=BATCH_RANK, state=SlackState.PENDING,
                               text=",".join(map(str, shown)) + f"|{len(ids) - len(shown)}", created_at=now))
    incident.changed = True


def refresh_due(rt: Runtime, now: datetime | None = None, *, force: int | None = None) -> int:
    """Edit incident messages that show an older state, at most every `update_every` each (or `force` one now)."""
    now = now or utcnow()
    every = rt.config.incidents.update_every
    with rt.db.session() as session:
        due = [
            i.id for i in session.scalars(select(m.Incident).where(m.Incident.changed.is_(True), m.Incident.message_ts.is_not(None)))
            if i.id == force or i.shown_at is None or now - i.shown_at >= every
        ]
    edited = 0
    for incident_id in due:
        with rt.db.session() as session:
            # Claim first, then read: a change committed after the claim sets `changed` again and is shown next
            # time. Read first (pysqlite begins the transaction only at the write), a resolve committed between
            # the read and the write was marked shown and never sent: the message stayed "open".
            if not session.execute(update(m.Incident).where(m.Incident.id == incident_id, m.Incident.changed.is_(True))
                                   .values(changed=False, shown_at=now)).rowcount:
                continue  # another refresh took it
            incident = session.get(m.Incident, incident_id)
            view = incidents.view(session, incident_id, now)
            channel, ts = incident.channel, incident.message_ts
        try:
            rt.publisher.client.chat_update(channel=channel, ts=ts, text=incident_blocks.incident_fallback(view),
                                            blocks=incident_blocks.incident_message(view))
            edited += 1
        except (SlackApiError, URLError, OSError) as exc:
            log.warning("could not update incident %s: %s", incident_id, exc)
            with rt.db.session() as session:
                session.get(m.Incident, incident_id).changed = True
    return edited


def page_due(rt: Runtime, now: datetime | None = None) -> int:
    """One page per incident for the person on call, claimed before it is sent so it goes once."""
    now = now or utcnow()
    paged = 0
    with rt.db.session() as session:
        ids = list(session.scalars(select(m.Incident.id).where(
            m.Incident.status == IncidentStatus.OPEN, m.Incident.paged_at.is_(None), m.Incident.message_ts.is_not(None))))
        order = oncall.page_order(session, rt.config, now) if ids else []
    if not order:
        return 0
    for incident_id in ids:
        with rt.db.session() as session:
            won = session.execute(
                update(m.Incident).where(m.Incident.id == incident_id, m.Incident.paged_at.is_(None)).values(paged_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not won:
                continue
            incident = session.get(m.Incident, incident_id)
            view, channel, ts = incidents.view(session, incident_id, now), incident.channel, incident.message_ts
        text, blocks = incident_blocks.page(view, permalink(rt.slack, channel, ts))
        for user in order:
            try:
                sent = direct_message(rt.slack, user, text, blocks)
            except Unreachable as gone:
                warn_unreachable(rt, gone, None, now)
                continue
            except NotSent as exc:
                log.warning("page for incident %s not sent (%s); will try again", incident_id, exc)
                with rt.db.session() as session:
                    session.get(m.Incident, incident_id).paged_at = None
                break
            with rt.db.session() as session:
                session.get(m.Incident, incident_id).paged_user = user
                _record_page(session, incident_id, sent, escalated=False, now=now)
            paged += 1
            break
    return paged


def escalate_due(rt: Runtime, now: datetime | None = None) -> int:
    """Nobody acknowledged the page within `escalate_after`: page `escalate_to`, once per incident, as for cases."""
    now = now or utcnow()
    oc = rt.config.oncall
    if not oc.escalate_to:
        return 0
    with rt.db.session() as session:
        ids = list(session.scalars(select(m.Incident.id).where(
            m.Incident.status == IncidentStatus.OPEN, m.Incident.paged_at.is_not(None), m.Incident.paged_at <= now - oc.escalate_after,
            m.Incident.acknowledged_at.is_(None), m.Incident.escalated_at.is_(None))))
    escalated = 0
    for incident_id in ids:
        with rt.db.session() as session:
            won = session.execute(
                update(m.Incident).where(m.Incident.id == incident_id, m.Incident.escalated_at.is_(None), m.Incident.acknowledged_at.is_(None))
                .values(escalated_at=now).execution_options(synchronize_session=False)
            ).rowcount
            if not won:
                continue
            incident = session.get(m.Incident, incident_id)
            view, channel, ts, paged = incidents.view(session, incident_id, now), incident.channel, incident.message_ts, incident.paged_user
        text, blocks = incident_blocks.page(view, permalink(rt.slack, channel, ts), escalated=True, paged=paged)
        reached: list[Sent] = []
        for user in oc.escalate_to:
            try:
                reached.append(direct_message(rt.slack, user, text, blocks))
            except Unreachable as gone:
                warn_unreachable(rt, gone, None, now)
            except NotSent as exc:
                log.warning("escalation of incident %s did not reach %s (%s)", incident_id, user, exc)
        with rt.db.session() as session:
            incident = session.get(m.Incident, incident_id)
            if reached:
                incident.escalated_to, incident.changed = ",".join(s.user for s in reached), True
                for sent in reached:
                    _record_page(session, incident_id, sent, escalated=True, now=now)
                escalated += 1
            else:
                incident.escalated_at = None  # nobody got it: the next tick tries again
    return escalated


def _record_page(session: Session, incident_id: int, sent: Sent, *, escalated: bool, now: datetime) -> None:
    """Remember where a page DM went, so an acknowledgement can take its button away."""
    session.add(m.IncidentPage(incident_id=incident_id, user_id=sent.user, channel=sent.channel, ts=sent.ts, escalated=escalated, sent_at=now))


def acknowledge(rt: Runtime, incident_id: int, user: str, now: datetime | None = None) -> None:
    """Whoever takes the page stops the escalation (database only: quick enough for the listener thread).

    Raises IncidentError when the incident is closed or someone else took it first.
    """
    with rt.db.session() as session:
        incidents.acknowledge(session, incident_id, user, now)


def after_acknowledge(rt: Runtime, incident_id: int, user: str, now: datetime | None = None) -> None:
    """After the click was acknowledged: every page DM says who took it, the thread and the message too."""
    close_pages(rt, now, incident_id=incident_id)
    note(rt, incident_id, history_entry(user, "acknowledged the page"))
    refresh_due(rt, now, force=incident_id)


# The page DM (or its person) is gone: there is no button left for anyone to press, so it counts as edited.
PAGE_GONE = frozenset({"message_not_found", "channel_not_found", "cant_update_message", "is_archived", *GONE})


def close_pages(rt: Runtime, now: datetime | None = None, *, incident_id: int | None = None) -> int:
    """Edit the page DMs of incidents someone acknowledged (or that closed): who took it and when, no button left.

    Each page is marked once its edit went through; one that failed is tried again on
    the next tick, so no page keeps a live Acknowledge button for long.
    """
    now = now or utcnow()
    with rt.db.session() as session:
        query = (select(m.IncidentPage.id, m.IncidentPage.channel, m.IncidentPage.ts, m.IncidentPage.incident_id)
                 .join(m.Incident, m.Incident.id == m.IncidentPage.incident_id)
                 .where(m.IncidentPage.closed_at.is_(None),
                        or_(m.Incident.acknowledged_at.is_not(None), m.Incident.status != IncidentStatus.OPEN))
                 .order_by(m.IncidentPage.id))
        if incident_id is not None:
            query = query.where(m.IncidentPage.incident_id == incident_id)
        pages = session.execute(query).all()
        shown = {}
        for number in {p.incident_id for p in pages}:
            incident = session.get(m.Incident, number)
            shown[number] = (incidents.view(session, number, now), incident.acknowledged_by, incident.acknowledged_at, incident.channel,
                             incident.message_ts)
    rendered = {}
    for number, (view, by, at, channel, ts) in shown.items():
        where = permalink(rt.slack, channel, ts)
        rendered[number] = incident_blocks.acknowledged_page(view, by, at, where) if by else incident_blocks.closed_page(view, where)
    closed = 0
    for page_id, channel, ts, number in pages:
        text, blocks = rendered[number]
        try:
            rt.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            if slack_error(exc) not in PAGE_GONE:
                log.warning("could not update a page DM of incident %s: %s; again on the next tick", number, slack_error(exc))
                continue
            log.info("a page DM of incident %s is gone (%s): nothing left to edit", number, slack_error(exc))
        except (URLError, OSError) as exc:
            log.warning("could not update a page DM of incident %s: %s; again on the next tick", number, type(exc).__name__)
            continue
        with rt.db.session() as session:
            session.execute(update(m.IncidentPage).where(m.IncidentPage.id == page_id, m.IncidentPage.closed_at.is_(None))
                            .values(closed_at=now).execution_options(synchronize_session=False))
        closed += 1
    return closed


CHART_LEASE = timedelta(minutes=2)  # an upload takes seconds: an attempt this old was cut off (a crash, a kill)
CHART_BACKOFF = (0, 30, 120, 600)   # seconds before trying again after a failure without Retry-After (0: the next tick)
CHART_EVENTS = {"opened": "chart_opened_at", "resolved": "chart_resolved_at"}


def _chart_filename(incident_id: int, event: str) -> str:
    return f"incident-{incident_id}{'-resolved' if event == 'resolved' else ''}.png"


def charts_owed(session: Session) -> list[tuple[int, str]]:
    """(incident, event) whose chart the thread has not got yet: derived from the incident, so a crash loses none."""
    shown = m.Incident.message_ts.is_not(None)
    owed = [(i, "opened") for i in session.scalars(select(m.Incident.id).where(
        shown, m.Incident.status == IncidentStatus.OPEN, m.Incident.chart_opened_at.is_(None)).order_by(m.Incident.id))]
    owed += [(i, "resolved") for i in session.scalars(select(m.Incident.id).where(
        shown, m.Incident.status == IncidentStatus.RESOLVED, m.Incident.chart_resolved_at.is_(None)).order_by(m.Incident.id))]
    return owed


def _chart_row(session: Session, incident_id: int, event: str) -> m.IncidentChart | None:
    row = session.scalar(select(m.IncidentChart).where(m.IncidentChart.incident_id == incident_id, m.IncidentChart.event == event))
    if row is None:
        try:
            with session.begin_nested():
                row = m.IncidentChart(incident_id=incident_id, event=event, attempts=0)
                session.add(row)
        except IntegrityError:
            return None  # another worker wrote it first: it has this chart now
    return row


def _not_yet(row: m.IncidentChart, now: datetime) -> bool:
    """An attempt is under way (its lease), or the last one said to wait (Retry-After, a back-off)."""
    return bool((row.next_attempt_at and row.next_attempt_at > now) or (row.claimed_until and row.claimed_until > now))


def _claim_chart(rt: Runtime, incident_id: int, event: str, now: datetime) -> tuple[bool, int] | None:
    """Take the next attempt at one chart: (an earlier attempt may have reached Slack, attempts so far); None if not now."""
    with rt.db.session() as session:
        row = _chart_row(session, incident_id, event)
        if row is None or _not_yet(row, now):
            return None
        unsure, attempts = row.claimed_until is not None, row.attempts
        won = session.execute(
            update(m.IncidentChart).where(m.IncidentChart.id == row.id, m.IncidentChart.attempts == attempts)
            .values(attempts=attempts + 1, claimed_until=now + CHART_LEASE).execution_options(synchronize_session=False)
        ).rowcount
    return (unsure, attempts) if won else None


def _chart_done(rt: Runtime, incident_id: int, event: str, file_id: str | None, now: datetime) -> None:
    with rt.db.session() as session:
        session.execute(update(m.IncidentChart).where(m.IncidentChart.incident_id == incident_id, m.IncidentChart.event == event)
                        .values(file_id=file_id, done_at=now, claimed_until=None, next_attempt_at=None, error=None)
                        .execution_options(synchronize_session=False))
        setattr(session.get(m.Incident, incident_id), CHART_EVENTS[event], now)


def _chart_failed(rt: Runtime, incident_id: int, event: str, error: str, wait: float, now: datetime, *, unsure: bool) -> None:
    """Try again after `wait`; `unsure`: the upload may have gone through, so the next attempt looks in the thread first."""
    with rt.db.session() as session:
        session.execute(update(m.IncidentChart).where(m.IncidentChart.incident_id == incident_id, m.IncidentChart.event == event)
                        .values(claimed_until=now if unsure else None, next_attempt_at=now + timedelta(seconds=wait), error=error[:500])
                        .execution_options(synchronize_session=False))


def _chart_in_thread(rt: Runtime, channel: str, ts: str, filename: str) -> str | None:
    """The id of our chart if an earlier attempt did put it in the thread (every page of the thread is read)."""
    for message in messages(rt.publisher.client.conversations_replies, channel=channel, ts=ts):
        for f in message.get("files") or []:
            if f.get("name") == filename:
                return f.get("id") or "?"
    return None


def upload_charts(rt: Runtime, now: datetime | None = None) -> int:
    """The rate chart in the incident's thread when it opens and when it is resolved: exactly once each, crash or not.

    What is owed is read from the incident itself (shown, not yet charted), so a kill at
    any point leaves it owed. Each attempt holds a lease; one cut off or left without an
    answer makes the next look in the thread first, so a retry never posts a second chart.
    A 429 waits its Retry-After, other failures back off. An upload takes a message's
    worth of the channel's pace: with no budget left the chart waits for a later tick.
    """
    now = now or utcnow()
    with rt.db.session() as session:
        due = charts_owed(session)
    uploaded = 0
    for incident_id, event in due:
        with rt.db.session() as session:
            row = session.scalar(select(m.IncidentChart).where(m.IncidentChart.incident_id == incident_id, m.IncidentChart.event == event))
            if row is not None and _not_yet(row, now):  # before taking the channel's pace for it
                continue
            channel = session.get(m.Incident, incident_id).channel
        if pacing.take(rt.db, channel) > 0:
            break  # the channel is busy: cards and the incident message first
        claim = _claim_chart(rt, incident_id, event, now)
        if claim is None:
            continue
        unsure, attempts = claim
        filename = _chart_filename(incident_id, event)
        with rt.db.session() as session:
            incident = session.get(m.Incident, incident_id)
            start, bucket, counts = incidents.rate_series(session, incident_id, now)
            title, ts = incident.title, incident.message_ts
        backoff = CHART_BACKOFF[min(attempts, len(CHART_BACKOFF) - 1)]
        try:
            found = _chart_in_thread(rt, channel, ts, filename) if unsure else None
            if found:
                log.info("the chart of incident %s (%s) was already in its thread", incident_id, event)
                _chart_done(rt, incident_id, event, found, now)
                continue
            png = charts.incident_chart(title, start, bucket, counts, resolved=event == "resolved")
            response = rt.publisher.client.files_upload_v2(
                channel=channel, thread_ts=ts, content=png, filename=filename,
                title=f"Incident #{incident_id}: {'the whole incident' if event == 'resolved' else 'posts so far'}",
                alt_txt=f"Posts per {bucket.total_seconds() / 60:g} minutes about incident #{incident_id}: {sum(counts)} in all, "
                        f"at most {max(counts)} in one interval."[:1000],
            )
        except SlackApiError as exc:  # Slack answered: nothing was shared
            limited = exc.response is not None and exc.response.status_code == 429
            wait = retry_after(exc.response.headers) if limited else backoff
            log.warning("could not upload the chart of incident %s: %s; again in %ss", incident_id, slack_error(exc), wait)
            _chart_failed(rt, incident_id, event, slack_error(exc), wait, now, unsure=unsure)
            continue
        except SlackClientError as exc:  # the file itself was refused before it was shared
            log.warning("could not upload the chart of incident %s: %s", incident_id, type(exc).__name__)
            _chart_failed(rt, incident_id, event, type(exc).__name__, backoff, now, unsure=unsure)
            continue
        except (URLError, OSError) as exc:  # no answer: it may be in the thread already
            log.warning("no answer uploading the chart of incident %s (%s); will look before trying again", incident_id, type(exc).__name__)
            _chart_failed(rt, incident_id, event, type(exc).__name__, backoff, now, unsure=True)
            continue
        files = response.get("files") or [{}]
        _chart_done(rt, incident_id, event, files[0].get("id"), now)
        uploaded += 1
    return uploaded


def jobs(rt: Runtime) -> list[Job]:
    return [Job("incidents", lambda: tick(rt), "interval", {"seconds": 5}, True)]
