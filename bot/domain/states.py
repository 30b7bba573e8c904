"""The states a case, a reply and a post's Slack card go through, as typed names.

StrEnum members compare equal to the strings stored in the database, so the
columns stay plain strings and old rows read back unchanged.
"""
from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    OPEN = "open"                          # waiting for an answer
    PENDING_APPROVAL = "pending_approval"  # a draft waits for an approver
    REPLYING = "replying"                  # an approval's replies are being sent
    ANSWERED = "answered"
    FAILED = "failed"                      # the last approval's replies did not go out
    DISMISSED = "dismissed"


class ReplyStatus(StrEnum):
    AWAITING = "awaiting"      # held for an approver; nothing is sent
    QUEUED = "queued"
    SENDING = "sending"        # claimed by one sender; never resent on our own
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # a newer approval replaced it before it went out
    REJECTED = "rejected"      # an approver sent the draft back


class SlackState(StrEnum):
    """Where a stored post is on its way into Slack (exactly once)."""

    PENDING = "pending"
    POSTING = "posting"  # claimed; reconcile() settles it if the answer was lost
    POSTED = "posted"
    SKIPPED = "skipped"  # not shown as a card (before the lane existed)
    LANE = "lane"        # listed in the channel's low-priority lane, waiting for a glance
    GLANCED = "glanced"  # was in the lane; someone cleared it (still reviewable)
    HIDDEN = "hidden"    # spam, the brand's own posts, quiet search hits: counted, reviewable


class IncidentStatus(StrEnum):
    OPEN = "open"          # posts that fit join it instead of getting cards
    RESOLVED = "resolved"  # closed: new posts get cards again
    MERGED = "merged"      # folded into another incident (merged_into)


# A case someone can still answer (and re-file, claim or dismiss).
OPEN_STATUSES = (CaseStatus.OPEN, CaseStatus.FAILED)
# Nothing went out yet: the customer still waits, and the SLA clock still runs.
WAITING_STATUSES = (CaseStatus.OPEN, CaseStatus.FAILED, CaseStatus.PENDING_APPROVAL)
# Replies that no longer count for a case (a later approval or an approver replaced them).
RETIRED_REPLIES = (ReplyStatus.SUPERSEDED, ReplyStatus.REJECTED)
