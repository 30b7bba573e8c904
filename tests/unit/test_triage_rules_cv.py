"""The rules on top of the model must not cost the dev-split figures, and keep complaints out of praise.

Same machinery as ``tests/test_triage_encoder.py``: the encoder's recorded
out-of-fold scores (``tests/data/encoder_cv_scores.csv``) blended with
n-gram scores fitted on the same 10 folds.  The n-gram model's out-of-fold
complaint, sentiment and anger heads are recorded in
``tests/data/ngram_cv_heads.csv`` (``python -m tests.unit.test_triage_rules_cv``
writes it; about 10 minutes on 2 cores) and this test refits one fold to check
the recording still matches the code.  Each post then goes through
:func:`bot.triage.triage_from`, the same rules and language handling as
``classify``, and the category decides complaint or not.

Measured (printed with ``pytest -s``), with the cascade (the encoder's score
only where the n-gram score is between 0.03 and 0.8): blend alone P=0.810
R=0.865 F1=0.837 macro-F1=0.871; with the rules P=0.810 R=0.861 F1=0.835
macro-F1=0.869, and 2 dev complaints out of 862 are routed as praise ("Thanks for the pasta sauce @Walmart", "I called
in sick today. Thanks @pizzahut": sarcasm with no marker).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from bot.triage import rules, triage_from
from bot.triage.training import train as train_mod
from bot.triage.model import Prediction, normalize

DATA = Path(__file__).resolve().parents[1] / "data"
ENCODER_CV = DATA / "encoder_cv_scores.csv"
HEADS_CV = DATA / "ngram_cv_heads.csv"
#: The most dev complaints the praise route may take (out-of-fold).
MAX_COMPLAINTS_AS_PRAISE = 2


def folds_and_encoder(rows):
    with open(ENCODER_CV, newline="") as f:
        by_id = {r["id"]: r for r in csv.DictReader(f)}
    fold = np.array([int(by_id[r["id"]]["fold"]) for r in rows])
    enc = np.array([float(by_id[r["id"]]["encoder_score"]) for r in rows])
    return fold, enc


def heads_for_fold(rows, fold: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Fit the n-gram features and heads on the other folds; score fold ``k``."""
    X = np.array([normalize(r["text"]) for r in rows], dtype=object)
    y = train_mod._labels(rows)
    sent = np.array([r.get("sentiment", "") for r in rows])
    emo = np.array([r.get("emotion", "") for r in rows])
    tr, te = fold != k, fold == k
    features = train_mod.make_features().fit(X[tr])
    F, Ft = features.transform(X[tr]), features.transform(X[te])
    out = {"ngram": train_mod.make_complaint_clf().fit(F, y[tr]).predict_proba(Ft)[:, 1]}
    ok = np.isin(sent[tr], ["Negative", "Neutral", "Positive"])
    s = LogisticRegression(C=2.0, max_iter=5000).fit(F[ok], sent[tr][ok])
    p, cls = s.predict_proba(Ft), list(s.classes_)
    out["sentiment"] = p[:, cls.index("Positive")] - p[:, cls.index("Negative")]
    ok = emo[tr] != ""
    a = LogisticRegression(C=2.0, max_iter=5000, class_weight="balanced").fit(F[ok], np.isin(emo[tr][ok], ["anger", "disgust"]).astype(int))
    out["anger"] = a.predict_proba(Ft)[:, 1]
    return out


def record(path: Path = HEADS_CV) -> None:
    rows = train_mod.load_rows()
    fold, _ = folds_and_encoder(rows)
    cols = {name: np.zeros(len(rows)) for name in ("ngram", "sentiment", "anger")}
    for k in range(fold.max() + 1):
        for name, values in heads_for_fold(rows, fold, k).items():
            cols[name][fold == k] = values
        print(f"fold {k} done", flush=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "ngram_score", "sentiment", "anger"])
        for i, r in enumerate(rows):
            w.writerow([r["id"], f"{cols['ngram'][i]:.6f}", f"{cols['sentiment'][i]:.6f}", f"{cols['anger'][i]:.6f}"])


def recorded(rows) -> dict[str, np.ndarray]:
    with open(HEADS_CV, newline="") as f:
        by_id = {r["id"]: r for r in csv.DictReader(f)}
    assert set(by_id) == {r["id"] for r in rows}
    return {
        "ngram": np.array([float(by_id[r["id"]]["ngram_score"]) for r in rows]),
        "sentiment": np.array([float(by_id[r["id"]]["sentiment"]) for r in rows]),
        "anger": np.array([float(by_id[r["id"]]["anger"]) for r in rows]),
    }


@pytest.mark.timeout(600)
def test_the_recorded_heads_are_what_the_code_fits():
    rows = train_mod.load_rows()
    fold, _ = folds_and_encoder(rows)
    heads = recorded(rows)
    fresh = heads_for_fold(rows, fold, 0)
    for name, values in fresh.items():
        np.testing.assert_allclose(heads[name][fold == 0], values, atol=2e-6, err_msg=name)


def test_rules_keep_the_cv_figures_and_complaints_out_of_praise():
    rows = train_mod.load_rows()
    y = train_mod._labels(rows)
    fold, enc = folds_and_encoder(rows)
    heads = recorded(rows)
    blend = train_mod.blend_scores(heads["ngram"], enc)
    base = train_mod.metrics(y, (blend >= train_mod.BLEND_THRESHOLD).astype(int))
    categories = np.array([
        triage_from(
            r["text"],
            Prediction(score=float(blend[i]), is_complaint=bool(blend[i] >= train_mod.BLEND_THRESHOLD),
                       sentiment=float(heads["sentiment"][i]), severity=2, anger=float(heads["anger"][i])),
            threshold=train_mod.BLEND_THRESHOLD,
            borderline=rules.BLEND_BORDERLINE,
        ).category
        for i, r in enumerate(rows)
    ])
    with_rules = train_mod.metrics(y, (categories == "complaint").astype(int))
    as_praise = int(((categories == "praise") & (y == 1)).sum())
    print(f"\nblend alone: {base}\nwith rules:  {with_rules}\ndev complaints routed as praise (out-of-fold): {as_praise} of {int(y.sum())}")
    # The rules may cost at most about three posts' worth of F1 (on the
    # shipped export's out-of-fold scores they cost 0.0021: complaints the blend
    # caught go to the question route, as a question card).
    assert with_rules["f1"] >= base["f1"] - 0.003, (with_rules, base)
    assert with_rules["macro_f1"] >= base["macro_f1"] - 0.003, (with_rules, base)
    assert with_rules["f1"] >= 0.8345 and with_rules["macro_f1"] >= 0.869  # the pinned 0.835 / 0.869
    assert as_praise <= MAX_COMPLAINTS_AS_PRAISE


if __name__ == "__main__":
    record(Path(sys.argv[1]) if len(sys.argv) > 1 else HEADS_CV)
