"""Action and view ids, and the small versioned reference a button carries."""
from __future__ import annotations

import json
from enum import StrEnum

REF_VERSION = 1


class Action(StrEnum):
    APPROVE = "case_approve"
    EDIT = "case_edit"
    MOVE_TO_DM = "case_move_to_dm"
    RETRY = "case_retry"
    CLAIM = "case_claim"
    DISMISS = "case_dismiss"
    RECATEGORIZE = "case_recategorize"
    REJECT = "case_reject"
    REPLY_ON_NETWORK = "case_reply_on_network"  # a link button: the network takes no reply through its API
    MARK_REPLIED = "case_mark_replied"
    PICK_SAVED = "reply_pick_saved"
    ACKNOWLEDGE = "oncall_acknowledge"
    INCIDENT_RESOLVE = "incident_resolve"
    INCIDENT_MOVE_OUT = "incident_move_out"
    INCIDENT_ANSWER = "incident_answer"
    INCIDENT_RETRY = "incident_retry"
    INCIDENT_STATUS = "incident_status"
    INCIDENT_DRAFT = "incident_draft"  # typing in an incident modal: the preview under it follows
    INCIDENT_MERGE = "incident_merge"  # "Merge into…": a pick of another open incident
    INCIDENT_SPLIT = "incident_split"
    INCIDENT_ACK = "incident_acknowledge"  # on the page DM: someone is on it, stop escalating
    MAKE_CASE = "lane_make_case"    # a lane or hidden post becomes a case
    CLEAR_LANE = "lane_clear"       # the posts in the lane were glanced at


class View(StrEnum):
    EDIT = "case_edit_modal"
    MOVE_TO_DM = "case_dm_modal"
    INCIDENT_ANSWER = "incident_answer_modal"
    INCIDENT_STATUS = "incident_status_modal"
    INCIDENT_RESOLVE = "incident_resolve_modal"
    INCIDENT_SPLIT = "incident_split_modal"


class Block(StrEnum):
    REPLY = "reply"
    PUBLIC = "public_reply"
    PRIVATE = "private_reply"
    ACTIONS = "case_actions"
    CHECK = "reply_check"
    SEND_ANYWAY = "send_anyway"
    ALSO_ANSWER = "also_answer"      # Resolve: also send the final update to each post
    SPLIT_PHRASE = "split_phrase"
    SPLIT_NETWORK = "split_network"


INPUT = "text"
ANYWAY = "anyway"


def block_base(block_id: str) -> str:
    """Input blocks get a suffix ("reply~2") when a modal must reset what was typed."""
    return block_id.split("~", 1)[0]


def case_ref(case_id: int) -> str:
    return json.dumps({"v": REF_VERSION, "case": case_id}, separators=(",", ":"))


class StaleReference(ValueError):
    """A button or modal from a version of the bot this one cannot read."""


def parse_case_ref(value: str | None) -> int:
    try:
        data = json.loads(value or "")
        if data.get("v") != REF_VERSION:
            raise StaleReference(value)
        return int(data["case"])
    except (ValueError, TypeError, KeyError, AttributeError):
        raise StaleReference(value) from None


def incident_ref(incident_id: int) -> str:
    return json.dumps({"v": REF_VERSION, "incident": incident_id}, separators=(",", ":"))


def parse_incident_ref(value: str | None) -> int:
    try:
        data = json.loads(value or "")
        if data.get("v") != REF_VERSION:
            raise StaleReference(value)
        return int(data["incident"])
    except (ValueError, TypeError, KeyError, AttributeError):
        raise StaleReference(value) from None


def merge_ref(source_id: int, target_id: int) -> str:
    """What a "Merge into…" option carries: this incident and the one it would join."""
    return json.dumps({"v": REF_VERSION, "incident": source_id, "into": target_id}, separators=(",", ":"))


def parse_merge_ref(value: str | None) -> tuple[int, int]:
    try:
        data = json.loads(value or "")
        if data.get("v") != REF_VERSION:
            raise StaleReference(value)
        return int(data["incident"]), int(data["into"])
    except (ValueError, TypeError, KeyError, AttributeError):
        raise StaleReference(value) from None


def post_ref(post_id: int) -> str:
    """What a lane or review button carries: a stored post, not a case."""
    return json.dumps({"v": REF_VERSION, "post": post_id}, separators=(",", ":"))


def parse_post_ref(value: str | None) -> int:
    try:
        data = json.loads(value or "")
        if data.get("v") != REF_VERSION:
            raise StaleReference(value)
        return int(data["post"])
    except (ValueError, TypeError, KeyError, AttributeError):
        raise StaleReference(value) from None
