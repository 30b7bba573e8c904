"""The shipped triage model: text normalisation, features, and lazy loading.

The complaint score blends this n-gram model with the fine-tuned encoder of
:mod:`bot.triage.encoder` when that is present (the default install); the
other heads (sentiment, severity, anger) are the n-gram model's alone.

The model file (``model.joblib`` beside this module) is produced by
``socialdesk train``.  It holds one shared feature extractor (word and
character TF-IDF plus a small complaint lexicon) and four linear heads:

* ``complaint`` — complaint probability (the decision threshold is tuned for
  recall inside the training folds and stored with the model);
* ``sentiment`` — negative / neutral / positive (X-CI labels);
* ``severity`` — 1..4 for complaints (X-CI labels);
* ``anger`` — anger vs other emotions (X-CI labels).

Nothing here touches the network, and nothing here trains: a model file that is
missing, unreadable or written by another scikit-learn version raises
:class:`ModelLoadError` (``socialdesk run`` stops at start-up saying so) rather
than being retrained behind the team's back.  Training lives in
:mod:`bot.triage.training`, run by ``socialdesk train``.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import re
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .caseless import Caseless

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "model.joblib"
DATA_PATH = HERE / "data" / "complaints_dev.csv"
MODEL_ENV = "SOCIALDESK_TRIAGE_MODEL"

#: Longer posts are cut before featurising: keeps the worst case bounded (X
#: posts are <= 280 chars; Facebook comments can be long but the start carries
#: the gist).
MAX_CHARS = 1000

_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"</?[A-Za-z!][^<>]{0,200}>")
_MENTION = re.compile(r"@\w+")
# Handles that look like a brand's support account.  Real handles are replaced
# by a placeholder so that the model learns "addressed to a support account"
# rather than which brands in the training data got the most complaints.
_SUPPORT_HANDLE = re.compile(r"(help|support|care|service|ask|cs$|cust|team|hq|uk$|us$)", re.I)
_SPACES = re.compile(r"\s+")


def clean_text(text: Any) -> str:
    """Make any input safe to featurise: str, unescaped, tag-free, bounded."""
    if text is None:
        return ""
    if not isinstance(text, str):
        text = str(text)
    text = text[: MAX_CHARS * 4]
    text = html.unescape(text)
    text = _SCRIPT.sub(" ", text)
    text = _TAG.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    return text[:MAX_CHARS]


def _handle(m: re.Match[str]) -> str:
    return " @supporthandle " if _SUPPORT_HANDLE.search(m.group(0)[1:]) else " @user "


def normalize(text: Any) -> str:
    """Text as the model sees it (URLs and @handles replaced)."""
    t = clean_text(text)
    t = _URL.sub(" URL ", t)
    t = _MENTION.sub(_handle, t)
    return t


# --- hand-made complaint lexicon -------------------------------------------------

LEXICON: dict[str, str] = {
    "negation": r"\b(not|no|never|nothing|none|nobody|can'?t|cannot|won'?t|don'?t|didn'?t|doesn'?t|isn'?t|wasn'?t|aren'?t|haven'?t|hasn'?t|couldn'?t|wouldn'?t|shouldn'?t|ain'?t)\b",
    "still": r"\b(still|yet|again|anymore|any more|keeps?|kept)\b",
    "waiting": r"\b(wait(ing|ed)?|delay(ed|s)?|late|hours?|days?|weeks?|months?|since|ages|forever|minutes?|mins?)\b",
    "no_response": r"\b(no (response|reply|answer|one|help)|never (heard|got|received|arrived|came)|not (received|arrived|working|fixed|sorted|resolved|happy))\b",
    "money": r"\b(refund|money back|charged?|overcharged|fee|bill(ed|ing)?|pay(ing|ment)?|paid|cancel(l?ed|l?ing)?|compensation)\b|[$£€]\d",
    "broken": r"\b(broken|broke|break(s|ing)?|faulty|defect(ive)?|damaged?|crash(es|ed|ing)?|error|fail(ed|s|ing|ure)?|issues?|problems?|bug|down|outage|stuck|missing|lost|wrong|dead|not working|doesn'?t work|won'?t work)\b",
    "bad": r"\b(worst|terrible|horrible|awful|useless|pathetic|ridiculous|disgusting|disgrace(ful)?|unacceptable|rubbish|crap|shit|poor|bad|joke|shocking|appalling|fed up|sick of|tired of|annoyed|angry|furious|frustrat\w*|disappoint\w*|sucks?|hate)\b",
    "good": r"\b(thanks?|thank you|thx|love|great|awesome|amazing|excellent|best|happy|brilliant|perfect|appreciate\w*|wonderful|fantastic|kudos|helpful)\b",
    "question": r"\?|^\W*(how|what|when|where|why|who|can|could|do|does|is|are|will|would|should)\b",
    "why": r"\bwhy\b",
    "you": r"\b(you|your|you'?re|y'?all|u|ur)\b",
    "first_person": r"\b(my|i|i'?m|i'?ve|me|we|our|us)\b",
    "time": r"\b(today|yesterday|tonight|this morning|last (week|night|month)|\d+ (days?|hours?|weeks?|times?|mins?|minutes?))\b",
    "support": r"\b(customer service|support|call(ed|ing)?|phone|email(ed)?|chat|dm'?d?|contact(ed)?|complain\w*|told|said)\b",
    "chatty": r"\b(lol|lmao|haha\w*|omg|bro|dude|girl|babe)\b",
}
_LEXICON_RX = [Caseless(v) for v in LEXICON.values()]
LEXICON_FEATURES = list(LEXICON) + ["starts_with_mention", "exclamation", "length", "caps_ratio", "has_url", "mentions"]


def lexicon_vector(text: str) -> np.ndarray:
    out = np.zeros(len(LEXICON_FEATURES), dtype=np.float64)
    for j, rx in enumerate(_LEXICON_RX):
        out[j] = min(len(rx.findall(text)), 3) / 3.0
    n = len(_LEXICON_RX)
    letters = sum(map(str.isalpha, text))
    out[n] = text.lstrip().startswith("@")
    out[n + 1] = "!" in text
    out[n + 2] = min(len(text), 280) / 280
    out[n + 3] = sum(map(str.isupper, text)) / max(1, letters)
    out[n + 4] = " URL " in text or "http" in text
    out[n + 5] = min(text.count("@"), 3) / 3
    return out


class LexiconFeatures(BaseEstimator, TransformerMixin):
    """Counts of complaint cues (negation, "still", waiting, money, ...)."""

    def fit(self, X: Sequence[str], y: Any = None) -> "LexiconFeatures":
        return self

    def transform(self, X: Sequence[str]) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, len(LEXICON_FEATURES)))
        return np.vstack([lexicon_vector(t) for t in X])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([f"lex_{f}" for f in LEXICON_FEATURES], dtype=object)


# --- the model bundle --------------------------------------------------------------

SEVERITY_LEVELS = (1, 2, 3, 4)


def blend(ngram: np.ndarray, encoder: np.ndarray, encoder_weight: float) -> np.ndarray:
    """The complaint score: a weighted mean of the two models' probabilities."""
    return (1.0 - encoder_weight) * np.asarray(ngram) + encoder_weight * np.asarray(encoder)


def unsure(ngram: np.ndarray, band: Sequence[float] | None) -> np.ndarray:
    """Which posts the encoder must read: their n-gram score lies strictly inside ``band``.

    The encoder costs several times the rest of triage.  Outside the band the
    n-gram model is sure enough that the encoder rarely changes the decision
    (the band was chosen on out-of-fold scores: README, "Cascade"), so those
    posts keep their n-gram probability as their score.  No band: every post
    is read.
    """
    ngram = np.atleast_1d(np.asarray(ngram, dtype=np.float64))
    if band is None:
        return np.ones(ngram.shape, dtype=bool)
    lo, hi = band
    return (ngram > lo) & (ngram < hi)


def cascade(ngram: np.ndarray, encoder: Callable[[np.ndarray], np.ndarray], encoder_weight: float,
            band: Sequence[float] | None) -> np.ndarray:
    """The complaint score: the blend where the n-gram model is unsure, its own probability elsewhere.

    ``encoder(idx)`` scores the posts at those indices only.  The band
    straddles the blend threshold, so a post the encoder skips is decided the
    way its n-gram probability says.
    """
    score = np.atleast_1d(np.asarray(ngram, dtype=np.float64)).copy()
    idx = np.flatnonzero(unsure(score, band))
    if idx.size:
        score[idx] = blend(score[idx], encoder(idx), encoder_weight)
    return score


def _tfidf_row(text: str, analyzer: Any, vocabulary: dict[str, int], idf: np.ndarray, W: np.ndarray) -> np.ndarray:
    """One post's l2-normalised sublinear TF-IDF vector times ``W``."""
    counts: dict[int, int] = {}
    for term in analyzer(text):
        j = vocabulary.get(term)
        if j is not None:
            counts[j] = counts.get(j, 0) + 1
    if not counts:
        return np.zeros(W.shape[1])
    idx = np.fromiter(counts, dtype=np.intp, count=len(counts))
    return _weighted(idx, np.fromiter(counts.values(), dtype=np.float64, count=len(counts)), idf, W)


def _weighted(idx: np.ndarray, counts: np.ndarray, idf: np.ndarray, W: np.ndarray) -> np.ndarray:
    v = (1.0 + np.log(counts)) * idf[idx]
    return (v / np.linalg.norm(v)) @ W[idx]


#: Words whose character n-grams are remembered (a few MB): a brand's posts
#: reuse the same few thousand words.
WORD_CACHE = 16384


class CharWordGrams:
    """The ``char_wb`` TF-IDF row, built from each word's n-grams.

    ``char_wb`` n-grams never cross a space, so a post's counts are the sum of
    its words' counts: each distinct word is analysed once and remembered,
    instead of a thousand n-gram lookups per post (about half the n-gram
    model's time).  Same counts as the vectorizer's own analyzer
    (``test_fast_path_matches_sklearn``).
    """

    def __init__(self, analyzer: Any, vocabulary: dict[str, int], idf: np.ndarray, W: np.ndarray):
        self._analyzer, self._vocabulary, self._idf, self._W = analyzer, vocabulary, idf, W
        self._word = functools.lru_cache(maxsize=WORD_CACHE)(self._word)

    def _word(self, word: str) -> np.ndarray:
        """The vocabulary indices of the word's n-grams, repeats kept (they are counts)."""
        return np.array([j for j in map(self._vocabulary.get, self._analyzer(word)) if j is not None], dtype=np.intp)

    def clear_cache(self) -> None:
        self._word.cache_clear()

    def row(self, text: str) -> np.ndarray:
        words = text.split()
        if not words:
            return np.zeros(self._W.shape[1])
        idx, counts = np.unique(np.concatenate([self._word(w) for w in words]), return_counts=True)
        if not idx.size:
            return np.zeros(self._W.shape[1])
        return _weighted(idx, counts.astype(np.float64), self._idf, self._W)


@dataclass
class Prediction:
    score: float  # complaint probability
    is_complaint: bool
    sentiment: float  # P(positive) - P(negative)
    severity: int  # 1..4, meaningful only for complaints
    anger: float  # P(anger)


@dataclass
class TriageModel:
    features: Any  # fitted FeatureUnion
    complaint: Any  # classifier with predict_proba, classes [0, 1]
    threshold: float  # for the n-gram complaint score alone
    sentiment: Any | None = None  # classes Negative/Neutral/Positive
    severity: Any | None = None  # classes 1..4
    anger: Any | None = None  # classes [0, 1]
    meta: dict[str, Any] = field(default_factory=dict)

    # The fast path skips scikit-learn's per-call machinery (input validation
    # and sparse matrices cost about 1 ms of a 1.5 ms call on one post): each
    # TF-IDF part is the vectorizer's own analyzer, vocabulary and idf applied
    # to one post, and all heads are one matrix product.
    # ``predict_many_reference`` is the plain sklearn path, kept for the tests
    # that check both agree.
    def _fast(self) -> dict[str, Any]:
        fast = self.__dict__.get("_fast_cache")
        if fast is not None:
            return fast
        heads = [("complaint", self.complaint), ("sentiment", self.sentiment), ("severity", self.severity), ("anger", self.anger)]
        cols, bias, spans = [], [], {}
        for name, clf in heads:
            if clf is None:
                continue
            coef = np.asarray(clf.coef_, dtype=np.float64)
            spans[name] = (sum(c.shape[1] for c in cols), coef.shape[0], list(clf.classes_))
            cols.append(coef.T)
            bias.append(np.asarray(clf.intercept_, dtype=np.float64))
        W = np.hstack(cols)
        parts = dict(self.features.transformer_list)
        word, char, lex = parts["word"], parts["char"], parts["lex"]
        nw, nc = len(word.vocabulary_), len(char.vocabulary_)
        scaler = lex[-1]
        for vec in (word, char):  # what _tfidf_row computes by hand
            if not (vec.norm == "l2" and vec.use_idf and vec.sublinear_tf and not vec.binary):
                raise ValueError(f"fast path expects l2, idf, sublinear tf: {vec.get_params()}")
        if char.analyzer != "char_wb":  # CharWordGrams adds up words' n-grams
            raise ValueError(f"fast path expects char_wb n-grams: {char.analyzer}")
        fast = {
            "word": (word.build_analyzer(), word.vocabulary_, np.asarray(word.idf_, dtype=np.float64)),
            "char": CharWordGrams(char.build_analyzer(), char.vocabulary_, np.asarray(char.idf_, dtype=np.float64), np.ascontiguousarray(W[nw : nw + nc])),
            "W_word": np.ascontiguousarray(W[:nw]),
            "W_lex": np.ascontiguousarray(W[nw + nc :]),
            "bias": np.concatenate(bias),
            "lex_mean": np.asarray(scaler.mean_, dtype=np.float64),
            "lex_scale": np.asarray(scaler.scale_, dtype=np.float64),
            "spans": spans,
        }
        self.__dict__["_fast_cache"] = fast
        return fast

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_fast_cache", None)
        state.pop("_encoder", None)
        return state

    def clear_caches(self) -> None:
        """Forget remembered words and scores (a benchmark times the models, not the caches)."""
        self._fast()["char"].clear_cache()
        if self.encoder is not None:
            self.encoder.clear_cache()

    # --- the encoder beside the n-gram model --------------------------------------
    #
    # The complaint score is a fixed blend of the two models' probabilities;
    # the weight and threshold were chosen once, before cross-validation, and
    # are kept in the encoder's meta.json with the figures they gave.

    @property
    def encoder(self) -> Any | None:
        return self.__dict__.get("_encoder")

    def attach_encoder(self, encoder: Any | None) -> "TriageModel":
        self.__dict__["_encoder"] = encoder
        return self

    @property
    def active_threshold(self) -> float:
        """The threshold the complaint decision uses with the parts loaded."""
        enc = self.encoder
        return float(enc.meta["blend"]["threshold"]) if enc is not None else self.threshold

    def _complaint_scores(self, ngram: np.ndarray, norm: Sequence[str]) -> np.ndarray:
        enc = self.encoder
        if enc is None:
            return ngram
        meta = enc.meta["blend"]
        return cascade(ngram, lambda idx: enc.scores([norm[i] for i in idx]), float(meta["encoder_weight"]), meta.get("cascade"))

    def _head_probs(self, Z: np.ndarray, name: str) -> tuple[np.ndarray, list[Any]] | None:
        span = self._fast()["spans"].get(name)
        if span is None:
            return None
        start, k, classes = span
        z = Z[:, start : start + k]
        if k == 1:  # binary: sigmoid of the decision function
            p1 = 1.0 / (1.0 + np.exp(-np.clip(z[:, 0], -500, 500)))
            return np.column_stack([1.0 - p1, p1]), classes
        z = z - z.max(axis=1, keepdims=True)  # multinomial: softmax
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True), classes

    def predict_many(self, texts: Sequence[Any]) -> list[Prediction]:
        """Predictions for many posts (a backlog): the same as :meth:`predict` one by one."""
        if len(texts) == 0:
            return []
        norm = [normalize(t) for t in texts]
        f = self._fast()
        lex = (np.vstack([lexicon_vector(t) for t in norm]) - f["lex_mean"]) / f["lex_scale"]
        Z = lex @ f["W_lex"] + f["bias"]
        for i, t in enumerate(norm):
            Z[i] += _tfidf_row(t, *f["word"], f["W_word"]) + f["char"].row(t)
        return self._finish(Z, norm)

    def _finish(self, Z: np.ndarray, norm: Sequence[str]) -> list[Prediction]:
        n = len(norm)
        score = self._complaint_scores(self._head_probs(Z, "complaint")[0][:, 1], norm)
        sent = np.zeros(n)
        hp = self._head_probs(Z, "sentiment")
        if hp is not None:
            p, cls = hp
            sent = p[:, cls.index("Positive")] - p[:, cls.index("Negative")]
        sev = np.full(n, 1, dtype=int)
        hp = self._head_probs(Z, "severity")
        if hp is not None:
            p, cls = hp
            # expected severity, rounded: smoother than argmax on 4 ordinal classes
            sev = np.clip(np.rint(p @ np.asarray(cls, float)), 1, 4).astype(int)
        anger = np.zeros(n)
        hp = self._head_probs(Z, "anger")
        if hp is not None:
            anger = hp[0][:, 1]
        return self._predictions(score, sent, sev, anger)

    def _predictions(self, score: np.ndarray, sent: np.ndarray, sev: np.ndarray, anger: np.ndarray) -> list[Prediction]:
        threshold = self.active_threshold
        return [
            Prediction(
                score=float(score[i]),
                is_complaint=bool(score[i] >= threshold),
                sentiment=float(np.clip(sent[i], -1.0, 1.0)),
                severity=int(sev[i]),
                anger=float(anger[i]),
            )
            for i in range(len(score))
        ]

    def predict_many_reference(self, texts: Sequence[Any]) -> list[Prediction]:
        """Same as :meth:`predict_many` through scikit-learn's own API (slower)."""
        norm = [normalize(t) for t in texts]
        F = self.features.transform(norm)
        score = self._complaint_scores(self.complaint.predict_proba(F)[:, 1], norm)
        n = len(norm)
        sent = np.zeros(n)
        if self.sentiment is not None:
            p = self.sentiment.predict_proba(F)
            cls = list(self.sentiment.classes_)
            sent = p[:, cls.index("Positive")] - p[:, cls.index("Negative")]
        sev = np.full(n, 1, dtype=int)
        if self.severity is not None:
            p = self.severity.predict_proba(F)
            # expected severity, rounded: smoother than argmax on 4 ordinal classes
            sev = np.clip(np.rint(p @ np.asarray(self.severity.classes_, float)), 1, 4).astype(int)
        anger = np.zeros(n)
        if self.anger is not None:
            anger = self.anger.predict_proba(F)[:, 1]
        return self._predictions(score, sent, sev, anger)

    def predict(self, text: Any) -> Prediction:
        return self.predict_many([text])[0]


# --- lazy, thread-safe loading ------------------------------------------------------

_lock = threading.Lock()
_model: TriageModel | None = None


def model_path() -> Path:
    return Path(os.environ.get(MODEL_ENV) or MODEL_PATH)


class ModelLoadError(RuntimeError):
    """The triage model cannot be used; the message names the file and the fix."""


def load_model(path: Path) -> TriageModel:
    """Read a model file written by ``socialdesk train``; ModelLoadError says why it cannot be used."""
    import joblib
    import sklearn

    fix = f"reinstall socialdesk, or run `socialdesk train` to write it again (or point {MODEL_ENV} at a good file)"
    if not path.exists():
        raise ModelLoadError(f"triage model {path} is missing: {fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the operator
        raise ModelLoadError(f"triage model {path} could not be read ({type(exc).__name__}: {exc}): {fix}") from exc
    if not isinstance(m, TriageModel):
        raise ModelLoadError(f"triage model {path} holds a {type(m).__name__}, not a triage model: {fix}")
    built = m.meta.get("sklearn_version")
    if built != sklearn.__version__:
        raise ModelLoadError(f"triage model {path} was built with scikit-learn {built}, this install runs {sklearn.__version__}: {fix}")
    return m


def get_model() -> TriageModel:
    """The shipped model, loaded once (thread-safe); ModelLoadError if it cannot be."""
    global _model
    m = _model
    if m is not None:
        return m
    with _lock:
        if _model is None:
            from .encoder import load_encoder

            _model = load_model(model_path()).attach_encoder(load_encoder())
        return _model


def set_model(model: TriageModel | None) -> None:
    """Replace (or, with None, forget) the loaded model, e.g. after retraining.

    The caller attaches the encoder it wants (``model.attach_encoder``)."""
    global _model
    with _lock:
        _model = model


def predict(text: Any) -> Prediction:
    return get_model().predict(text)
