"""The fine-tuned sentence encoder that scores complaints beside the n-gram model.

A MiniLM-L6 encoder (all-MiniLM-L6-v2, Apache-2.0) fine-tuned on the shipped
complaint data, exported to ONNX and quantised to int8 in blocks
(``encoder/`` beside this module, about 25 MB).  It runs on onnxruntime and the
``tokenizers`` library: no torch, no download, about 3 ms a post on one core.
Blended with the n-gram model it lifts cross-validated complaint F1 from 0.77
to 0.84 (README).

Training and export live in :mod:`bot.triage.training.finetune` (needs the ``train``
extra: torch and transformers).  Here is only the run-time half, so that the
bot never imports torch.
"""

from __future__ import annotations

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
            str(self.directory / MODEL_FILE), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def _score(self, text: str) -> float:
        with self._lock:  # one Tokenizer, shared by the bot's worker threads
            enc = self._tokenizer.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.ones_like(ids)
        (logits,) = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        z = logits[0] - logits[0].max()
        e = np.exp(z)
        return float(e[1] / e.sum())

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """P(complaint) for already-normalised texts.

        One post per run, never padded batches, so that a post scores the
        same in the bot, in `socialdesk classify` and in the evaluation,
        whatever else is in the batch and whatever the quantization of the
        file in use.  (With the earlier per-tensor int8 export, padding moved
        scores by 0.007 on average.)
        """
        return np.array([self._score(t) for t in texts], dtype=np.float64)


    def scores_batched(self, texts: Sequence[str], batch_size: int = 8) -> np.ndarray:
        """Same as :meth:`scores` (within float32 rounding), in padded batches: faster for a backlog.

        Posts are sorted by length so that a batch pads little (small batches of a
        long sorted list pad least: measured on one core, 8 posts a run over 512
        sorted posts scored 35% more posts per CPU second than 32 a run over 64,
        which was slower than one post a run); the attention
        mask keeps padding out of every post's score (the block-wise int8
        export moves scores by about 1e-7 with padding, far below any
        decision).
        """
        if not texts:
            return np.zeros(0, dtype=np.float64)
        with self._lock:
            encoded = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        out = np.empty(len(encoded), dtype=np.float64)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(1, max(len(encoded[i]) for i in idx))
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(idx):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            (logits,) = self._session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
            z = logits - logits.max(axis=1, keepdims=True)
            e = np.exp(z)
            out[idx] = e[:, 1] / e.sum(axis=1)
        return out


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
