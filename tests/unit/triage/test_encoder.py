"""The fine-tuned encoder: the shipped files, the blend, and the training path.

The shipped encoder is loaded from the repository (no hub, no network).  The
training test fine-tunes for real on a small slice of the shipped data with
torch (the ``train`` extra), exports to int8 ONNX and checks that onnxruntime
gives what torch gave.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bot.triage import encoder as encoder_mod
from bot.triage import model as model_mod
from bot.triage.training import train as train_mod
from tests.helpers import ROOT

CV_SCORES = ROOT / "tests" / "data" / "encoder_cv_scores.csv"
# Out-of-fold scores of `python -m bot.triage.training.train --evaluate --encoder` (10
# folds, seed 42; each fold's fine-tune exported as shipped then: eager attention,
# int8 weights per output channel, and scored one post at a time; re-run on 30
# Nov).  Blended through the cascade (encoder only where the n-gram score is in
# (0.03, 0.8)): P=0.810 R=0.865 F1=0.837 macro-F1=0.871 (the earlier (0.03, 0.9)
# band: P=0.823 R=0.856 F1=0.839); every post blended: P=0.827 R=0.852 F1=0.839
# macro-F1=0.874.  (Issue #5 aims at 0.85 / 0.88; see README.)
PINNED = {"recall": 0.865, "f1": 0.837, "macro_f1": 0.871}
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def shipped():
    scorer = encoder_mod.load_encoder(encoder_mod.ENCODER_DIR)
    assert scorer is not None, "the shipped encoder must load"
    return scorer


def test_shipped_encoder_is_the_one_its_meta_describes(shipped):
    meta = shipped.meta
    assert meta["sha256"] == encoder_mod.file_digest(encoder_mod.ENCODER_DIR / encoder_mod.MODEL_FILE)
    assert meta["blend"] == {
        "encoder_weight": train_mod.ENCODER_WEIGHT,
        "threshold": train_mod.BLEND_THRESHOLD,
        "cascade": list(train_mod.CASCADE),
    }
    assert meta["n_rows"] == len(train_mod.load_rows())


def _ngram(m, text: str) -> float:
    return float(m.complaint.predict_proba(m.features.transform([model_mod.normalize(text)]))[0, 1])


def test_the_bot_blends_where_the_ngram_model_is_unsure_and_trusts_it_elsewhere(shipped):
    m = model_mod.get_model()
    assert m.encoder is not None
    assert m.active_threshold == train_mod.BLEND_THRESHOLD
    lo, hi = train_mod.CASCADE
    assert lo < train_mod.BLEND_THRESHOLD < hi  # a skipped post is decided as its n-gram score says
    unsure = "@acme so is anyone going to look at this or not"
    sure = "@acme you charged me twice, still no refund, worst service ever, sort it out"
    happy = "@acme thank you so much, lovely staff and a great day out"
    assert lo < _ngram(m, unsure) < hi and _ngram(m, sure) >= hi and _ngram(m, happy) <= lo
    enc = shipped.scores([model_mod.normalize(unsure)])[0]
    blended = (1 - train_mod.ENCODER_WEIGHT) * _ngram(m, unsure) + train_mod.ENCODER_WEIGHT * enc
    assert m.predict(unsure).score == pytest.approx(blended, abs=1e-9)
    assert m.predict(sure).score == pytest.approx(_ngram(m, sure), abs=1e-9) and m.predict(sure).is_complaint
    assert m.predict(happy).score == pytest.approx(_ngram(m, happy), abs=1e-9) and not m.predict(happy).is_complaint
    many = m.predict_many([unsure, sure, happy])
    assert [p.score for p in many] == pytest.approx([m.predict(t).score for t in (unsure, sure, happy)], abs=1e-12)


def test_cascade_reads_only_the_unsure_posts():
    asked = []

    def encoder(idx):
        asked.append(list(idx))
        return np.full(len(idx), 1.0)

    ngram = np.array([0.0, 0.1, 0.1000001, 0.5, 0.8999999, 0.9, 1.0])
    score = model_mod.cascade(ngram, encoder, 0.7, (0.1, 0.9))
    assert asked == [[2, 3, 4]]  # the band is open: 0.1 and 0.9 themselves are sure
    np.testing.assert_allclose(score, [0.0, 0.1, 0.3 * 0.1000001 + 0.7, 0.85, 0.3 * 0.8999999 + 0.7, 0.9, 1.0])
    asked.clear()
    assert model_mod.cascade(np.array([0.0, 1.0]), encoder, 0.7, (0.1, 0.9)).tolist() == [0.0, 1.0] and asked == []
    np.testing.assert_allclose(model_mod.cascade(ngram, encoder, 0.7, None), 0.3 * ngram + 0.7)  # no band: every post


def test_encoder_separates_complaints_from_praise(shipped):
    complaints = [
        "@support third email this week and still nothing back about my order",
        "@airline you lost my bag two days ago and nobody answers the phone",
        "@bank charged twice for the same payment, where is my money",
    ]
    others = [
        "@support thank you so much, the new update is lovely",
        "@airline great crew on the flight to Lisbon today!",
        "what time does the store open on sunday?",
    ]
    s = shipped.scores([model_mod.normalize(t) for t in complaints + others])
    assert s[:3].min() > 0.5 > s[3:].max()


@pytest.mark.parametrize("text", ["", " ", "🙂" * 400, "x" * 10_000, "<script>alert(1)</script>" * 300, "\x00\x01 \u202e"])
def test_encoder_takes_odd_input(shipped, text):
    s = shipped.scores([model_mod.normalize(text)])
    assert s.shape == (1,) and 0.0 <= s[0] <= 1.0


def test_batches_score_like_single_posts(shipped):
    texts = [model_mod.normalize(r["text"]) for r in train_mod.load_rows()[:70]]
    one_by_one = np.array([shipped.scores([t])[0] for t in texts])
    np.testing.assert_allclose(shipped.scores(texts), one_by_one, atol=1e-9)


def _tiny_encoder(folder, inputs):
    """An encoder folder whose logits are (the mask's sum, the number of ids): P(complaint) 0.5 for a full mask."""
    import onnx
    from onnx import TensorProto, helper

    folder.mkdir()
    for name in (encoder_mod.TOKENIZER_FILE, encoder_mod.META_FILE):
        (folder / name).write_bytes((encoder_mod.ENCODER_DIR / name).read_bytes())
    nodes = [helper.make_node("Shape", ["input_ids"], ["shape"])]
    if "attention_mask" not in inputs:
        one = helper.make_tensor("v", TensorProto.INT64, [1], [1])
        nodes.append(helper.make_node("ConstantOfShape", ["shape"], ["attention_mask"], value=one))
    nodes += [
        helper.make_node("Cast", ["attention_mask"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["f"], ["sum"], keepdims=1),
        helper.make_node("Gather", ["shape", "one"], ["n"], axis=0),
        helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["nf", "to2d"], ["n2"]),
        helper.make_node("Concat", ["sum", "n2"], ["logits"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info(i, TensorProto.INT64, [1, "tokens"]) for i in inputs],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor("one", TensorProto.INT64, [1], [1]), helper.make_tensor("to2d", TensorProto.INT64, [2], [1, 1])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / encoder_mod.MODEL_FILE))
    return encoder_mod.EncoderScorer(folder)


@pytest.mark.train  # writing an ONNX graph needs the onnx package (the train extra)
def test_an_encoder_exported_with_a_mask_still_scores(tmp_path):
    # exports before 1 Dec 2026 take (input_ids, attention_mask); a post is never padded, so its mask is all ones
    masked = _tiny_encoder(tmp_path / "masked", ["input_ids", "attention_mask"])
    plain = _tiny_encoder(tmp_path / "plain", ["input_ids"])  # fed a mask, onnxruntime would refuse the call
    for scorer in (masked, plain):
        assert scorer.scores(["my order never arrived", "x" * 10_000]) == pytest.approx([0.5, 0.5], abs=1e-9)


def test_turned_off_or_missing_encoder_falls_back_to_ngrams(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(encoder_mod.ENCODER_ENV, "off")
    assert encoder_mod.load_encoder() is None
    monkeypatch.setenv(encoder_mod.ENCODER_ENV, str(tmp_path / "nowhere"))
    assert encoder_mod.load_encoder() is None
    assert "n-gram model alone" in caplog.text
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / encoder_mod.MODEL_FILE).write_bytes(b"not onnx")
    (broken / encoder_mod.META_FILE).write_text("{}")
    (broken / encoder_mod.TOKENIZER_FILE).write_text("{}")
    assert encoder_mod.load_encoder(broken) is None
    m = model_mod.get_model()
    bare = model_mod.TriageModel(m.features, m.complaint, m.threshold, m.sentiment, m.severity, m.anger, m.meta)
    assert bare.encoder is None and bare.active_threshold == m.threshold
    assert 0.0 <= bare.predict("my order never arrived").score <= 1.0


def _cv_scores() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = train_mod.load_rows()
    with open(CV_SCORES, newline="") as f:
        by_id = {r["id"]: r for r in csv.DictReader(f)}
    assert set(by_id) == {r["id"] for r in rows}
    fold = np.array([int(by_id[r["id"]]["fold"]) for r in rows])
    enc = np.array([float(by_id[r["id"]]["encoder_score"]) for r in rows])
    return fold, enc, train_mod._labels(rows)


def test_severity_labels_for_the_auxiliary_head():
    from bot.triage.training import finetune

    got = [finetune.severity_class(v) for v in ("0.0", "1", "4.0", "", None, "5", "-1", "abc", "nan", "inf")]
    assert got == [0, 1, 4] + [finetune.NO_LABEL] * 7


@pytest.mark.timeout(600)
def test_cross_validated_quality_of_the_blend_does_not_regress():
    """The shipped blend's CV figures, recomputed from the encoder's recorded
    out-of-fold scores and n-gram scores fitted here on the same folds."""
    fold, enc, y = _cv_scores()
    rows = train_mod.load_rows()
    X = np.array([model_mod.normalize(r["text"]) for r in rows], dtype=object)
    ngram = np.zeros(len(y))
    for k in range(fold.max() + 1):
        tr, te = fold != k, fold == k
        ngram[te] = train_mod.complaint_pipeline().fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    pred = (train_mod.blend_scores(ngram, enc) >= train_mod.BLEND_THRESHOLD).astype(int)
    m = train_mod.metrics(y, pred)
    for key, pinned in PINNED.items():
        assert m[key] >= pinned - TOLERANCE, (key, m)
    assert m["recall"] >= m["precision"] - 0.02, m  # recall is favoured, not sacrificed


def test_recorded_folds_are_the_stratified_folds_of_the_evaluation():
    fold, _, y = _cv_scores()
    from sklearn.model_selection import StratifiedKFold

    rows = train_mod.load_rows()
    X = np.zeros(len(rows))
    for k, (_, te) in enumerate(StratifiedKFold(train_mod.CV_FOLDS, shuffle=True, random_state=train_mod.CV_SEED).split(X, y)):
        assert (fold[te] == k).all()


# --- the training path (torch) ----------------------------------------------------------


@pytest.mark.train
@pytest.mark.timeout(600)  # a real fine-tune: ~20 s alone, longer on a busy CI machine
def test_fine_tune_export_and_load(tmp_path):
    import torch

    from bot.triage.training import finetune

    rows = [r for r in train_mod.load_rows() if r["domain"] not in train_mod.EASY_NEGATIVE_DOMAINS][:160]
    texts = [model_mod.normalize(r["text"]) for r in rows]
    y = [int(r["complaint"]) for r in rows]
    steps = []
    net = finetune.fine_tune(texts, y, finetune.Recipe(epochs=2, lr=1e-4), progress=lambda i, n: steps.append((i, n)))
    assert steps[-1] == (20, 20)
    out = finetune.export(net, tmp_path / "encoder", extra_meta={"blend": {"encoder_weight": 0.7, "threshold": 0.5}})
    meta = json.loads((out / encoder_mod.META_FILE).read_text())
    assert meta["sha256"] == encoder_mod.file_digest(out / encoder_mod.MODEL_FILE)
    scorer = encoder_mod.EncoderScorer(out)
    # the bot's graph: one post, no mask, and the net's own arithmetic
    assert [i.name for i in scorer._session.get_inputs()] == ["input_ids"]
    one = finetune.one_post(net)
    for text in texts[:5]:
        ids, mask = net.tokenize([text])
        torch.testing.assert_close(one(ids), net(ids, mask), atol=1e-5, rtol=0)
    probe = texts[:40]
    ref = finetune.torch_scores(net, probe)
    got = scorer.scores(probe)
    # int8 products move the probabilities a little (measured on 400 posts
    # with this recipe: 0.011 on average, 0.071 at most, 5 decisions of 400)
    assert np.abs(got - ref).mean() < 0.025
    assert np.abs(got - ref).max() < 0.15
    assert np.corrcoef(got, ref)[0, 1] > 0.995
    assert ((got >= 0.5) == (ref >= 0.5)).mean() >= 0.95
    assert json.loads((out / encoder_mod.META_FILE).read_text())["quantization"] == finetune.QUANTIZATION
    # it learned something from 160 posts: complaints score above the rest on average
    yy = np.array(y[:40])
    assert got[yy == 1].mean() > got[yy == 0].mean()
    # a second export replaces the first atomically
    finetune.export(net, out, extra_meta={"blend": {"encoder_weight": 0.7, "threshold": 0.5}, "n_rows": 1})
    assert json.loads((out / encoder_mod.META_FILE).read_text())["n_rows"] == 1
    assert not list(tmp_path.glob(".encoder-*")) and not (tmp_path / "encoder.old").exists()


def test_identical_posts_run_the_model_once_and_score_the_same():
    scorer = encoder_mod.EncoderScorer(encoder_mod.ENCODER_DIR)  # its own cache, counted from zero
    burst = [model_mod.normalize(f"@{who} is the site down?? checkout won't load") for who in ("ann", "bob", "cy")]
    assert len(set(burst)) == 1  # handles are normalised away
    other = model_mod.normalize("@dee is the site down?? the app won't load")
    got = scorer.scores(burst + [other])
    assert scorer.cache_counts() == (2, 2)
    assert got[0] == got[1] == got[2] and got[3] != got[0]
    scorer.clear_cache()
    assert scorer.scores(burst[:1])[0] == got[0] and scorer.cache_counts() == (1, 0)
    # a remembered key is at most MAX_TOKENS ids, however long the post
    long_a, long_b = "refund " * 3000, "refund " * 3000 + "please"
    scorer.scores([long_a, long_b])
    assert scorer.cache_counts() == (2, 1)
