"""SLA clocks and on-call in motion: the scheduled checks that nudge, page, escalate and hand over.

The flows join the domain (bot/domain/escalation.py, oncall.py, sla.py) and Slack.
Every job is idempotent and takes each case on its own: a step is claimed in the
database before Slack hears of it, and one broken case is logged and skipped.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.error import URLError

from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.clock import utcnow
from bot.domain import escalation, oncall, sla
from bot.domain.escalation import ESCALATE, NUDGE, PAGE
from bot.domain.states import WAITING_STATUSES
from bot.jobs import Job
from bot.runtime import Runtime
from bot.slack import oncall_blocks
from bot.slack.blocks import history_entry
from bot.slack.dm import NotSent, Sent, Unreachable, direct_message, permalink, slack_error
from storage import models as m

log = logging.getLogger(__name__)
WARN_AGAIN_AFTER = timedelta(hours=24)  # one channel warning per unreachable person per day, not per case
CLOCK_REFRESH_LIMIT = 40  # card edits per minute: well inside chat.update's rate limit


def warn_unreachable(rt: Runtime, gone: Unreachable, instead: str | None, now: datetime) -> None:
    """Tell the channel someone in [oncall] cannot be reached, once a day per person rather than once per case."""
    with rt.db.session() as session:
        recent = session.scalar(
            select(m.AuditEvent.id).where(
                m.AuditEvent.actor == gone.user, m.AuditEvent.action == "oncall_unreachable", m.AuditEvent.created_at > now - WARN_AGAIN_AFTER
            )
        )
        session.add(m.AuditEvent(actor=gone.user, action="oncall_unreachable", detail={"error": gone.error}, created_at=now))
    log.warning("on-call: %s cannot be reached (%s); skipped", gone.user, gone.error)
    if recent:
        return
    try:
        rt.slack.chat_postMessage(channel=rt.channel, text=oncall_blocks.unreachable(gone.name, gone.user, gone.error, instead), unfurl_links=False)
    except (SlackApiError, URLError, OSError) as exc:
        log.warning("could not post the unreachable warning: %s", type(exc).__name__)


def _note(rt: Runtime, case: m.Case, text: str) -> None:
    """A line in the card's thread; raises NotSent if Slack refused it."""
    try:
        rt.slack.chat_postMessage(channel=case.channel, thread_ts=case.card_ts, text=text, unfurl_links=False)
    except SlackApiError as exc:
        raise NotSent(f"chat.postMessage: {slack_error(exc)}") from None


def _reach_first(rt: Runtime, users: list[str], text: str, blocks: list[dict], now: datetime) -> Sent | None:
    """DM the first person who can be reached; the ones who cannot are reported and skipped."""
    skipped: list[Unreachable] = []
    sent = None
    for user in users:
        try:
            sent = direct_message(rt.slack, user, text, blocks)
            break
        except Unreachable as gone:
            skipped.append(gone)
    for gone in skipped:
        warn_unreachable(rt, gone, sent.name if sent else None, now)
    return sent


# -- the escalation chain --------------------------------------------------------


def _load(session, case_id: int) -> m.Case | None:
    return session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies)).where(m.Case.id == case_id)).first()


def _nudge(rt: Runtime, case: m.Case, steps: dict, now: datetime) -> tuple[str, list, str | None]:
    _note(rt, case, oncall_blocks.nudge(case, now))
    return "done", [], None


def _page(rt: Runtime, case: m.Case, steps: dict, now: datetime) -> tuple[str, list, str | None]:
    with rt.db.session() as session:
        order = oncall.page_order(session, rt.config, now)
    if not order:
        return "skipped", [], "nobody is on call"  # no rotation configured: the nudge is all there is
    text, blocks = oncall_blocks.page(case, permalink(rt.slack, case.channel, case.card_ts), now)
    sent = _reach_first(rt, order, text, blocks, now)
    if sent is None:
        _note(rt, case, oncall_blocks.nobody_reached(case, escalated=False))
        return "skipped", [], "nobody on the rotation could be reached"
    _safe_note(rt, case, oncall_blocks.paged_note(sent.name, escalated=False))
    return "done", [_target(sent)], sent.name


def _escalate(rt: Runtime, case: m.Case, steps: dict, now: datetime) -> tuple[str, list, str | None]:
    page = steps[PAGE]
    paged = page.detail if page.status == "done" and page.detail else "nobody on call could be reached"
    text, blocks = oncall_blocks.page(case, permalink(rt.slack, case.channel, case.card_ts), now, escalated_from=paged)
    sent: list[Sent] = []
    for user in rt.config.oncall.escalate_to:
        try:
            sent.append(direct_message(rt.slack, user, text, blocks))
        except Unreachable as gone:
            warn_unreachable(rt, gone, None, now)
        except NotSent as exc:
            if not sent:
                raise  # nobody pinged yet: the whole step can be tried again
            log.warning("escalation of case %s did not reach %s (%s)", case.id, user, exc)  # a retry would ping the others twice
    if not sent:
        _note(rt, case, oncall_blocks.nobody_reached(case, escalated=True))
        return "skipped", [], "nobody in escalate_to could be reached"
    _safe_note(rt, case, oncall_blocks.paged_note(", ".join(s.name for s in sent), escalated=True))
    return "done", [_target(s) for s in sent], ", ".join(s.name for s in sent)


def _target(sent: Sent) -> dict:
    return {"user": sent.user, "channel": sent.channel, "ts": sent.ts}


def _safe_note(rt: Runtime, case: m.Case, text: str) -> None:
    """History after the ping went out: failing to write it must not make the step look unsent."""
    try:
        _note(rt, case, text)
    except (NotSent, URLError, OSError) as exc:
        log.warning("could not note escalation on case %s: %s", case.id, exc)


STEPS = {NUDGE: _nudge, PAGE: _page, ESCALATE: _escalate}


def check(rt: Runtime, now: datetime | None = None) -> int:
    """The SLA check job: one query for candidates, then each case on its own. Returns steps taken."""
    now = now or utcnow()
    with rt.db.session() as session:
        escalation.mark_missed(session, now)
        ids = escalation.candidates(session, rt.config, now)
    taken = 0
    for case_id in ids:
        try:
            taken += advance(rt, case_id, now)
        except Exception:  # noqa: BLE001 - one bad case must not stop the rest
            log.exception("escalation of case %s failed", case_id)
    return taken


def advance(rt: Runtime, case_id: int, now: datetime) -> int:
    """Take every step now due for one case, in order, each claimed before it is sent."""
    taken = 0
    for _ in STEPS:
        with rt.db.session() as session:
            case = _load(session, case_id)
            steps = escalation.steps_of(session, case_id) if case else {}
            step = escalation.next_step(rt.config, case, steps, now) if case else None
        if step is None or not escalation.claim(rt.db.session, case_id, step, now):
            return taken
        with rt.db.session() as session:
            acted = not escalation.waiting(session.get(m.Case, case_id))
            if acted:  # claimed, answered or acknowledged while we were deciding
                escalation.finish(session, case_id, step, "skipped", now, detail="someone acted")
        if acted:
            return taken
        try:
            status, targets, detail = STEPS[step](rt, case, steps, now)
        except NotSent as exc:
            log.warning("%s for case %s not sent (%s); will try again", step, case_id, exc)
            with rt.db.session() as session:
                escalation.release(session, case_id, step)
            return taken
        except Exception as exc:
            # The outcome is unknown (no answer from Slack): never risk pinging twice.
            with rt.db.session() as session:
                escalation.finish(session, case_id, step, "failed", now, detail=type(exc).__name__)
            raise
        with rt.db.session() as session:
            escalation.finish(session, case_id, step, status, now, targets=targets, detail=detail)
        log.info("case %s: %s %s", case_id, step, status)
        taken += 1
    return taken


# -- acknowledging a page ----------------------------------------------------------


def may_acknowledge(rt: Runtime, user: str) -> bool:
    oc = rt.config.oncall
    return user in oc.members or user in oc.escalate_to or rt.config.roles.is_manager(user) or rt.config.roles.may_answer(user)


def acknowledge(rt: Runtime, case_id: int, user: str, now: datetime | None = None) -> escalation.Acknowledged:
    """Stop the chain for a case; every page DM for it says who acknowledged, the card shows who is on it."""
    now = now or utcnow()
    with rt.db.session() as session:
        result = escalation.acknowledge(session, case_id, user, now)
        case = _load(session, case_id)
        pages = [t for s in escalation.steps_of(session, case_id).values() for t in (s.targets or []) if isinstance(t, dict)]
    link = permalink(rt.slack, case.channel, case.card_ts)
    text, blocks = oncall_blocks.acknowledged(case, user, claimed=result.claimed, permalink=link)
    for page in pages:
        try:
            rt.slack.chat_update(channel=page["channel"], ts=page["ts"], text=text, blocks=blocks)
        except (SlackApiError, URLError, OSError) as exc:
            log.warning("could not update the page DM for case %s: %s", case_id, type(exc).__name__)
    rt.publisher.refresh(case_id)
    rt.publisher.note(case_id, history_entry(user, "acknowledged the page" + (" and is on it" if result.claimed else "")))
    return result


# -- hand-overs --------------------------------------------------------------------


def handoffs(rt: Runtime, now: datetime | None = None) -> bool:
    """At each hand-over the incoming person gets a summary of open and overdue cases, once."""
    now = now or utcnow()
    with rt.db.session() as session:
        current = oncall.handoff_due(session, rt.config, now)
        following = oncall.next_on_call(session, rt.config, current) if current else None
    if current is None or not oncall.claim_handoff(rt.db.session, current.user, current.since, now):
        return False
    try:
        with rt.db.session() as session:
            cases, total, overdue = escalation.open_cases(session, now)
        links = {case.id: permalink(rt.slack, case.channel, case.card_ts) for case in cases if case.card_ts}
        text, blocks = oncall_blocks.handoff_summary(current, following, cases, total, overdue, {k: v for k, v in links.items() if v}, now)
        direct_message(rt.slack, current.user, text, blocks)
        status = "sent"
    except Unreachable as gone:
        warn_unreachable(rt, gone, None, now)
        status = "skipped"
    except NotSent as exc:
        log.warning("hand-over summary for %s not sent (%s); will try again", current.user, exc)
        with rt.db.session() as session:
            session.query(m.OncallHandoff).filter(m.OncallHandoff.user_id == current.user, m.OncallHandoff.starts_at == current.since).delete()
        return False
    except Exception:
        with rt.db.session() as session:
            oncall.finish_handoff(session, current.user, current.since, "failed")
        raise
    with rt.db.session() as session:
        oncall.finish_handoff(session, current.user, current.since, status)
    return status == "sent"


# -- keeping the clocks on the cards current ---------------------------------------


class ClockKeeper:
    """Redraws a card when the clock it shows changes, nearest due first, a bounded number per run."""

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.shown: dict[int, str] = {}

    def run(self, now: datetime | None = None, limit: int = CLOCK_REFRESH_LIMIT) -> int:
        now = now or utcnow()
        with self.rt.db.session() as session:
            rows = session.execute(
                select(m.Case.id, m.Case.due_at)
                .where(m.Case.status.in_(WAITING_STATUSES), m.Case.card_ts.is_not(None), m.Case.due_at.is_not(None))
                .order_by(m.Case.due_at)
                .limit(1000)
            ).all()
        refreshed = 0
        for case_id, due in rows:
            text = sla.clock_text(due, now)
            if self.shown.get(case_id) == text:
                continue
            if refreshed >= limit:
                break
            try:
                self.rt.publisher.refresh(case_id)
            except Exception:  # noqa: BLE001 - one card must not stop the rest
                log.exception("could not redraw the clock of case %s", case_id)
                continue
            self.shown[case_id] = text
            refreshed += 1
        alive = {case_id for case_id, _ in rows}
        self.shown = {k: v for k, v in self.shown.items() if k in alive}
        return refreshed


def jobs(rt: Runtime) -> list:
    """The scheduler's jobs for SLA clocks and on-call."""

    keeper = ClockKeeper(rt)
    every = rt.config.sla.check_every.total_seconds()
    return [
        Job("sla:escalate", lambda: check(rt), "interval", {"seconds": every}, True),
        Job("sla:clocks", keeper.run, "interval", {"seconds": 60}),
        Job("oncall:handoff", lambda: handoffs(rt), "interval", {"seconds": min(every, 60)}, True),
    ]
