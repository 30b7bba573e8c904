"""Triage of incoming social posts: is it a complaint, how bad, how urgent.

    from bot.triage import classify, Triage, suggest_reply

    t = classify("@acme my order never arrived and no one replies", followers=48_000)
    t.category, t.priority, t.reasons   # 'complaint', 'high', ('complaint', '48k followers', ...)
    suggest_reply(t, name="Sam", handle="sam")

The complaint score blends a linear model on word and character n-grams plus
a complaint lexicon (``model.py``) with a fine-tuned MiniLM encoder run by
onnxruntime (``encoder.py``) on the posts the n-gram model is unsure of, both trained on the complaints data set of
Preotiuc-Pietro, Gaman & Aletras (ACL 2019) with X-CI severity/sentiment/emotion
labels (Singh et al., ACL 2023); see ``data/ATTRIBUTION.md``.  Retrain with
``socialdesk train [--encoder]``.  Nothing here uses the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from . import language as lang
from . import multilingual, rules
from .model import Prediction, clean_text, get_model
from .suggest import suggest_reply

__all__ = ["Triage", "classify", "classify_batch", "clear_caches", "suggest_reply"]

#: The reason a card shows for a post the model could not read.
NOT_TRAINED = "triage not trained on this language"


@dataclass(frozen=True)
class Triage:
    category: str  # "complaint" | "question" | "praise" | "spam" | "other"
    sentiment: float  # -1.0 (very negative) .. 1.0 (very positive)
    severity: int  # 0 none .. 4 blame (0 for non-complaints)
    priority: str  # "urgent" | "high" | "normal" | "low"
    score: float  # complaint probability 0..1
    reasons: tuple[str, ...]  # short human phrases for the card
    topic: str  # "refund" | "delivery" | "outage" | "account" | "defect" | "general"
    language: str = "en"  # ISO 639-1 ("und": no words to tell)
    topics: tuple[str, ...] = ()  # every topic the post names; a suggestion is only topical when there is one
    # What the priority was derived from, so that it can be derived again without reading the post again.
    inputs: rules.PriorityInputs | None = field(default=None, compare=False, repr=False)

    @property
    def language_trained(self) -> bool:
        return lang.is_trained(self.language)

    def counting(self, prior_complaints: int) -> Triage:
        """The same post's triage, had its author made ``prior_complaints`` complaints before.

        Only the priority depends on it, so a backlog need not run the models
        again when an earlier post in it opened a complaint for the same author:
        the result equals ``classify(..., prior_complaints=...)``.
        """
        if self.inputs is None or self.inputs.prior_complaints == prior_complaints:
            return self
        inputs = replace(self.inputs, prior_complaints=prior_complaints)
        level, reasons = rules.priority(inputs)
        if not self.language_trained:
            reasons = _untrained_reasons(self.category, self.language, reasons)
        return replace(self, priority=level, reasons=reasons, inputs=inputs)


_EMPTY = Triage(category="other", sentiment=0.0, severity=0, priority="low", score=0.0, reasons=("other",), topic="general",
                language=lang.UNDETERMINED)


def _int(v: Any) -> int:
    try:
        return max(0, int(v or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def classify(text: str, *, followers: int = 0, engagement: int = 0, prior_complaints: int = 0) -> Triage:
    """Triage one post. Never raises on odd text (empty, emoji-only, huge, markup)."""
    cleaned = clean_text(text)
    if not cleaned:
        return _EMPTY
    language = lang.detect(cleaned)
    if not lang.is_trained(language):
        return _untrained(cleaned, language, followers, engagement, prior_complaints)
    return _decide(cleaned, language, get_model().predict(cleaned), followers, engagement, prior_complaints)


def classify_batch(posts: Sequence[str | Mapping[str, Any]]) -> list[Triage]:
    """Triage many posts at once (a backlog): the same results as :func:`classify` one by one.

    Each post is its text, or a mapping with ``text`` and optionally
    ``followers``, ``engagement`` and ``prior_complaints``.  The n-gram heads
    run as one matrix product over the batch; the encoder reads the unsure
    posts one at a time, as :func:`classify` does.
    """
    items = [p if isinstance(p, Mapping) else {"text": p} for p in posts]
    cleaned = [clean_text(p.get("text")) for p in items]
    languages = [lang.detect(c) if c else lang.UNDETERMINED for c in cleaned]
    readable = [i for i, c in enumerate(cleaned) if c and lang.is_trained(languages[i])]
    preds = dict(zip(readable, get_model().predict_many([cleaned[i] for i in readable])))
    out = []
    for i, p in enumerate(items):
        args = (p.get("followers", 0), p.get("engagement", 0), p.get("prior_complaints", 0))
        if not cleaned[i]:
            out.append(_EMPTY)
        elif i in preds:
            out.append(_decide(cleaned[i], languages[i], preds[i], *args))
        else:
            out.append(_untrained(cleaned[i], languages[i], *args))
    return out


def clear_caches() -> None:
    """Forget every remembered result (words' n-grams, encoder scores, cues): a benchmark times the work, not the memory."""
    get_model().clear_caches()
    rules.risk_terms.cache_clear()
    rules.negative_cues.cache_clear()


def triage_from(text: str, prediction: Prediction, *, threshold: float | None = None, borderline: float | None = None) -> Triage:
    """The triage of a post given the model's prediction for it (made elsewhere: out-of-fold scores in an evaluation).

    The same rules and language handling as :func:`classify`; ``threshold`` and
    ``borderline`` default to those of the loaded model.
    """
    cleaned = clean_text(text)
    if not cleaned:
        return _EMPTY
    language = lang.detect(cleaned)
    if not lang.is_trained(language):
        return _untrained(cleaned, language, 0, 0, 0)
    return _decide(cleaned, language, prediction, 0, 0, 0, threshold=threshold, borderline=borderline)


def _decide(cleaned: str, language: str, pred: Prediction, followers: Any, engagement: Any, prior_complaints: Any,
            *, threshold: float | None = None, borderline: float | None = None) -> Triage:
    model = get_model()
    if threshold is None:
        threshold = model.active_threshold
    if borderline is None:
        borderline = rules.BORDERLINE if model.encoder is None else rules.BLEND_BORDERLINE
    angry = pred.anger >= rules.ANGRY and pred.sentiment < 0
    category = rules.route(
        cleaned,
        is_complaint=pred.is_complaint,
        sentiment=pred.sentiment,
        score=pred.score,
        threshold=threshold,
        borderline=borderline,
    )
    severity = rules.severity(category, pred.severity, cleaned, angry=angry)
    inputs = rules.PriorityInputs(
        category=category,
        severity=severity,
        angry=angry and category == "complaint",
        text=cleaned,
        followers=_int(followers),
        engagement=_int(engagement),
        prior_complaints=_int(prior_complaints),
    )
    level, reasons = rules.priority(inputs)
    topics = tuple(rules.detect_topics(cleaned))
    return Triage(
        category=category,
        sentiment=round(pred.sentiment, 3),
        severity=severity,
        priority=level,
        score=round(pred.score, 4),
        reasons=reasons,
        topic=topics[0] if topics else "general",
        language=language,
        topics=topics,
        inputs=inputs,
    )


def _untrained(cleaned: str, language: str, followers: Any, engagement: Any, prior_complaints: Any) -> Triage:
    """A post the model cannot read: category from the cue words of its language, priority from what can be read.

    It is never dropped: whatever its category (spam aside) it reaches a
    person as a card that says which language it is in and that triage was
    not trained on it (see ``bot.domain.routing``).
    """
    urgent = multilingual.risk_terms(cleaned, language)
    negative = bool(rules.NEGATIVE_EMOJI.search(cleaned))
    if rules.looks_like_spam(cleaned):
        category = "spam"
    elif negative or urgent or multilingual.names_complaint(cleaned, language):
        category = "complaint"
    elif multilingual.QUESTION.search(cleaned):
        category = "question"
    elif multilingual.names_praise(cleaned, language):
        category = "praise"
    else:
        category = "other"
    severity = 0
    if category == "complaint":
        severity = 3 if ("legal" in urgent or "data breach" in urgent) else 1
    # Unread, so at least as urgent as a question: a person has to look.
    read_as = "complaint" if category == "complaint" else "spam" if category == "spam" else "question"
    inputs = rules.PriorityInputs(
        category=read_as,
        severity=severity,
        angry=False,
        text="",
        followers=_int(followers),
        engagement=_int(engagement),
        prior_complaints=_int(prior_complaints),
        extra_urgent=tuple(urgent),
    )
    level, reasons = rules.priority(inputs)
    sentiment = -0.5 if category == "complaint" else 0.5 if category == "praise" else 0.0
    return Triage(
        category=category,
        sentiment=sentiment,
        severity=severity,
        priority=level,
        score=1.0 if category == "complaint" else 0.0,
        reasons=_untrained_reasons(category, language, reasons),
        topic="general",
        language=language,
        topics=(),
        inputs=inputs,
    )


def _untrained_reasons(category: str, language: str, priority_reasons: tuple[str, ...]) -> tuple[str, ...]:
    """What the card says of a post in a language triage was not trained on; the priority's own category is a stand-in."""
    return (category, lang.name(language), NOT_TRAINED, *priority_reasons[1:])
