"""SQLAlchemy models: what the bot remembers across restarts."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.clock import utcnow
from bot.domain.states import CaseStatus, ReplyStatus, SlackState


class UTCDateTime(TypeDecorator):
    """Store UTC, always hand back aware datetimes (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class Case(Base):
    """One customer issue: a root post plus its follow-ups, answered once."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(20))
    conversation_id: Mapped[str] = mapped_column(String(128), default="")
    author_external_id: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20), default=CaseStatus.OPEN)
    category: Mapped[str] = mapped_column(String(20), default="other")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    severity: Mapped[int] = mapped_column(Integer, default=0)
    sentiment: Mapped[float] = mapped_column(Float, default=0.0)
    topic: Mapped[str] = mapped_column(String(20), default="general")
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    suggested_reply: Mapped[str] = mapped_column(Text, default="")
    alternative_reply: Mapped[str | None] = mapped_column(Text, nullable=True)  # sent before for a similar case
    channel: Mapped[str] = mapped_column(String(32), default="")
    card_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The card catches up: every change bumps card_version; card_shown is the version Slack last accepted.
    # Any UPDATE of the case bumps it in the same statement, so no committed change can miss its card edit.
    card_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0", onupdate=text("card_version + 1"))
    card_shown: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    card_lease: Mapped[str | None] = mapped_column(String(32), nullable=True)  # who edits the card now
    card_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # answered an on-call page
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dismissed_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The category the team re-filed the case as (triage got it wrong); fed back into training.
    corrected_category: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_met: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Part of an incident: no card of its own; the incident's message and thread show it.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True, index=True)

    posts: Mapped[list[Post]] = relationship(back_populates="case", order_by="Post.id")
    replies: Mapped[list[Reply]] = relationship(back_populates="case", order_by="Reply.id")

    __table_args__ = (
        Index("ix_cases_thread", "network", "conversation_id", "author_external_id"),
        # due_at makes it covering for the stats backlog, so the plan never falls back to a table scan
        Index("ix_cases_status_created", "status", "created_at", "due_at"),
        Index("ix_cases_created", "created_at"),
        # Only stale cards are in it, so the job that re-edits them never scans every case.
        Index("ix_cases_card_stale", "id", sqlite_where=text("card_shown < card_version"), postgresql_where=text("card_shown < card_version")),
    )

    @property
    def root(self) -> Post:
        return self.posts[0]


class Post(Base):
    """A normalised post as ingested; unique per network and external id."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(128))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20), default="mention")
    text: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    author_external_id: Mapped[str] = mapped_column(String(64), default="")
    author_handle: Mapped[str] = mapped_column(String(128), default="")
    author_name: Mapped[str] = mapped_column(String(256), default="")
    author_followers: Mapped[int] = mapped_column(Integer, default=0)
    conversation_id: Mapped[str] = mapped_column(String(128), default="")
    in_reply_to_id: Mapped[str] = mapped_column(String(128), default="")
    engagement: Mapped[int] = mapped_column(Integer, default=0)
    context: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(20), default="other")
    # What the network says about it since: visible, hidden (by the Page) or removed (deleted).
    visibility: Mapped[str] = mapped_column(String(10), default="visible")
    # Why the network refuses replies to it through its API (X's 2026 reply rule); answered on the network instead.
    reply_blocker: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Delivery into Slack: none -> pending -> posting -> posted (or skipped).
    slack_state: Mapped[str] = mapped_column(String(12), default=SlackState.PENDING)
    slack_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    slack_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    slack_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    verdict: Mapped[str] = mapped_column(String(10), default="", server_default="")  # the author's own: "negative" review
    # Triage, the second stage of ingest: new -> claimed -> done, or set_aside (triage failed; triage_error says why).
    triage_state: Mapped[str] = mapped_column(String(10), default="new", server_default="done")
    triage_claim: Mapped[str | None] = mapped_column(String(36), nullable=True)
    triage_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    triage_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    case: Mapped[Case | None] = relationship(back_populates="posts")

    __table_args__ = (
        UniqueConstraint("network", "external_id", name="uq_posts_network_external_id"),
        Index("ix_posts_slack_state", "slack_state"),
        Index("ix_posts_case", "case_id"),  # a case's root post (export links, digest)
        Index("ix_posts_triage_state", "triage_state", "id"),  # stage 2 claims the oldest untriaged posts
    )


class Reply(Base):
    """The outbox: a reply is written here before it is sent, and sent at most once."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    approval_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(10), default="public")  # public | private
    text: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(32))
    approved_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # awaiting (an approver) -> queued -> sending -> sent | failed; or superseded / rejected
    status: Mapped[str] = mapped_column(String(10), default=ReplyStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The network may have taken it (timeout, crash mid-send): looked up there before anything is sent again.
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    checked: Mapped[str | None] = mapped_column(Text, nullable=True)  # what that lookup found, for the card
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    case: Mapped[Case] = relationship(back_populates="replies")

    __table_args__ = (
        UniqueConstraint("approval_id", "kind", name="uq_replies_approval_kind"),
        Index("ix_replies_status_next", "status", "next_attempt_at"),
        Index("ix_replies_case_kind", "case_id", "kind", "status"),  # "moved to DM" in stats
    )


class Cursor(Base):
    """Where each polled stream stopped (X since_id, Facebook since time)."""

    __tablename__ = "cursors"

    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Notice(Base):
    """A channel message posted once and kept: a network connection notice ("reconnect Facebook", one row per
    outage), or the low-priority lane ("lane:<channel>", its text the signature of what it shows)."""

    __tablename__ = "notices"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. "facebook:auth"
    channel: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who did what to which case, and when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_audit_case", "case_id"),)


class Counter(Base):
    """Things dropped rather than stored as cases (spam, own posts), per day."""

    __tablename__ = "counters"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class EscalationStep(Base):
    """One step of a case's escalation (nudge, page, escalate); the unique row is the claim to do it once."""

    __tablename__ = "escalation_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    step: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="claimed")  # claimed -> done | skipped | failed
    targets: Mapped[list] = mapped_column(JSON, default=list)  # user ids that were pinged
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("case_id", "step", name="uq_escalation_steps_case_step"),)


class OncallOverride(Base):
    """Someone on call instead of the rotation for a while (`/socialdesk oncall override` or `swap`)."""

    __tablename__ = "oncall_overrides"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(10), default="override")  # override | swap
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_oncall_overrides_ends", "ends_at"),)


class OncallHandoff(Base):
    """A hand-over whose summary was sent; unique per (person, start) so it goes out once."""

    __tablename__ = "oncall_handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="claimed")  # claimed -> sent | skipped | failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "starts_at", name="uq_oncall_handoffs_user_start"),)


class SlackChannel(Base):
    """Our share of Slack's ~1 message/s per channel: a token bucket and Retry-After, shared by every sender."""

    __tablename__ = "slack_channels"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # Slack's Retry-After
    version: Mapped[int] = mapped_column(Integer, default=0)  # compare-and-set: one sender takes each token


class SlackMessage(Base):
    """A message waiting to go into Slack that is not a post's card (a thread note, an incident message).

    Built when it is sent (so it shows the latest state), claimed pending -> posting by one
    sender, and carries its id in the message metadata so a lost answer can be reconciled.
    """

    __tablename__ = "slack_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # note | incident | incident_batch
    ref_id: Mapped[int] = mapped_column(Integer)  # the case (note) or incident it belongs to
    text: Mapped[str] = mapped_column(Text, default="")
    rank: Mapped[int] = mapped_column(Integer, default=1)  # 0 most urgent, like card priorities
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending -> posting -> posted
    ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_slack_messages_state", "state", "rank", "id"),)


class Incident(Base):
    """Many people complaining about one thing at once: one message in the channel instead of a card each."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open -> resolved; or merged (into another)
    title: Mapped[str] = mapped_column(String(200), default="")
    origin: Mapped[str] = mapped_column(String(10), default="spike")  # spike | declared
    declared_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    profile: Mapped[dict] = mapped_column(JSON, default=dict)  # term -> share of its posts that use it
    channel: Mapped[str] = mapped_column(String(32), default="")
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    merged_into: Mapped[int | None] = mapped_column(Integer, nullable=True)
    changed: Mapped[bool] = mapped_column(Boolean, default=True)  # the message shows an older state
    shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # last edit of the message
    paged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paged_user: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    first_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # first public status update
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # last "no update for a while" reminder
    network: Mapped[str | None] = mapped_column(String(20), nullable=True)  # split off by network: only its posts join
    acknowledged_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # whoever took the page
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # nobody took the page: the next in line was paged
    escalated_to: Mapped[str | None] = mapped_column(String(32), nullable=True)
    chart_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # rate chart uploaded when it opened
    chart_resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # ...and when it was resolved

    __table_args__ = (Index("ix_incidents_status", "status"),)


class IncidentPage(Base):
    """A page DM sent for an incident (to the on-call person or an escalation contact), kept so it can be edited.

    Once someone acknowledges (or the incident closes) every page loses its button and
    says who took it, so nobody else acts on a stale page; `closed_at` is when that edit went through.
    """

    __tablename__ = "incident_pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(Integer, index=True)
    user_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))  # the DM channel
    ts: Mapped[str] = mapped_column(String(32))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IncidentChart(Base):
    """A rate chart the incident's thread is owed (when it opened, when it was resolved): uploaded once, whatever crashes.

    Written before the upload starts; an attempt holds a lease, and an attempt that may have
    reached Slack (a crash, no answer) makes the next one look in the thread before uploading.
    """

    __tablename__ = "incident_charts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(10))  # opened | resolved
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # an attempt's lease; left set: it may have reached Slack
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # Retry-After, or a back-off
    file_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (UniqueConstraint("incident_id", "event", name="uq_incident_charts_event"),)


class StatusUpdate(Base):
    """A public status update on the brand's own account or Page about an incident; sent at most once."""

    __tablename__ = "status_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    network: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    final: Mapped[bool] = mapped_column(Boolean, default=False)  # the one Resolve posts
    requested_by: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued -> sending -> sent | failed
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class NetworkSpend(Base):
    """One paid API call (X bills per post read and per post written): what it was and what it cost."""

    __tablename__ = "network_spend"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(20))
    operation: Mapped[str] = mapped_column(String(32))  # e.g. post_read, user_read, reply, reply_with_link, dm
    units: Mapped[int] = mapped_column(Integer, default=1)
    cost_micros: Mapped[int] = mapped_column(Integer, default=0)  # millionths of a US dollar: sums stay exact
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_network_spend_network_at", "network", "at"),)
