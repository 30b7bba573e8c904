"""Incidents: many people complaining about one thing at once become one incident.

Pure domain over a database session: no Slack, no HTTP. A spike is a rise in
complaints far above the same hour and weekday of past weeks (and above a minimum
volume); its largest group of similar posts opens an incident, and later posts that
fit join it instead of getting a card. Safety, legal and data-breach complaints
never join: they keep their own card. A person can also declare an incident.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.config import IncidentsConfig
from bot.domain import grouping
from bot.domain.errors import UserFacingError
from bot.domain.outbox import DM_PUBLIC_DEFAULT
from bot.triage.rules import risk_terms
from bot.domain.states import OPEN_STATUSES, CaseStatus, IncidentStatus, ReplyStatus, SlackState
from storage import models as m

JOINS = ("complaint", "question")  # "is the site down??" is a question about the same problem
NEVER_JOIN = ("safety", "legal", "data breach")
PROFILE_POSTS = 300  # the posts an incident's profile is learnt from, spread over its life
WAITING = "incident"  # a post in an incident, not yet listed in its thread
LISTED = "listed"     # ...listed in the incident's thread
BRIDGE_SHARE = 0.3   # a spike's group joins an open incident when this share of its posts fit it, or of the incident's fit the group
MERGE_CHOICES = 25    # the other open incidents "Merge into…" offers, newest first


class IncidentError(UserFacingError):
    """An action on an incident that cannot happen; the message is for the person who tried."""


def must_keep_own_card(text: str) -> bool:
    """Safety, legal and data-breach complaints are never folded into an incident."""
    urgent, _ = risk_terms(text)
    return any(term in NEVER_JOIN for term in urgent)


def _others_changed(session: Session, incident_id: int) -> None:
    """Another incident opened or closed: every open incident's "Merge into…" choices are out of date."""
    session.execute(update(m.Incident).where(m.Incident.status == IncidentStatus.OPEN, m.Incident.id != incident_id)
                    .values(changed=True).execution_options(synchronize_session=False))


def _audit(session: Session, actor: str, action: str, **detail) -> None:
    session.add(m.AuditEvent(case_id=None, actor=actor, action=action, detail=detail, created_at=utcnow()))


# -- joining -------------------------------------------------------------------


def _open(session: Session) -> list[m.Incident]:
    return list(session.scalars(select(m.Incident).where(m.Incident.status == IncidentStatus.OPEN).order_by(m.Incident.id)))


def best_incident(text: str, category: str, incidents: list[m.Incident], threshold: float, network: str | None = None) -> m.Incident | None:
    """The open incident a post fits best, if it may and does fit one (an incident split off by network takes only that network)."""
    if category not in JOINS or not incidents or must_keep_own_card(text):
        return None
    post_terms = grouping.terms(text)
    best, best_score = None, threshold
    for incident in incidents:
        if incident.network and network and incident.network != network:
            continue
        s = grouping.score(post_terms, incident.profile or {})
        if s >= best_score:
            best, best_score = incident, s
    return best


def _attach(session: Session, incident: m.Incident, case_id: int) -> bool:
    """Fold a case into an incident if its card has not gone out; False if it has (it keeps its card)."""
    won = session.execute(
        update(m.Post)
        .where(m.Post.case_id == case_id, m.Post.slack_state == SlackState.PENDING)
        .values(slack_state=WAITING)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        return False
    session.execute(
        update(m.Case).where(m.Case.id == case_id).values(incident_id=incident.id).execution_options(synchronize_session=False)
    )
    incident.changed = True
    return True


MOVED_OUT = "moved_out_of_incident"  # a person took the post out: it never rejoins an incident by itself


def _moved_out():
    return exists().where(m.AuditEvent.case_id == m.Case.id, m.AuditEvent.action == MOVED_OUT)


def place(session: Session, case_ids: list[int], *, threshold: float) -> dict[int, int]:
    """New cases that fit an open incident join it (no card); returns case id -> incident id."""
    incidents = _open(session)
    if not incidents or not case_ids:
        return {}
    rows = session.execute(
        select(m.Case.id, m.Case.category, m.Post.text, m.Case.network)
        .join(m.Post, m.Post.case_id == m.Case.id)
        .where(m.Case.id.in_(case_ids), m.Case.incident_id.is_(None), ~_moved_out())
        .order_by(m.Post.id)
    ).all()
    placed, seen = {}, set()
    for case_id, category, text, network in rows:
        if case_id in seen:
            continue  # the root post decides
        seen.add(case_id)
        incident = best_incident(text, category, incidents, threshold, network)
        if incident is not None and _attach(session, incident, case_id):
            placed[case_id] = incident.id
    return placed


# -- spikes --------------------------------------------------------------------


def _complaints_between(session: Session, start: datetime, end: datetime, network: str | None = None) -> int:
    query = select(func.count(m.Case.id)).where(m.Case.created_at > start, m.Case.created_at <= end, m.Case.category == "complaint")
    if network:
        query = query.where(m.Case.network == network)
    return session.scalar(query) or 0


def baseline(session: Session, network: str, now: datetime, config: IncidentsConfig) -> float:
    """Complaints usually seen in such a window: the same hour and weekday of the past weeks, averaged."""
    counts = [
        _complaints_between(session, now - timedelta(weeks=k) - config.window, now - timedelta(weeks=k), network)
        for k in range(1, config.baseline_weeks + 1)
    ]
    return sum(counts) / len(counts)


@dataclass
class Spike:
    network: str
    observed: int
    usual: float


def spikes(session: Session, now: datetime, config: IncidentsConfig) -> list[Spike]:
    """Networks whose complaints in the last window are far above usual and above the minimum volume."""
    start = now - config.window
    observed = dict(
        session.execute(
            select(m.Case.network, func.count(m.Case.id))
            .where(m.Case.created_at > start, m.Case.created_at <= now, m.Case.category == "complaint")
            .group_by(m.Case.network)
        ).all()
    )
    found = []
    for network, count in sorted(observed.items()):
        if count < config.min_posts:
            continue
        usual = baseline(session, network, now, config)
        if count >= config.spike_factor * max(usual, 1.0):
            found.append(Spike(network, count, usual))
    return found


def _in_cooldown(session: Session, now: datetime, config: IncidentsConfig) -> bool:
    last = session.scalar(select(func.max(m.Incident.created_at)).where(m.Incident.origin == "spike"))
    return last is not None and now - last < config.cooldown


def _waiting(session: Session, now: datetime, config: IncidentsConfig) -> dict[int, set[str]]:
    """Cases of the window still waiting for their card that may join an incident: case id -> terms of the post."""
    rows = session.execute(
        select(m.Case.id, m.Case.category, m.Post.text)
        .join(m.Post, m.Post.case_id == m.Case.id)
        .where(
            m.Case.created_at >= now - config.window, m.Case.created_at <= now, m.Case.incident_id.is_(None),
            m.Case.category.in_(JOINS), m.Post.slack_state == SlackState.PENDING, ~_moved_out(),
        )
        .order_by(m.Case.id, m.Post.id)
    ).all()
    out: dict[int, set[str]] = {}
    for case_id, _category, text in rows:
        if case_id not in out and not must_keep_own_card(text):
            out[case_id] = grouping.terms(text)
    return out


def _join_bridged(session: Session, groups: list[list[int]], by_id: dict[int, set[str]], *, min_size: int, threshold: float) -> list[list[int]]:
    """Groups of a spike that are one problem with an open incident join it; returns the groups left.

    One problem said two ways: a good share (BRIDGE_SHARE) of the group's posts fit the
    incident on their own, or of the incident's posts fit the group. That is the same crisis
    said another way, or first seen on another network (webhooks arrive at once, polls in
    pulses), whose posts got cards before the incident learnt how they say it. The whole
    group joins, and the incident learns its words so the next such posts join at ingest.
    """
    open_ = [i for i in _open(session) if not i.network]  # one split off by network takes only that network's posts
    samples = {i.id: [grouping.terms(t) for t in _sample(session, i.id)] for i in open_}
    left = []
    for group in groups:
        best, best_share = None, BRIDGE_SHARE
        if len(group) >= min_size:
            texts = [by_id[c] for c in group]
            prof = grouping.profile(texts)
            for incident in open_:
                share = max(grouping.fitting(texts, incident.profile or {}, threshold=threshold),
                            grouping.fitting(samples[incident.id], prof, threshold=threshold))
                if share >= best_share:
                    best, best_share = incident, share
        if best is None:
            left.append(group)
            continue
        attached = sum(_attach(session, best, case_id) for case_id in group)
        _audit(session, "system", "incident_grew", incident_id=best.id, posts=attached)
        learn(session, best)
        samples[best.id] = [grouping.terms(t) for t in _sample(session, best.id)]
    return left


def detect(session: Session, *, channel: str, config: IncidentsConfig, now: datetime | None = None) -> list[int]:
    """Open an incident for the largest group of similar posts in a spike; returns new incident ids.

    The group must be a real share of the spike (at least half the minimum volume), so
    a rise in unrelated complaints alerts nobody. A group bridged to an open incident
    joins it rather than open another. Within the cooldown after a spike opened an
    incident, a group that fits no open incident opens one only from `large_group`
    posts on: one crisis does not alert ten times, but neither does it become
    thousands of cards (the team merges two incidents with one click).
    """
    now = now or utcnow()
    found = spikes(session, now, config)
    if not found:
        return []
    by_id = _waiting(session, now, config)
    needed = max(2, config.min_posts // 2)
    groups = sorted(grouping.cluster(list(by_id.items()), threshold=config.join_score), key=len, reverse=True)
    if not groups or len(groups[0]) < needed:
        return []
    groups = _join_bridged(session, groups, by_id, min_size=needed, threshold=config.join_score)
    cooling = _in_cooldown(session, now, config)
    if not groups or len(groups[0]) < (max(needed, config.large_group) if cooling else needed):
        return []
    members = grouping.merge_related(groups, by_id, threshold=config.join_score)
    prof = grouping.profile(by_id[c] for c in members)
    incident = m.Incident(
        status=IncidentStatus.OPEN, origin="spike", title=" · ".join(grouping.top_phrases(prof, 3)), profile=prof, channel=channel,
        created_at=now, changed=True,
    )
    session.add(incident)
    session.flush()
    _others_changed(session, incident.id)
    attached = sum(_attach(session, incident, case_id) for case_id in members)
    _audit(session, "system", "incident_opened", incident_id=incident.id, posts=attached, during_cooldown=cooling,
           spikes=[{"network": s.network, "observed": s.observed, "usual": round(s.usual, 1)} for s in found])
    # Pending posts of the same window that fit the new profile join too.
    chosen = set(members)
    place(session, [c for group in groups for c in group if c not in chosen], threshold=config.join_score)
    return [incident.id]


def declare(session: Session, title: str, user_id: str, *, channel: str, config: IncidentsConfig, now: datetime | None = None) -> m.Incident:
    """A person opens an incident by naming it; recent waiting posts that fit join it at once."""
    now = now or utcnow()
    title = " ".join(title.split())[:200]
    seed = grouping.terms(title)
    if not seed:
        raise IncidentError("Say what the incident is about, e.g. `/socialdesk incident start checkout down`.")
    incident = m.Incident(
        status=IncidentStatus.OPEN, origin="declared", declared_by=user_id, title=title, profile={t: 1.0 for t in seed},
        channel=channel, created_at=now, changed=True,
    )
    session.add(incident)
    session.flush()
    _others_changed(session, incident.id)
    _audit(session, user_id, "incident_declared", incident_id=incident.id, title=title)
    waiting = session.scalars(
        select(m.Case.id).join(m.Post, m.Post.case_id == m.Case.id)
        .where(m.Case.created_at >= now - config.window, m.Case.incident_id.is_(None), m.Post.slack_state == SlackState.PENDING)
    ).all()
    place(session, list(dict.fromkeys(waiting)), threshold=config.join_score)
    return incident


def _sample(session: Session, incident_id: int) -> list[str]:
    """Up to PROFILE_POSTS of an incident's posts, spread evenly over its whole life.

    Not just the latest ones: a burst arrives network by network (webhooks at once, polls
    in pulses), so the latest few hundred can all say it one way, and a profile learnt from
    them forgets the other ways people said it and sends their next posts back to cards.
    """
    ids = session.scalars(
        select(m.Post.id).join(m.Case, m.Post.case_id == m.Case.id).where(m.Case.incident_id == incident_id).order_by(m.Post.id)
    ).all()
    step = max(1.0, len(ids) / PROFILE_POSTS)
    picked = sorted({ids[int(k * step)] for k in range(min(PROFILE_POSTS, len(ids)))} | set(ids[-1:]))
    return list(session.scalars(select(m.Post.text).where(m.Post.id.in_(picked)))) if picked else []


def learn(session: Session, incident: m.Incident) -> None:
    """Re-learn what an incident's posts say from a sample of its posts (a declared one keeps its own words)."""
    texts = _sample(session, incident.id)
    if len(texts) < 5:
        return
    prof = grouping.profile(grouping.terms(t) for t in texts)
    if incident.origin == "declared":
        for term in grouping.terms(incident.title):
            prof[term] = 1.0
    incident.profile = prof


# -- people acting on an incident ------------------------------------------------


def get_open(session: Session, incident_id: int) -> m.Incident:
    incident = session.get(m.Incident, incident_id)
    if incident is None:
        raise IncidentError(f"There is no incident #{incident_id}.")
    if incident.status != IncidentStatus.OPEN:
        raise IncidentError(f"Incident #{incident_id} is {incident.status}.")
    return incident


def move_out(session: Session, case_id: int, user_id: str) -> int:
    """Take a post out of its incident: it gets its own card. Returns the incident id."""
    case = session.get(m.Case, case_id)
    if case is None or case.incident_id is None:
        raise IncidentError("This post is not part of an incident.")
    incident_id = case.incident_id
    session.execute(
        update(m.Post).where(m.Post.case_id == case_id, m.Post.slack_state.in_((WAITING, LISTED))).values(slack_state=SlackState.PENDING)
        .execution_options(synchronize_session=False)
    )
    case.incident_id = None
    session.get(m.Incident, incident_id).changed = True
    _audit(session, user_id, "incident_post_moved_out", incident_id=incident_id, case=case_id)
    session.add(m.AuditEvent(case_id=case_id, actor=user_id, action=MOVED_OUT, detail={"incident_id": incident_id}, created_at=utcnow()))
    return incident_id


def merge(session: Session, source_id: int, target_id: int, user_id: str) -> m.Incident:
    """Fold one incident into another: its posts move over, it closes pointing at the other."""
    if source_id == target_id:
        raise IncidentError("An incident cannot be merged into itself.")
    source, target = get_open(session, source_id), get_open(session, target_id)
    session.execute(update(m.Case).where(m.Case.incident_id == source_id).values(incident_id=target_id).execution_options(synchronize_session=False))
    source.status, source.merged_into, source.changed, source.resolved_at = IncidentStatus.MERGED, target_id, True, utcnow()
    target.changed = True
    _others_changed(session, source_id)
    learn(session, target)
    _audit(session, user_id, "incident_merged", incident_id=source_id, into=target_id)
    return target


def split(session: Session, incident_id: int, phrase: str, user_id: str, *, channel: str, network: str | None = None) -> m.Incident:
    """Posts of an incident that mention `phrase` (and/or came from `network`) become a new incident of their own."""
    source = get_open(session, incident_id)
    wanted = grouping.terms(phrase)
    if not wanted and not network:
        raise IncidentError("Say which posts to split off, e.g. `/socialdesk incident split 3 login`.")
    rows = session.execute(
        select(m.Case.id, m.Post.text, m.Case.network).join(m.Post, m.Post.case_id == m.Case.id).where(m.Case.incident_id == incident_id)
    ).all()
    moving = sorted({case_id for case_id, text, net in rows if wanted <= grouping.terms(text) and (network is None or net == network)})
    what = " and ".join(p for p in (f"mentions “{phrase.strip()}”" if wanted else "", f"came from {network}" if network else "") if p)
    if not moving or len(moving) == len({c for c, _, _ in rows}):
        raise IncidentError(f"No split: {'no' if not moving else 'every'} post of incident #{incident_id} {what}.")
    title = " ".join(phrase.split())[:200] if wanted else f"{source.title} ({network})"[:200]
    profile = {t: 1.0 for t in wanted} if wanted else dict(source.profile or {})
    new = m.Incident(status=IncidentStatus.OPEN, origin="declared" if wanted else "split", declared_by=user_id, title=title,
                     profile=profile, channel=channel, created_at=utcnow(), changed=True, network=network)
    session.add(new)
    session.flush()
    session.execute(update(m.Case).where(m.Case.id.in_(moving)).values(incident_id=new.id).execution_options(synchronize_session=False))
    source.changed = True
    _others_changed(session, new.id)
    learn(session, new)
    learn(session, source)
    _audit(session, user_id, "incident_split", incident_id=incident_id, into=new.id, posts=len(moving), phrase=phrase, network=network)
    return new


@dataclass(frozen=True)
class Destination:
    """Where one text goes on one network: how many posts it makes there, its length as that network counts it, its price."""

    network: str
    writes: int
    length: int
    limit: int | None
    cost: float  # dollars for all `writes`; 0 where the network charges nothing
    via_dm: int = 0  # posts that get a short public reply and the answer by DM, since it is too long to post

    @property
    def fits(self) -> bool:
        return not self.limit or self.length <= self.limit or bool(self.via_dm)


def preview_answer(session: Session, incident_id: int, text: str, limits: dict, price, private: dict | None = None) -> tuple[list[Destination], int]:
    """Per network: the posts one answer would go to, its longest length there, and what it costs; and how many get nothing.

    `price(network, what, text)` is one write's cost (`what`: reply or dm). Lengths are
    counted with the longest @handle, as `answer_all` checks them. Where the answer goes
    by DM (too long to post), each post costs a DM and the short public reply.
    """
    text = text.strip()
    plan = plan_answer(session, incident_id, text, limits, private)
    kinds = dict(session.execute(select(m.Post.case_id, m.Post.kind).where(m.Post.case_id.in_(plan.eligible)).order_by(m.Post.id.desc())).all())
    handles = _handles(session, plan.eligible)
    networks = dict(session.execute(select(m.Case.id, m.Case.network).where(m.Case.id.in_(plan.eligible))).all())
    out = []
    for network, count in plan.per_network.items():
        limit, length = limits.get(network, (None, len))
        mine = [c for c in plan.eligible if networks[c] == network]
        longest = max((len(personal(text, network, handles.get(c, ""))), personal(text, network, handles.get(c, ""))) for c in mine)[1]
        if network in plan.via_dm:
            cost = sum(price(network, "dm", text) + (0.0 if kinds.get(c) == "message" else price(network, "reply", DM_PUBLIC_DEFAULT)) for c in mine)
        else:
            cost = sum(price(network, "dm" if kinds.get(c) == "message" else "reply", text) for c in mine) if text else 0.0
        out.append(Destination(network, count, (length or len)(longest) if text else 0, limit, cost, via_dm=plan.via_dm.get(network, 0)))
    return out, plan.already


def preview_status(text: str, networks: list[str], limits: dict, price) -> list[Destination]:
    """One public post on each of the brand's own accounts: its length there and its price."""
    text = text.strip()
    out = []
    for network in networks:
        limit, length = limits.get(network, (None, len))
        out.append(Destination(network, 1, (length or len)(text) if text else 0, limit, price(network, "post", text) if text else 0.0))
    return out


@dataclass(frozen=True)
class Closed:
    incident: m.Incident
    status_ids: list[int]   # final updates queued on the brand's own accounts
    answered: int           # posts the final text was queued for as a reply


def close(session: Session, incident_id: int, user_id: str, *, final_text: str, networks: list[str], limits: dict,
          answer_posts: bool = False, now: datetime | None = None, private: dict | None = None) -> Closed:
    """Resolve with the final word: a public update on the brand's accounts and, if asked, the same text to each post.

    All in one transaction that starts with the compare-and-set that closes the incident,
    so a second Resolve (a double click, a second person) changes and sends nothing.
    """
    now = now or utcnow()
    final_text = final_text.strip()
    if answer_posts and not final_text:
        raise IncidentError("Write the final update first: it is what each post would get as a reply.")
    incident = resolve(session, incident_id, user_id, now)
    status_ids = queue_status(session, incident_id, final_text, user_id, networks, limits, final=True, now=now) if final_text else []
    answered = 0
    if answer_posts:
        plan = plan_answer(session, incident_id, final_text, limits, private)
        if plan.too_long:
            raise IncidentError(too_long_message(plan, "Too long as a reply") + ": shorten it, or untick the replies.")
        if plan.eligible:
            answered = len(answer_all(session, incident_id, final_text, user_id, limits, now, resolving=True, private=private).eligible)
    return Closed(incident, status_ids, answered)


def resolve(session: Session, incident_id: int, user_id: str, now: datetime | None = None) -> m.Incident:
    """Close an incident: new posts get cards again. Only one click wins."""
    now = now or utcnow()
    won = session.execute(
        update(m.Incident).where(m.Incident.id == incident_id, m.Incident.status == IncidentStatus.OPEN)
        .values(status=IncidentStatus.RESOLVED, resolved_at=now, resolved_by=user_id, changed=True)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        get_open(session, incident_id)  # says why
    _others_changed(session, incident_id)
    _audit(session, user_id, "incident_resolved", incident_id=incident_id)
    incident = session.get(m.Incident, incident_id)
    session.refresh(incident)
    return incident


def acknowledge(session: Session, incident_id: int, user_id: str, now: datetime | None = None) -> m.Incident:
    """Someone took the page: the escalation stops and the incident message says who. Only the first one counts."""
    now = now or utcnow()
    won = session.execute(
        update(m.Incident).where(m.Incident.id == incident_id, m.Incident.status == IncidentStatus.OPEN, m.Incident.acknowledged_at.is_(None))
        .values(acknowledged_by=user_id, acknowledged_at=now, changed=True).execution_options(synchronize_session=False)
    ).rowcount
    incident = get_open(session, incident_id)
    session.refresh(incident)
    if not won:
        raise IncidentError(f"<@{incident.acknowledged_by}> already acknowledged incident #{incident_id}.")
    _audit(session, user_id, "incident_acknowledged", incident_id=incident_id)
    return incident


def rate_series(session: Session, incident_id: int, now: datetime | None = None, *, points: int = 24) -> tuple[datetime, timedelta, list[int]]:
    """Posts per interval from the incident's start to its end (or now): the chart uploaded to its thread."""
    now = now or utcnow()
    incident = session.get(m.Incident, incident_id)
    times = sorted(session.scalars(select(m.Case.created_at).where(m.Case.incident_id == incident_id)))
    start = min([incident.created_at, *times[:1]])
    end = max([incident.resolved_at or now, *times[-1:]])
    minutes = max(1, -(-int((end - start).total_seconds()) // (60 * points)))  # whole minutes, rounded up
    bucket = timedelta(minutes=minutes)
    counts = [0] * max(1, -(-int((end - start).total_seconds()) // int(bucket.total_seconds())))
    for t in times:
        counts[min(len(counts) - 1, int((t - start) / bucket))] += 1
    return start, bucket, counts


# -- what the incident message shows -------------------------------------------


@dataclass(frozen=True)
class Sample:
    case_id: int
    network: str
    handle: str
    text: str
    url: str


@dataclass(frozen=True)
class IncidentView:
    id: int
    status: str
    title: str
    phrases: list[str]
    posts: int
    people: int
    networks: dict[str, int]
    per_bucket: list[int]  # posts per bucket, oldest first (the rate chart)
    bucket: timedelta
    trend: str  # rising | steady | falling
    samples: list[Sample] = field(default_factory=list)
    created_at: datetime | None = None
    resolved_by: str | None = None
    merged_into: int | None = None
    declared_by: str | None = None
    answers: dict[str, int] = field(default_factory=dict)  # sent / queued / failed
    statuses: list = field(default_factory=list)  # the latest sent status update per network, newest first
    waiting: int = 0  # posts no answer has reached yet
    others: list = field(default_factory=list)  # (id, title) of the other open incidents it could be merged into
    paged_user: str | None = None
    acknowledged_by: str | None = None
    escalated_to: str | None = None


def view(session: Session, incident_id: int, now: datetime | None = None, *, buckets: int = 12, bucket: timedelta = timedelta(minutes=5)) -> IncidentView:
    """Everything the incident message shows, read in one go."""
    now = now or utcnow()
    incident = session.get(m.Incident, incident_id)
    rows = session.execute(
        select(m.Case.id, m.Case.network, m.Case.author_external_id, m.Case.created_at)
        .where(m.Case.incident_id == incident_id)
    ).all()
    networks = Counter(r.network for r in rows)
    people = len({(r.network, r.author_external_id) for r in rows})
    start = now - bucket * buckets
    per = [0] * buckets
    for r in rows:
        if r.created_at >= start:
            per[min(buckets - 1, int((r.created_at - start) / bucket))] += 1
    recent, before = sum(per[-2:]), sum(per[-4:-2])
    trend = "rising" if recent > before * 1.25 + 1 else "falling" if recent < before * 0.75 - 1 else "steady"
    samples = [
        Sample(case_id, network, handle, text, url)
        for case_id, network, handle, text, url in session.execute(
            select(m.Case.id, m.Case.network, m.Post.author_handle, m.Post.text, m.Post.url)
            .join(m.Post, m.Post.case_id == m.Case.id)
            .where(m.Case.incident_id == incident_id)
            .order_by(m.Post.author_followers.desc(), m.Post.id)
            .limit(3)
        ).all()
    ]
    return IncidentView(
        id=incident.id, status=incident.status, title=incident.title, phrases=grouping.top_phrases(incident.profile or {}),
        posts=len(rows), people=people, networks=dict(sorted(networks.items())), per_bucket=per, bucket=bucket,
        trend=trend, samples=samples, created_at=incident.created_at, resolved_by=incident.resolved_by,
        merged_into=incident.merged_into, declared_by=incident.declared_by,
        answers=answer_progress(session, incident_id),
        statuses=_latest_statuses(session, incident_id),
        waiting=session.scalar(select(func.count(m.Case.id)).where(m.Case.incident_id == incident_id, m.Case.status == CaseStatus.OPEN)) or 0,
        others=[tuple(r) for r in session.execute(
            select(m.Incident.id, m.Incident.title).where(m.Incident.status == IncidentStatus.OPEN, m.Incident.id != incident_id)
            .order_by(m.Incident.id.desc()).limit(MERGE_CHOICES)).all()],
        paged_user=incident.paged_user, acknowledged_by=incident.acknowledged_by, escalated_to=incident.escalated_to,
    )


def _latest_statuses(session: Session, incident_id: int) -> list:
    latest = {}
    for row in session.scalars(select(m.StatusUpdate).where(m.StatusUpdate.incident_id == incident_id, m.StatusUpdate.status == ReplyStatus.SENT)
                               .order_by(m.StatusUpdate.sent_at.desc())):
        latest.setdefault(row.network, row)
    return list(latest.values())


def take_batch(session: Session, incident_id: int, limit: int = 10) -> list[int]:
    """Posts of an incident not yet listed in its thread, oldest first, now marked listed (each once)."""
    ids = list(session.scalars(
        select(m.Post.id).join(m.Case, m.Post.case_id == m.Case.id)
        .where(m.Case.incident_id == incident_id, m.Post.slack_state == WAITING)
        .order_by(m.Post.id).limit(limit)
    ))
    if ids:
        session.execute(update(m.Post).where(m.Post.id.in_(ids), m.Post.slack_state == WAITING).values(slack_state=LISTED)
                        .execution_options(synchronize_session=False))
    return ids


# -- one answer for all ------------------------------------------------------------

ANSWER_PREFIX = "incident:"  # approval ids of an incident's answer: incident:<id>:<answer>:<case>


@dataclass(frozen=True)
class AnswerPlan:
    """Who one answer would go to: eligible posts per network, and why the others are left out."""

    per_network: dict[str, int]
    eligible: list[int]
    too_long: dict[str, int]  # network -> the answer's length there, when over that network's limit and no DM can carry it
    already: int              # answered, being answered or dismissed: they get nothing again
    via_dm: dict[str, int] = field(default_factory=dict)  # network -> posts that get a short public reply + the answer by DM
    limits: dict[str, int] = field(default_factory=dict)  # network -> its public reply limit, for saying why


def too_long_message(plan: AnswerPlan, what: str = "Too long") -> str:
    """"Too long for x (316/280 weighted characters with the @handle) ...": the numbers, and why no DM carries it."""
    parts = [f"{n} ({length}/{plan.limits.get(n, '?')} characters as {n} counts them, with the @handle)" for n, length in plan.too_long.items()]
    return f"{what} for " + ", ".join(parts) + ", and a direct message cannot carry it there"


def personal(text: str, network: str, handle: str) -> str:
    """X refuses the same text twice from one account, so each reply there starts with its @handle."""
    return f"@{handle} {text}" if network == "x" and handle else text


def _handles(session: Session, case_ids: list[int]) -> dict[int, str]:
    return dict(session.execute(select(m.Post.case_id, m.Post.author_handle).where(m.Post.case_id.in_(case_ids)).order_by(m.Post.id.desc())).all())


def _roots(session: Session, case_ids: list[int]) -> dict[int, m.Post]:
    return {p.case_id: p for p in session.scalars(select(m.Post).where(m.Post.case_id.in_(case_ids)).order_by(m.Post.id.desc()))}


def plan_answer(session: Session, incident_id: int, text: str, limits: dict[str, tuple[int, object]], private: dict | None = None) -> AnswerPlan:
    """`limits`: network -> (limit, length function); a network with no limit takes any length.

    An answer too long to post publicly goes as Move to DM does for one card: a short
    public reply saying we sent a DM, and the whole answer in the DM. `private`: network
    -> why a given root post cannot get a DM (None: it can); a network left out has no
    DMs. If one post of a network cannot get the DM, that network is refused as a whole.
    """
    private = private or {}
    rows = session.execute(select(m.Case.id, m.Case.network, m.Case.status).where(m.Case.incident_id == incident_id).order_by(m.Case.id)).all()
    eligible = [(case_id, network) for case_id, network, status in rows if status in OPEN_STATUSES]
    per_network = dict(sorted(Counter(network for _, network in eligible).items()))
    handles = _handles(session, [c for c, _ in eligible])
    too_long, via_dm, limit_of = {}, {}, {}
    for network in per_network:
        limit, length = limits.get(network, (None, None))
        longest = max((handles.get(c, "") for c, n in eligible if n == network), key=len, default="")
        if not limit or length(personal(text, network, longest)) <= limit:
            continue
        limit_of[network] = limit
        mine = [c for c, n in eligible if n == network]
        roots = _roots(session, mine)
        public = [c for c in mine if roots[c].kind != "message"]  # a Messenger message is answered privately anyway
        if network in private and not any(private[network](roots[c]) for c in public):
            via_dm[network] = len(public)
        else:
            too_long[network] = length(personal(text, network, longest))
    return AnswerPlan(per_network, [c for c, _ in eligible], too_long, len(rows) - len(eligible), via_dm, limit_of)


def answer_all(session: Session, incident_id: int, text: str, user_id: str, limits: dict, now: datetime | None = None, *,
               resolving: bool = False, private: dict | None = None) -> AnswerPlan:
    """Queue one reply per eligible post of the incident in the outbox: each post is answered at most once.

    Each case is taken with a compare-and-set on its status (like a card's Approve), so a
    second click, a second person or a retried request reaches no post twice. `resolving`:
    Resolve sends its final update this way, in the transaction that closed the incident.
    """
    now = now or utcnow()
    text = text.strip()
    if not text:
        raise IncidentError("The answer is empty: write something before sending.")
    if not resolving:
        get_open(session, incident_id)
    plan = plan_answer(session, incident_id, text, limits, private)
    if plan.too_long:
        raise IncidentError(too_long_message(plan) + ": shorten it.")
    if not plan.eligible:
        raise IncidentError("Every post of this incident has been answered already.")
    answer = f"{ANSWER_PREFIX}{incident_id}:{int(now.timestamp() * 1000)}"
    roots = {case_id: (network, kind, handle) for case_id, network, kind, handle in session.execute(
        select(m.Post.case_id, m.Post.network, m.Post.kind, m.Post.author_handle).where(m.Post.case_id.in_(plan.eligible)).order_by(m.Post.id.desc()))}
    queued = []
    for case_id in plan.eligible:
        won = session.execute(
            update(m.Case).where(m.Case.id == case_id, m.Case.status.in_(OPEN_STATUSES))
            .values(status=CaseStatus.REPLYING, last_error=None, updated_at=now).execution_options(synchronize_session=False)
        ).rowcount
        if not won:
            continue
        network, root_kind, handle = roots[case_id]
        if root_kind == "message":  # a Messenger message has no public thread
            replies = {"private": text}
        elif network in plan.via_dm:  # as Move to DM: the whole answer privately, then a short public reply (sent once the DM went)
            replies = {"private": text, "public": personal(DM_PUBLIC_DEFAULT, network, handle)}
        else:
            replies = {"public": personal(text, network, handle)}
        for kind, body in replies.items():
            session.add(m.Reply(case_id=case_id, approval_id=f"{answer}:{case_id}", kind=kind, text=body, requested_by=user_id,
                                approved_by=user_id, status=ReplyStatus.QUEUED, created_at=now, next_attempt_at=now))
        queued.append(case_id)
    session.get(m.Incident, incident_id).changed = True
    _audit(session, user_id, "incident_answered", incident_id=incident_id, posts=len(queued), text=text, via_dm=plan.via_dm)
    return AnswerPlan(plan.per_network, queued, {}, plan.already, plan.via_dm, plan.limits)


def answer_progress(session: Session, incident_id: int) -> dict[str, int]:
    """Posts the incident's answer has reached: sent, queued (or sending) and failed (latest try of each post)."""
    answered = select(m.Reply.case_id).where(m.Reply.approval_id.like(f"{ANSWER_PREFIX}{incident_id}:%"))
    counts = dict(session.execute(
        select(m.Case.status, func.count(m.Case.id)).where(m.Case.incident_id == incident_id, m.Case.id.in_(answered)).group_by(m.Case.status)
    ).all())
    return {"sent": counts.get(CaseStatus.ANSWERED, 0), "queued": counts.get(CaseStatus.REPLYING, 0), "failed": counts.get(CaseStatus.FAILED, 0)}


def retry_failed(session: Session, incident_id: int, user_id: str, now: datetime | None = None) -> int:
    """Queue the incident's failed answers again (new approvals with the same text); returns how many."""
    now = now or utcnow()
    failed = session.execute(
        select(m.Reply.case_id, m.Reply.approval_id, m.Reply.kind, m.Reply.text).join(m.Case, m.Reply.case_id == m.Case.id)
        .where(m.Reply.approval_id.like(f"{ANSWER_PREFIX}{incident_id}:%"), m.Reply.status == ReplyStatus.FAILED, m.Case.status == CaseStatus.FAILED)
        .order_by(m.Reply.id)
    ).all()
    by_case: dict[int, tuple[str, dict[str, str]]] = {}
    for case_id, approval, kind, text in failed:  # oldest first: each case's latest failed approval wins
        if by_case.get(case_id, ("",))[0] != approval:
            by_case[case_id] = (approval, {})
        by_case[case_id][1][kind] = text
    answer = f"{ANSWER_PREFIX}{incident_id}:{int(now.timestamp() * 1000)}"
    again = 0
    for case_id, (_, texts) in by_case.items():
        won = session.execute(
            update(m.Case).where(m.Case.id == case_id, m.Case.status == CaseStatus.FAILED).values(status=CaseStatus.REPLYING, last_error=None, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not won:
            continue
        for kind in sorted(texts, key=lambda k: k != "private"):  # a DM and its short public reply go again together
            session.add(m.Reply(case_id=case_id, approval_id=f"{answer}:{case_id}", kind=kind, text=texts[kind], requested_by=user_id,
                                approved_by=user_id, status=ReplyStatus.QUEUED, created_at=now, next_attempt_at=now))
        again += 1
    session.get(m.Incident, incident_id).changed = True
    return again


# -- numbers for managers ------------------------------------------------------------


@dataclass(frozen=True)
class IncidentNumbers:
    opened: int
    posts: int                          # posts inside the incidents opened in the period
    median_duration: float | None       # seconds from opened to resolved, of those resolved
    median_to_answer: float | None      # seconds from opened to the one answer for all
    median_to_status: float | None      # seconds from opened to the first public status update
    open_now: int


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    return values[(len(values) - 1) // 2] if values else None


def numbers(session, start: datetime, end: datetime) -> IncidentNumbers:
    """Incidents opened in [start, end): how many, how big, how long they lasted, how soon they were answered."""
    rows = session.execute(
        select(m.Incident.id, m.Incident.created_at, m.Incident.resolved_at, m.Incident.status, m.Incident.first_status_at)
        .where(m.Incident.created_at >= start, m.Incident.created_at < end, m.Incident.status != IncidentStatus.MERGED)
    ).all()
    ids = [r.id for r in rows]
    posts = session.scalar(select(func.count(m.Case.id)).where(m.Case.incident_id.in_(ids))) if ids else 0
    answered: dict[int, datetime] = {}
    if ids:
        for detail, at in session.execute(
            select(m.AuditEvent.detail, m.AuditEvent.created_at).where(m.AuditEvent.action == "incident_answered").order_by(m.AuditEvent.id)
        ).all():
            incident_id = (detail or {}).get("incident_id")
            if incident_id in ids and incident_id not in answered:
                answered[incident_id] = at
    created = {r.id: r.created_at for r in rows}
    return IncidentNumbers(
        opened=len(rows),
        posts=posts or 0,
        median_duration=_median([(r.resolved_at - r.created_at).total_seconds() for r in rows if r.resolved_at and r.status == IncidentStatus.RESOLVED]),
        median_to_answer=_median([(at - created[i]).total_seconds() for i, at in answered.items()]),
        median_to_status=_median([(r.first_status_at - r.created_at).total_seconds() for r in rows if r.first_status_at]),
        open_now=session.scalar(select(func.count(m.Incident.id)).where(m.Incident.status == IncidentStatus.OPEN)) or 0,
    )


# -- public status updates -----------------------------------------------------------


def queue_status(session: Session, incident_id: int, text: str, user_id: str, networks: list[str], limits: dict, *,
                 final: bool = False, now: datetime | None = None) -> list[int]:
    """One status update per network, written down before anything is sent (each sent at most once)."""
    now = now or utcnow()
    text = text.strip()
    if not text:
        raise IncidentError("The status update is empty: write what people should know.")
    if not networks:
        raise IncidentError("No network is connected to post the status update to.")
    if not final:
        get_open(session, incident_id)
    for network in networks:
        limit, length = limits.get(network, (None, None))
        if limit and length(text) > limit:
            raise IncidentError(f"Too long for {network} ({length(text)}/{limit} characters): shorten it.")
    rows = [m.StatusUpdate(incident_id=incident_id, network=n, text=text, final=final, requested_by=user_id, status=ReplyStatus.QUEUED, created_at=now)
            for n in networks]
    session.add_all(rows)
    session.flush()
    _audit(session, user_id, "incident_status_update", incident_id=incident_id, networks=networks, final=final, text=text)
    return [r.id for r in rows]


def take_status(session: Session, update_id: int) -> m.StatusUpdate | None:
    """Claim a queued status update for sending; None if another sender has it."""
    won = session.execute(
        update(m.StatusUpdate).where(m.StatusUpdate.id == update_id, m.StatusUpdate.status == ReplyStatus.QUEUED).values(status=ReplyStatus.SENDING)
        .execution_options(synchronize_session=False)
    ).rowcount
    return session.get(m.StatusUpdate, update_id) if won else None


def status_sent(session: Session, update_id: int, external_id: str, url: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    row = session.get(m.StatusUpdate, update_id)
    row.status, row.external_id, row.url, row.sent_at, row.error = ReplyStatus.SENT, external_id, url, now, None
    incident = session.get(m.Incident, row.incident_id)
    incident.first_status_at = incident.first_status_at or now
    incident.last_status_at, incident.changed = now, True


def status_failed(session: Session, update_id: int, error: str) -> None:
    row = session.get(m.StatusUpdate, update_id)
    row.status, row.error = ReplyStatus.FAILED, error
    session.get(m.Incident, row.incident_id).changed = True


def needs_reminder(incident: m.Incident, now: datetime, after: timedelta) -> bool:
    """No public update for `after` while the incident is open, and not reminded in that time either."""
    quiet_since = incident.last_status_at or incident.created_at
    return incident.status == IncidentStatus.OPEN and now - quiet_since >= after and (incident.reminded_at is None or now - incident.reminded_at >= after)
