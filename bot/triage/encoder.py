"""The fine-tuned sentence encoder that scores complaints beside the n-gram model.

A MiniLM-L6 encoder (all-MiniLM-L6-v2, Apache-2.0) fine-tuned on the shipped
complaint data, exported to ONNX and quantised to int8 (weights per output
channel, int8 matrix products; ``encoder/`` beside this module, about 24 MB).
It runs on onnxruntime and the ``tokenizers`` library: no torch, no download,
a few ms a post on one core, so it reads only the posts the n-gram model is
unsure of (:func:`bot.triage.model.cascade`).  Blended with the n-gram model
it lifts cross-validated complaint F1 from 0.77 to 0.84 (README).

Training and export live in :mod:`bot.triage.training.finetune` (needs the ``train``
extra: torch and transformers).  Here is only the run-time half, so that the
bot never imports torch.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

ENCODER_DIR = Path(__file__).resolve().parent / "encoder"
ENCODER_ENV = "SOCIALDESK_TRIAGE_ENCODER"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
#: Tweets are about 30 tokens; longer posts keep their start (the gist), which
#: also bounds the cost of a 10,000-character Facebook comment.
MAX_TOKENS = 96
#: Distinct token sequences whose score is remembered (a few MB at most).
SCORE_CACHE = 4096


def encoder_dir() -> Path | None:
    """Where the encoder lives; ``SOCIALDESK_TRIAGE_ENCODER=off`` disables it."""
    value = os.environ.get(ENCODER_ENV, "").strip()
    if value.lower() in ("off", "none", "0", "false"):
        return None
    return Path(value) if value else ENCODER_DIR


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class EncoderScorer:
    """Complaint probability from the exported encoder (thread-safe, one core)."""

    def __init__(self, directory: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.directory = Path(directory)
        self.meta: dict[str, Any] = json.loads((self.directory / META_FILE).read_text())
        tok = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        tok.no_padding()
        tok.enable_truncation(max_length=int(self.meta.get("max_tokens", MAX_TOKENS)))
        self._tokenizer = tok
        opts = ort.SessionOptions()
        # The bot triages from a small thread pool: one core per call keeps
        # the machine responsive and the latency predictable.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(self.directory / MODEL_FILE),
            sess_options=opts,
            providers=["CPUExecutionProvider"],
            # Left unfused, a residual Add and its LayerNormalization cost
            # about 16 us for a tweet where onnxruntime's fused
            # SkipLayerNormalization kernel takes about 60: 12% of a post's
            # time.  Scores move by 0.0003 on average (docs/triage-research.md).
            disabled_optimizers=["SkipLayerNormFusion"],
        )
        # Encoders exported before 1 Dec 2026 also take an attention mask (all ones: a post is never padded).
        self._masked = any(i.name == "attention_mask" for i in self._session.get_inputs())
        self._lock = threading.Lock()
        # In a burst many posts say the same words ("is the site down??"), and
        # handles are normalised away: run each distinct token sequence once
        # (at most MAX_TOKENS ids a key, so the memory is bounded).  A post
        # scores alone, so a remembered score is exactly what a new run gives.
        self._run = functools.lru_cache(maxsize=SCORE_CACHE)(self._run)

    def clear_cache(self) -> None:
        """Forget remembered scores (a benchmark times the model, not the cache)."""
        self._run.cache_clear()

    def cache_counts(self) -> tuple[int, int]:
        """(runs of the model, scores remembered instead) since the cache was last cleared."""
        info = self._run.cache_info()
        return info.misses, info.hits

    def _score(self, text: str) -> float:
        with self._lock:  # one Tokenizer, shared by the bot's worker threads
            enc = self._tokenizer.encode(text)
        return self._run(tuple(enc.ids))

    def _run(self, token_ids: tuple[int, ...]) -> float:
        ids = np.asarray([token_ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)} if self._masked else {"input_ids": ids}
        (logits,) = self._session.run(["logits"], feed)
        z = logits[0] - logits[0].max()
        e = np.exp(z)
        return float(e[1] / e.sum())

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """P(complaint) for already-normalised texts.

        One post per run, never padded batches: the int8 products scale each
        activation tensor as a whole, so a post padded into a batch would score
        differently from the same post alone.  One post per run, a post scores
        the same in the bot, in `socialdesk classify` and in the evaluation.
        (Padded batches of 8 sorted posts gained only about 5% per CPU second.)
        """
        return np.array([self._score(t) for t in texts], dtype=np.float64)


def load_encoder(directory: Path | None = None) -> EncoderScorer | None:
    """The encoder, or None (logged) when it is off, missing or unloadable."""
    directory = directory or encoder_dir()
    if directory is None:
        return None
    if not (directory / MODEL_FILE).exists():
        log.warning("triage encoder %s missing: complaints are scored by the n-gram model alone", directory)
        return None
    try:
        return EncoderScorer(directory)
    except Exception:  # noqa: BLE001 - a broken encoder must not stop triage
        log.exception("could not load triage encoder %s: complaints are scored by the n-gram model alone", directory)
        return None
