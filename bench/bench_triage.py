"""Benchmark triage speed: posts/second and per-post latency on one core.

    python bench/bench_triage.py [--n 2000] [--repeat 1]

Runs single-threaded, pinned to one CPU, one post per call (as the bot calls
it), on the shipped dev texts.  Compares, in the same run:

* keyword baseline — a regex complaint-cue counter (no model);
* plain TF-IDF + LR  — word 1-2 + char 2-5 n-grams, logistic regression, fitted here;
* n-gram model alone — the shipped model with the encoder detached (``SOCIALDESK_TRIAGE_ENCODER=off``);
* encoder alone      — the int8 ONNX encoder's complaint score (tokenise + onnxruntime);
* shipped model      — ``bot.triage.model`` predict: n-gram heads + encoder blend (the default);
* classify()         — the full public call (language, model, rules, priority, topic).

Then the parts issue #12 added, each timed alone on the same posts:

* language.detect    — on these (English) posts, and on the hard-case posts in
  other languages (lingua's models load on the first of those; timed apart);
* rules              — the complaint cues (sarcasm, named failures, grievances,
  emoji) and the category decision, given the model's prediction;
* classify_batch()   — posts/s on a backlog against classify() one by one.

Also prints peak RSS, since the encoder brings onnxruntime into the process.

Texts are personal data: they are only timed, never printed.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def pin_one_core() -> str:
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    except (AttributeError, OSError):
        return "unpinned"


_CUES = [
    re.compile(p, re.I)
    for p in (
        r"\b(not|never|no|can'?t|won'?t|didn'?t|doesn'?t|isn'?t)\b",
        r"\b(still|again|waiting|delay\w*|days?|weeks?|hours?)\b",
        r"\b(refund|charged?|cancel\w*|money)\b",
        r"\b(broken|faulty|error|issue|problem|down|missing|lost|wrong)\b",
        r"\b(worst|terrible|awful|useless|ridiculous|disappoint\w*|unacceptable|poor|bad)\b",
    )
]


def keyword_baseline(text: str) -> bool:
    return sum(1 for rx in _CUES if rx.search(text)) >= 2


def time_calls(fn, texts, repeat: int) -> np.ndarray:
    for t in texts[:50]:  # warm-up
        fn(t)
    lat = np.empty(len(texts) * repeat)
    k = 0
    clock = time.perf_counter
    for _ in range(repeat):
        for t in texts:
            t0 = clock()
            fn(t)
            lat[k] = clock() - t0
            k += 1
    return lat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="posts per run (default 2000)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    where = pin_one_core()

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    from bot.triage import classify, clear_caches
    from bot.triage.model import get_model, normalize
    from bot.triage.training.train import load_rows

    rows = load_rows()
    texts = [r["text"] for r in rows]
    y = np.array([int(r["complaint"]) for r in rows])
    rng = np.random.default_rng(0)
    sample = [texts[i] for i in rng.choice(len(texts), size=min(args.n, len(texts)), replace=False)]

    t0 = time.perf_counter()
    model = get_model()
    load_s = time.perf_counter() - t0
    from bot.triage import language

    t0 = time.perf_counter()
    language.detect("@acme mi pedido nunca llegó y nadie responde")  # the first post lingua must read loads its models
    lingua_load_s = time.perf_counter() - t0

    plain = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        ),
        LogisticRegression(C=4, max_iter=2000, class_weight="balanced"),
    ).fit([normalize(t) for t in texts], y)

    import copy

    ngram_only = copy.copy(model).attach_encoder(None)  # a copy of the n-gram part (see __getstate__)
    cases = [
        ("keyword baseline", keyword_baseline),
        ("plain TF-IDF + LR", lambda t: plain.predict_proba([normalize(t)])),
        ("n-gram model alone", ngram_only.predict),
    ]
    if model.encoder is not None:
        enc = model.encoder
        cases.append(("encoder alone", lambda t: enc.scores([normalize(t)])))
    cases += [
        ("shipped model", model.predict),
        ("classify() (full)", classify),
    ]
    print(f"triage benchmark: {len(sample)} posts x {args.repeat}, one post per call, single thread, {where}")
    print(
        f"model load (first get_model): {load_s * 1000:.0f} ms; encoder: {'on' if model.encoder else 'OFF'}; "
        f"decision threshold {model.active_threshold:.2f}"
    )
    print()
    print(f"{'pipeline':<20} {'posts/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print("-" * 58)
    for name, fn in cases:
        clear_caches()  # each line reads the same posts: time the models, not what they remember
        lat = time_calls(fn, sample, args.repeat)
        print(
            f"{name:<20} {len(lat) / lat.sum():>10,.0f} {np.percentile(lat, 50) * 1e3:>8.3f} "
            f"{np.percentile(lat, 99) * 1e3:>8.3f} {lat.max() * 1e3:>8.3f}"
        )
    # worst case input size
    # distinct posts, so the encoder reads each (its first tokens differ)
    longs = [(f"@acme post {i} " + "my order never arrived and nobody answers " * 300)[:10_000] for i in range(200)]
    clear_caches()
    lat = time_calls(classify, longs, 1)
    print(f"{'classify() 10k chars':<20} {len(lat) / lat.sum():>10,.0f} {np.percentile(lat, 50) * 1e3:>8.3f} "
          f"{np.percentile(lat, 99) * 1e3:>8.3f} {lat.max() * 1e3:>8.3f}")
    import csv

    from bot.triage import classify_batch, language, rules

    print("\nadded by issue #12 (same posts, one per call):")
    print(f"{'part':<28} {'posts/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print("-" * 66)

    def row(name, lat):
        print(f"{name:<28} {len(lat) / lat.sum():>10,.0f} {np.percentile(lat, 50) * 1e3:>8.3f} "
              f"{np.percentile(lat, 99) * 1e3:>8.3f} {lat.max() * 1e3:>8.3f}")

    row("language.detect (dev posts)", time_calls(language.detect, sample, args.repeat))
    hard = Path(__file__).resolve().parents[1] / "tests" / "data" / "hard_cases.csv"
    with open(hard, newline="", encoding="utf-8") as f:
        foreign = [r["text"] for r in csv.DictReader(f) if r["language"] != "en"]
    print(f"{'  (lingua models, loaded once':<28} {lingua_load_s * 1000:>9.0f} ms, on the first post that needs them)")
    row("language.detect (11 langs)", time_calls(language.detect, foreign * 5, 1))
    preds = dict(zip(sample, model.predict_many(sample)))
    threshold = model.active_threshold

    def decide(t):
        p = preds[t]
        return rules.route(t, is_complaint=p.is_complaint, sentiment=p.sentiment, score=p.score, threshold=threshold, borderline=0.0)

    clear_caches()
    row("rules: cues + category", time_calls(decide, sample, args.repeat))
    clear_caches()
    row("rules: cues alone", time_calls(rules.negative_cues, sample, args.repeat))
    row("classify() foreign posts", time_calls(classify, foreign * 5, 1))

    backlog = sample[:1000]
    clear_caches()
    t0 = time.perf_counter()
    for t in backlog:
        classify(t)
    one = time.perf_counter() - t0
    clear_caches()
    t0 = time.perf_counter()
    classify_batch(backlog)
    batch = time.perf_counter() - t0
    print(f"\nbacklog of {len(backlog)} posts: classify() one by one {len(backlog) / one:,.0f} posts/s, "
          f"classify_batch() {len(backlog) / batch:,.0f} posts/s ({one / batch:.2f}x)")

    import resource

    print(f"\npeak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
