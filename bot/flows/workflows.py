"""The flows that join the domain, the networks and Slack: poll, deliver, approve, send."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from uuid import uuid4

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from bot import metrics
from bot.flows import incidents as incident_flow
from bot.clock import utcnow
from bot.flows import notices
from bot.domain import cases, ingest, outbox
from bot.domain.approvals import NOT_APPROVER
from bot.domain.posts import Post
from bot.domain.similar import AnsweredCases
from bot.domain.states import CaseStatus, ReplyStatus, RETIRED_REPLIES
from bot.networks.base import CannotLook, NetworkError, RateLimited, Target, Uncertain
from bot.runtime import Runtime
from bot.slack.blocks import history_entry
from bot.slack.text import escape
from storage import models as m

log = logging.getLogger(__name__)
SENDING_TIMEOUT = timedelta(seconds=90)  # longer than any send takes (each network call times out after 20 s)


# -- in ------------------------------------------------------------------------

def poll(rt: Runtime, name: str) -> ingest.IngestResult | None:
    """Fetch one network since its stored cursors, store the batch with its cursors, triage, carry cards into Slack."""
    until = rt.poll_backoff.get(name)
    if until is not None and utcnow() < until:
        return None
    network = rt.networks[name]
    with rt.db.session() as session:
        cursors = {c.stream: c.value for c in session.scalars(select(m.Cursor).where(m.Cursor.stream.like(f"{name}:%")))}
    try:
        fetched = network.fetch(cursors)
        own = rt.own_ids_for(name)
    except NetworkError as exc:
        rt.health.failure(name, exc.message)
        wait = exc.retry_after or (rt.settings.poll_interval_seconds if exc.transient else 300)
        rt.poll_backoff[name] = utcnow() + timedelta(seconds=wait)
        metrics.POLL_ERRORS.labels(network=name, kind=type(exc).__name__).inc()
        log.warning("polling %s failed (%s); next try in %.0fs", name, exc.message, wait)
        notices.network_failed(rt, name, exc)
        return None
    rt.health.success(name)
    rt.poll_backoff.pop(name, None)
    notices.network_ok(rt, name)
    # One transaction: the posts are stored exactly when the cursor moves past them.
    with rt.db.session() as session:
        result = ingest.store(session, fetched.posts, own_ids=own)
        for stream, value in fetched.cursors.items():
            cursor = session.get(m.Cursor, stream)
            if cursor is None:
                session.add(m.Cursor(stream=stream, value=value))
            else:
                cursor.value = value
    metrics.POSTS_INGESTED.labels(network=name).inc(len(result.stored))
    result.add(triage_stored(rt))
    deliver(rt)
    return result


def ingest_pushed(rt: Runtime, name: str, posts: list[Post]) -> ingest.IngestResult:
    """Stage 1 for posts a webhook delivered: durably stored before the delivery is acknowledged; triage comes after."""
    own = rt.own_ids_for(name) if posts else set()
    with rt.db.writing(urgent=True) as session:  # before triage's writes waiting for the lock: the network waits for the 200
        result = ingest.store(session, posts, own_ids=own)
    metrics.POSTS_INGESTED.labels(network=name).inc(len(result.stored))
    return result


def after_push(rt: Runtime) -> ingest.IngestResult:
    """What follows a webhook's acknowledgement (and the scheduler's triage job): triage what is stored, then card it."""
    result = triage_stored(rt)
    if result.new_cases or result.follow_ups or result.lane:
        deliver(rt)
    return result


def kick_triage(rt: Runtime) -> None:
    """Triage what is stored: in the worker process where this one has one, else on the background pool (one loop
    per process however many deliveries ask)."""
    if rt.triage_elsewhere is not None:
        rt.triage_elsewhere()
    else:
        rt.submit_single("triage", lambda: after_push(rt))


# A backlog is classified 256 posts at a time (the n-gram heads as one matrix product; the encoder reads
# the unsure posts one by one) and settled 64 at a time: each write transaction stays short, so a
# webhook's store never waits long.
CLASSIFY_BATCH, SETTLE_BATCH = 256, 64


def triage_stored(rt: Runtime, *, batch: int | None = None, settle_batch: int | None = None,
                  classifier: ingest.Classifier = ingest.classify_all) -> ingest.IngestResult:
    """Stage 2: claim stored posts a batch at a time, triage them outside any transaction, open or join cases."""
    batch, settle_batch = batch or CLASSIFY_BATCH, settle_batch or SETTLE_BATCH
    token = uuid4().hex
    total = ingest.IngestResult()
    answered = AnsweredCases()  # what the team sent before, read once while this backlog drains (a hint on the card)
    while not rt.stopping.is_set():  # draining: what is not claimed yet waits for the next process
        with rt.db.writing() as session:
            ids = ingest.claim(session, token, limit=batch)
        if not ids:
            return total
        with rt.db.session() as session:  # read after the claim's commit, so the write lock is not held meanwhile
            items = ingest.to_triage(session, ids)
        outcomes = dict(zip((item.post_id for item in items), classifier(items)))
        order = sorted(outcomes)
        complained: Counter[tuple[str, str]] = Counter()  # complaint cases opened per author in this batch so far
        for start in range(0, len(order), settle_batch):
            chunk = {post_id: outcomes[post_id] for post_id in order[start:start + settle_batch]}
            while chunk:
                done = _settle(rt, token, chunk, complained, answered)
                metrics.POSTS_SET_ASIDE.inc(done.set_aside)
                total.add(done)
                chunk = {post_id: chunk[post_id] for post_id in done.unsettled}
    return total


def _settle(rt: Runtime, token: str, outcomes: dict, complained: Counter, answered: AnsweredCases) -> ingest.IngestResult:
    try:
        with rt.db.writing() as session:
            done = ingest.settle(session, token, outcomes, config=rt.config, channel=rt.channel, complained=complained,
                                 answered=answered, stop_early=rt.db.urgent_waiting)
            incident_flow.absorb(rt, session, done)  # in the same transaction: a post joins an incident or gets its card
        complained.update(done.complaints_opened)  # committed
        return done
    except OperationalError:
        raise  # the database itself is failing: the claims go stale and are taken up again
    except Exception:  # noqa: BLE001 - find the one post that cannot be written; the others go through
        log.exception("a batch of %d posts could not be settled at once; settling them one by one", len(outcomes))
    done = ingest.IngestResult()
    for post_id, outcome in outcomes.items():
        done.add(_settle_one(rt, token, post_id, outcome, complained, answered))
    return done


def _settle_one(rt: Runtime, token: str, post_id: int, outcome, complained: Counter, answered: AnsweredCases) -> ingest.IngestResult:
    try:
        with rt.db.writing() as session:
            done = ingest.settle(session, token, {post_id: outcome}, config=rt.config, channel=rt.channel, complained=complained,
                                 answered=answered)
            incident_flow.absorb(rt, session, done)
        complained.update(done.complaints_opened)
        return done
    except OperationalError:
        raise
    except Exception as exc:  # noqa: BLE001 - kept in the lane with the reason, counted in /healthz
        log.exception("post %s could not be made into a case; set aside", post_id)
        with rt.db.writing() as session:
            kept = ingest.set_aside(session, token, post_id, exc)
        return ingest.IngestResult(set_aside=int(kept), lane=int(kept))


def deliver(rt: Runtime, max_wait: float = 0.0) -> int:
    """Carry queued cards and messages into Slack at the pace Slack allows; waits up to `max_wait` s for budget."""
    rt.publisher.reconcile()
    rt.publisher.reconcile_messages()
    posted = rt.publisher.deliver_pending(max_wait=max_wait)
    metrics.CARDS_POSTED.inc(posted)
    rt.publisher.refresh_lane(rt.channel, shown=rt.config.routing.lane_shown)  # after the cards: they matter more
    return posted


# -- out -----------------------------------------------------------------------


def target_of(case: m.Case) -> Target:
    root = case.root
    return Target(root.external_id, root.author_external_id, root.author_handle, root.created_at, root.kind, root.conversation_id)


def approve(rt: Runtime, case_id: int, user_id: str, replies: dict[str, str]) -> outbox.Approval:
    """Record the approval in the outbox (raises CaseError if the case cannot take one): database only, so it
    is durable before Slack hears the click acknowledged; `after_approval` does the rest in the background.

    When the approval policy holds this person's reply, nothing is queued: the card
    shows the draft to approvers instead.
    """
    policy = rt.policy
    with rt.db.session() as session:
        case = session.get(m.Case, case_id)
        root = case.root if case else None
        hold = bool(root) and policy.needs_approval(user_id=user_id, priority=case.priority, followers=root.author_followers)
        return outbox.approve(session, case_id, user_id, replies, hold=hold, approver=policy.is_approver(user_id))


def after_approval(rt: Runtime, approval: outbox.Approval, *, user_id: str, draft: str = "", released: bool = False) -> None:
    """After the click was acknowledged: the card and its thread say so, and the replies go out."""
    if released:
        rt.publisher.note(approval.case_id, history_entry(user_id, "approved the draft"))
    elif approval.held:
        rt.publisher.note(approval.case_id, history_entry(user_id, "submitted a reply for approval", escape(draft)))
    rt.publisher.refresh(approval.case_id)
    send_approval(rt, approval)


def approve_from_card(rt: Runtime, case_id: int, user_id: str, *, approver: bool) -> None:
    """The card's Approve: an approver releases a held draft; otherwise the suggested reply is approved.

    Only the database is written here (the click is acknowledged once it is durable);
    the card, the thread and the send follow on the background pool.
    """
    with rt.db.session() as session:
        case = session.get(m.Case, case_id)
        held, draft = (case.status == CaseStatus.PENDING_APPROVAL, case.suggested_reply) if case else (False, "")
    if held:
        if not approver:
            raise cases.CaseError(NOT_APPROVER)
        rt.submit(after_approval, rt, release(rt, case_id, user_id), user_id=user_id, released=True)
        return
    rt.submit(after_approval, rt, approve(rt, case_id, user_id, {"public": draft}), user_id=user_id, draft=draft)


def release(rt: Runtime, case_id: int, approver_id: str) -> outbox.Approval:
    """An approver lets the held draft go: database only, like `approve`."""
    with rt.db.session() as session:
        return outbox.release(session, case_id, approver_id)


def reject(rt: Runtime, case_id: int, approver_id: str) -> None:
    with rt.db.session() as session:
        outbox.reject(session, case_id, approver_id)


def after_change(rt: Runtime, case_id: int, entry: str) -> None:
    """After a non-sending click was acknowledged (claim, dismiss, re-file...): the card shows it, its thread says who did what.

    Run on the background pool, never on Bolt's listener threads: a slow or rate-limited
    Slack must not hold the threads that acknowledge the next clicks.
    """
    rt.publisher.refresh(case_id)
    rt.publisher.note(case_id, entry)


def after_reject(rt: Runtime, case_id: int, approver_id: str) -> None:
    rt.publisher.refresh(case_id)
    rt.publisher.note(case_id, history_entry(approver_id, "sent the draft back"))


def send_approval(rt: Runtime, approval: outbox.Approval) -> None:
    if approval.held:
        return
    for reply_id in approval.reply_ids:
        send_reply(rt, reply_id)
    rt.publisher.refresh(approval.case_id)


def send_reply(rt: Runtime, reply_id: int) -> None:
    """Send one queued reply at most once; the card and its thread say what happened.

    If an earlier attempt of this reply may have gone out (timeout, crash mid-send),
    the network is asked first, and a reply found there is recorded instead of sent.
    """
    with rt.db.session() as session:
        reply = session.get(m.Reply, reply_id)
        if reply is None or _waits_for_sibling(session, reply):
            return
        reply = outbox.take_reply(session, reply_id)
        if reply is None:
            return
        case = reply.case
        network = rt.networks.get(case.network)
        target = target_of(case)
        kind, text, case_id, approved_at = reply.kind, reply.text, case.id, reply.created_at
        earlier = outbox.uncertain_since(session, reply)
    if network is None:
        _fail(rt, reply_id, f"{case.network} is not connected", transient=False)
        return
    if earlier is not None and _look_first(rt, network, reply_id, target, kind, text, earlier):
        return
    try:
        sent = network.reply_public(target, text) if kind == "public" else network.reply_private(target, text)
    except Uncertain as exc:
        _settle_uncertain(rt, network, reply_id, target, kind, text, approved_at, exc.message)
        return
    except NetworkError as exc:
        if isinstance(exc, RateLimited) and exc.retry_after:
            # The others are held before this reply is requeued: whoever sees it queued sees the hold too.
            with rt.db.session() as session:
                outbox.hold_network(session, network.name, utcnow() + timedelta(seconds=exc.retry_after))
        _fail(rt, reply_id, exc.message, transient=exc.transient, retry_after=exc.retry_after)
        return
    with rt.db.session() as session:
        reply = session.get(m.Reply, reply_id)
        outbox.record_sent(session, reply, sent.external_id, sent.url)
        who = reply.requested_by
    metrics.REPLIES.labels(network=network.name, kind=kind, outcome="sent").inc()
    what = "replied publicly" if kind == "public" else "sent a private message"
    rt.publisher.note(case_id, history_entry(who, what, f"<{sent.url}|view>" if sent.url else ""))


def _looked(network, found) -> str:
    when = utcnow().strftime("%H:%M UTC")
    return f"socialdesk looked on {network.label} at {when} and " + ("found it there" if found else "found no reply from the brand")


def _look_first(rt: Runtime, network, reply_id: int, target: Target, kind: str, text: str, since) -> bool:
    """Before resending after an unknown outcome: True if nothing must be sent now (found, or the network could not say)."""
    try:
        found = network.find_reply(target, kind, text, since)
    except CannotLook as exc:
        with rt.db.session() as session:
            reply = session.get(m.Reply, reply_id)
            outbox.resolve_uncertain(session, reply, exc.message)
        return False  # the card said it may have gone out, and a person chose to send again
    except NetworkError as exc:
        _fail(rt, reply_id, f"socialdesk could not check {network.label} for the earlier reply first ({exc.message}), so it sent nothing",
              transient=exc.transient, retry_after=exc.retry_after)
        return True
    if found is not None:
        _record_found(rt, network, reply_id, found)
        return True
    with rt.db.session() as session:
        outbox.resolve_uncertain(session, session.get(m.Reply, reply_id), _looked(network, False))
    return False


def _record_found(rt: Runtime, network, reply_id: int, found) -> None:
    with rt.db.session() as session:
        reply = session.get(m.Reply, reply_id)
        outbox.record_found(session, reply, found.external_id, found.url, _looked(network, True))
        case_id = reply.case_id
    metrics.REPLIES.labels(network=network.name, kind="any", outcome="found").inc()
    rt.publisher.note(case_id, history_entry("system", f"found the reply already on {network.label}, so it was not sent again",
                                             f"<{found.url}|view>" if found.url else ""))
    rt.publisher.refresh(case_id)


def _settle_uncertain(rt: Runtime, network, reply_id: int, target: Target, kind: str, text: str, since, message: str) -> None:
    """No answer (timeout, or the bot stopped mid-send): look on the network now; sent if it is there, else "may have been sent"."""
    try:
        found = network.find_reply(target, kind, text, since)
        checked = _looked(network, False)
    except NetworkError as exc:
        found, checked = None, f"socialdesk could not look on {network.label} yet ({exc.message})"
    if found is not None:
        _record_found(rt, network, reply_id, found)
        return
    _fail(rt, reply_id, message, transient=False, uncertain=checked)


def _waits_for_sibling(session, reply: m.Reply) -> bool:
    """A public "we've sent you a DM" only goes out once the DM did."""
    if reply.kind != "public":
        return False
    private = session.scalars(select(m.Reply).where(m.Reply.approval_id == reply.approval_id, m.Reply.kind == "private")).first()
    return private is not None and private.status != ReplyStatus.SENT


def _fail(rt: Runtime, reply_id: int, message: str, *, transient: bool, retry_after: float | None = None, uncertain: str | None = None) -> None:
    """A failed attempt; with `uncertain` (what the lookup found) the reply may have gone out and the card says so."""
    with rt.db.session() as session:
        reply = session.get(m.Reply, reply_id)
        if uncertain is not None:
            reply.checked = uncertain
            outbox.record_uncertain(session, reply, message)
            requeued = False
        else:
            requeued = outbox.record_failure(session, reply, message, transient=transient, retry_after=retry_after)
        if not requeued and reply.kind == "private":
            for sibling in session.scalars(
                select(m.Reply).where(m.Reply.approval_id == reply.approval_id, m.Reply.kind == "public", m.Reply.status == ReplyStatus.QUEUED)
            ):
                sibling.status = ReplyStatus.FAILED
                sibling.error = outbox.WAITED_FOR_DM
            outbox.settle(session, reply.case, utcnow())
        case_id, network = reply.case_id, reply.case.network
    metrics.REPLIES.labels(network=network, kind="any", outcome="retrying" if requeued else ("uncertain" if uncertain else "failed")).inc()
    if not requeued:
        what = "may have sent the reply (no answer in time)" if uncertain is not None else "could not send the reply"
        rt.publisher.note(case_id, history_entry("system", what, message + (f". {uncertain}." if uncertain else "")))
    rt.publisher.refresh(case_id)


def process_outbox(rt: Runtime) -> int:
    """Send replies whose retry time has come; settle sends cut off by a crash."""
    now = utcnow()
    with rt.db.session() as session:
        due = outbox.due_replies(session, now)
        lost = list(
            session.scalars(select(m.Reply.id).where(m.Reply.status == ReplyStatus.SENDING, m.Reply.next_attempt_at < now - SENDING_TIMEOUT))
        )
    for reply_id in lost:
        # Cut off mid-send: never resent on our own; the network is asked whether it took it.
        _settle_lost(rt, reply_id)
    touched = set()
    for reply_id in due:
        send_reply(rt, reply_id)
        with rt.db.session() as session:
            touched.add(session.get(m.Reply, reply_id).case_id)
    for case_id in touched:
        rt.publisher.refresh(case_id)
    return len(due)


def _settle_lost(rt: Runtime, reply_id: int) -> None:
    with rt.db.session() as session:
        reply = session.get(m.Reply, reply_id)
        if reply is None or reply.status != ReplyStatus.SENDING:
            return
        case = reply.case
        network = rt.networks.get(case.network)
        target, kind, text, since = target_of(case), reply.kind, reply.text, reply.created_at
    message = "the bot stopped while sending it"
    if network is None:
        _fail(rt, reply_id, message, transient=False, uncertain=f"{case.network} is not connected, so socialdesk could not look")
        return
    _settle_uncertain(rt, network, reply_id, target, kind, text, since, message)


def retry(rt: Runtime, case_id: int, user_id: str) -> outbox.Approval:
    """A new approval with the texts of the last one that failed."""
    with rt.db.session() as session:
        case = session.get(m.Case, case_id)
        if case is None:
            raise cases.CaseError("This case no longer exists.")
        if case.status != CaseStatus.FAILED or not case.replies:
            raise cases.CaseError("Only a failed reply can be retried.")
        live = [r for r in case.replies if r.status not in RETIRED_REPLIES]
        latest = live[-1].approval_id
        texts = {r.kind: r.text for r in live if r.approval_id == latest}
    return approve(rt, case_id, user_id, texts)


def release_stale_claims(rt: Runtime, older_than: timedelta | None = None) -> int:
    """Free claims nobody acted on, so the case shows up as waiting again."""
    older_than = older_than or rt.config.workflow.claim_timeout
    with rt.db.session() as session:
        ids = list(session.scalars(select(m.Case.id).where(m.Case.claimed_at < utcnow() - older_than, m.Case.status == CaseStatus.OPEN)))
        if ids:
            session.execute(update(m.Case).where(m.Case.id.in_(ids)).values(claimed_by=None, claimed_at=None))
    for case_id in ids:
        rt.publisher.refresh(case_id)
    return len(ids)
