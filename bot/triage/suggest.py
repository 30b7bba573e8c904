"""Suggested replies: a small library of calm, non-defensive saved replies.

One reply per (category, topic), with a more serious variant for severe or
urgent complaints.  Placeholders ``{name}`` and ``{handle}`` are filled in;
when they are unknown the reply still reads naturally ("Hi there", no
@-prefix).  X replies stay well under 280 characters and never contain URLs
(X charges much more for posts with URLs); the replies ask the customer to
send a DM instead.  Spam gets no suggested reply (empty string).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from . import Triage

X_LIMIT = 280
_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)

# Complaint replies: acknowledge, own it, give a next step. No blame, no policy-speak.
COMPLAINT: dict[str, str] = {
    "refund": "Hi {name}, sorry about the trouble with your payment. We'll get it put right. Could you DM us your order or account email so we can look into the refund today?",
    "delivery": "Hi {name}, sorry your order hasn't reached you as it should. Please DM us your order number and we'll chase it and update you directly.",
    "outage": "Hi {name}, sorry for the disruption. We know it's frustrating. Our team is looking into it now and we'll update you here as soon as it's back.",
    "account": "Hi {name}, sorry you're having trouble getting into your account. Please DM us the email on the account (never your password) and we'll help you back in.",
    "defect": "Hi {name}, sorry to hear that. That's not the quality we want you to get. Please DM us a photo and your order number and we'll sort out a replacement or refund.",
    "general": "Hi {name}, sorry about this, and thanks for telling us. Please DM us a few details so we can look into it and make it right.",
}
COMPLAINT_SERIOUS: dict[str, str] = {
    "refund": "Hi {name}, we're sorry. This shouldn't have happened and we want to fix it properly. Please DM us your details; a senior team member will look into your refund today.",
    "delivery": "Hi {name}, we're really sorry. This isn't good enough. Please DM us your order number; a senior team member will follow it up personally today.",
    "outage": "Hi {name}, we're sorry. We know how disruptive this is. The team is on it as a priority and we'll keep you updated here until it's fixed.",
    "account": "Hi {name}, we're sorry and we take account security seriously. Please DM us the email on the account (never your password) and we'll prioritise it now.",
    "defect": "Hi {name}, we're very sorry and we take this seriously. Please stop using the item and DM us your order number so a senior team member can help today.",
    "general": "Hi {name}, we're sorry. We hear you and want to put this right. Please DM us the details and a senior team member will get back to you today.",
}
QUESTION: dict[str, str] = {
    "refund": "Hi {name}, happy to help with that. Please DM us your order number or account email and we'll check the payment details for you.",
    "delivery": "Hi {name}, happy to help with that. DM us the details (and your order number if you have one) and we'll check for you.",
    "outage": "Hi {name}, thanks for checking. If something isn't working for you, DM us what you see and we'll look into it right away.",
    "account": "Hi {name}, happy to help with your account. Please DM us the email it's registered to (never your password) and we'll take a look.",
    "defect": "Hi {name}, thanks for asking. DM us the product and order details and we'll help you get it working.",
    "general": "Hi {name}, thanks for reaching out. Happy to help. Could you DM us a little more detail?",
}
PRAISE = "Thank you, {name}! That's lovely to hear and we'll pass it on to the team."
OTHER = "Hi {name}, thanks for getting in touch. Let us know if there's anything we can help with."

_FB_SIGNOFF = " Thanks for your patience."


def _clean_name(name: str) -> str:
    name = _URL.sub("", str(name or ""))
    name = re.sub(r"[\s\r\n\t]+", " ", name).strip().strip("@")
    name = re.sub(r"[{}<>]", "", name)
    return name[:40].strip()


def _first(name: str) -> str:
    """People are greeted by their first name: "Hi Gus", not "Hi Gus Hall"."""
    cleaned = _clean_name(name)
    return cleaned.split(" ")[0] if cleaned else ""


def _clean_handle(handle: str) -> str:
    handle = str(handle or "").strip().lstrip("@")
    handle = re.sub(r"[^A-Za-z0-9_.]", "", handle)
    return handle[:30]


def template_for(triage: "Triage") -> str:
    """The built-in reply for this triage; "" when there is none that fits.

    A post that names two topics ("paid for next-day delivery, came a week
    late") gets the general reply: a refund apology for a late parcel is the
    kind of wrong suggestion a tired agent approves.  A post in a language the
    library is not written in gets none (saved replies may carry a language).
    """
    if getattr(triage, "language", "en") not in ("en", "und"):
        return ""
    cat = triage.category
    topics = set(getattr(triage, "topics", ()) or ())
    topic = triage.topic if triage.topic in COMPLAINT and len(topics) <= 1 else "general"
    if cat == "complaint":
        serious = triage.severity >= 3 or triage.priority == "urgent"
        return (COMPLAINT_SERIOUS if serious else COMPLAINT)[topic]
    if cat == "question":
        return QUESTION[topic]
    if cat == "praise":
        return PRAISE
    if cat == "spam":
        return ""
    return OTHER


def fill(template: str, *, name: str = "", handle: str = "") -> str:
    """Fill ``{name}`` / ``{handle}``; unknown values degrade gracefully."""
    if not template:
        return ""
    name = _clean_name(name)
    handle = _clean_handle(handle)
    out = template
    if not name:
        out = out.replace("Thank you, {name}!", "Thank you!").replace(", {name}", "").replace("Hi {name}", "Hi there")
        out = out.replace("{name}", "")
    if not handle:
        out = re.sub(r"@\{handle\}\s*", "", out).replace("{handle}", "")
    out = out.replace("{name}", name).replace("{handle}", handle)
    return re.sub(r"  +", " ", out).strip()


def suggest_reply(triage: "Triage", *, name: str = "", handle: str = "", network: str = "x") -> str:
    """A suggested reply for the card, ready to edit and approve.

    ``network="x"`` (default) gives a short reply with no URL; other networks
    (e.g. ``"facebook"``) get the same text plus a sign-off. Both greet the
    customer by first name.
    Spam returns "" (don't reply).
    """
    template = template_for(triage)
    if not template:
        return ""
    net = (network or "x").strip().lower()
    if net in ("x", "twitter"):
        # No @handle prefix: a reply sent with in_reply_to_tweet_id is already addressed to them.
        reply = fill(template, name=_first(name), handle=handle)
        reply = _URL.sub("", reply).strip()
        if len(reply) > X_LIMIT:  # only possible with an unusually long name: drop it
            reply = fill(template, name="", handle=handle)
        return reply[:X_LIMIT]
    reply = fill(template, name=_first(name), handle="")
    if triage.category == "complaint":
        reply += _FB_SIGNOFF
    return _URL.sub("", reply).strip()
