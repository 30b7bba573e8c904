"""Triage of incoming social posts: is it a complaint, how bad, how urgent.

    from bot.triage import classify, Triage, suggest_reply

    t = classify("@acme my order never arrived and no one replies", followers=48_000)
    t.category, t.priority, t.reasons   # 'complaint', 'high', ('complaint', '48k followers', ...)
    suggest_reply(t, name="Sam", handle="sam")

The complaint score blends a linear model on word and character n-grams plus
a complaint lexicon (``model.py``) with a fine-tuned MiniLM encoder run by
onnxruntime (``encoder.py``), both trained on the complaints data set of
Preotiuc-Pietro, Gaman & Aletras (ACL 2019) with X-CI severity/sentiment/emotion
labels (Singh et al., ACL 2023); see ``data/ATTRIBUTION.md``.  Retrain with
``socialdesk train [--encoder]``.  Nothing here uses the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import rules
from .model import clean_text, get_model
from .suggest import suggest_reply

__all__ = ["Triage", "classify", "suggest_reply"]


@dataclass(frozen=True)
class Triage:
    category: str  # "complaint" | "question" | "praise" | "spam" | "other"
    sentiment: float  # -1.0 (very negative) .. 1.0 (very positive)
    severity: int  # 0 none .. 4 blame (0 for non-complaints)
    priority: str  # "urgent" | "high" | "normal" | "low"
    score: float  # complaint probability 0..1
    reasons: tuple[str, ...]  # short human phrases for the card
    topic: str  # "refund" | "delivery" | "outage" | "account" | "defect" | "general"


_EMPTY = Triage(category="other", sentiment=0.0, severity=0, priority="low", score=0.0, reasons=("other",), topic="general")


def _int(v: Any) -> int:
    try:
        return max(0, int(v or 0))
    except (TypeError, ValueError):
        return 0


def classify(text: str, *, followers: int = 0, engagement: int = 0, prior_complaints: int = 0) -> Triage:
    """Triage one post. Never raises on odd text (empty, emoji-only, huge, markup)."""
    cleaned = clean_text(text)
    if not cleaned:
        return _EMPTY
    model = get_model()
    pred = model.predict(cleaned)
    angry = pred.anger >= rules.ANGRY and pred.sentiment < 0
    category = rules.route(
        cleaned,
        is_complaint=pred.is_complaint,
        sentiment=pred.sentiment,
        score=pred.score,
        threshold=model.active_threshold,
        borderline=rules.BORDERLINE if model.encoder is None else rules.BLEND_BORDERLINE,
    )
    severity = rules.severity(category, pred.severity, cleaned, angry=angry)
    level, reasons = rules.priority(
        rules.PriorityInputs(
            category=category,
            severity=severity,
            angry=angry and category == "complaint",
            text=cleaned,
            followers=_int(followers),
            engagement=_int(engagement),
            prior_complaints=_int(prior_complaints),
        )
    )
    return Triage(
        category=category,
        sentiment=round(pred.sentiment, 3),
        severity=severity,
        priority=level,
        score=round(pred.score, 4),
        reasons=reasons,
        topic=rules.detect_topic(cleaned),
    )
