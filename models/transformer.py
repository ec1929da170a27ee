"""Transformer model family: one shared pretrained encoder, one linear head per task, fine-tuned with plain torch.

One forward pass answers every task of the taxonomy: the encoder output is mean-pooled over real tokens and each
task's head reads the same pooled vector. Targets, probabilities and thresholds follow `models.tasks` exactly
(`UNLABELED` rows are masked out of every loss and metric; binary tasks have two probability columns).

Why a plain torch loop and not the HF `Trainer`: one encoder with several heads and masked per-task losses
(cross-entropy with `ignore_index` for single/binary tasks, masked BCE for multi-label rows) is simpler and clearer
written out than bent into `Trainer.compute_loss`, and owning the loop lets us sort batches by length (dynamic
padding roughly halves the work on posts of mixed length) and stop early on the metric the product cares about.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import sys
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm
from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from models.encoder import (
    build_encoder,
    default_encoder_dir,
    load_encoder,
    load_tokenizer,
    quiet_hub_progress,
)
from models.tasks import (UNLABELED, TaskSpec, decide, decide_indices, default_thresholds, labeled_mask,
                          read_artifact_meta)

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "occ-transformer"
ARTIFACT_VERSION = 1
_CLASSIFIER_FILE = "classifier.json"
_HEADS_FILE = "heads.safetensors"
_ENCODER_SUBDIR = "encoder"

PRECISIONS = ("fp32", "bf16")
"""Precisions for training and inference (bf16 = autocast on CPU; worth it on CPUs with AVX-512 BF16 or AMX)."""
INFERENCE_PRECISIONS = ("fp32", "bf16", "int8")
"""int8 = dynamic quantization of every nn.Linear (CPU only); inference only, never used for training."""
CLASS_WEIGHTINGS = ("none", "inv_sqrt", "inverse")

_MEGA_BATCH = 50
"""Training batches are formed by sorting by length inside shuffled pools of this many batches (less padding,
still random order)."""
_TOKENIZE_CHUNK = 4096
"""Texts per fast-tokenizer call: large enough to amortize call overhead, small enough to bound memory."""


# --------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TransformerConfig:
    """Hyperparameters of fine-tuning and scoring; checks itself so a bad value fails before any work starts.

    Defaults were checked on three public corpora of patients' text (bench/transformer_public.py: grouped
    60/20/20 split, at most ~1,500 training posts, 2 CPU cores) and chosen to work across them, not on one:
    - learning_rate 5e-5 (encoder) with head_learning_rate 1e-3 (fresh heads need a far larger step): 1e-4 was
      level on PsyTAR (+0.008 ADR F1, +0.005 facet macro-F1) but over-fitted the 587 Drugs.com reviews (early
      stop at epoch 4, validation loss rising from epoch 3, test macro-F1 0.477 vs 0.531).
    - epochs 8 (the public corpora were run with 6; on the demo's 3,800 training posts validation macro-F1
      still rose from 0.806 at epoch 6 to 0.816 at 8, test mean 0.760 -> 0.777) with patience 2 on
      validation mean macro-F1: a run of 587-1,477 posts takes minutes on 2 cores
      (about 1.5-3 CPU-minutes per 1,000 posts per epoch at ~90 tokens, 1 at ~20); validation loss rises from
      epoch 3 while macro-F1 still climbs, so early stopping watches macro-F1, not loss.
    - max_length 128 (MiniLM was trained on 128-token inputs; most posts fit), batch_size 16.
    - class_weighting "inv_sqrt" and BCE pos_weight capped at 10 (a rationale, not compared on the corpora):
      counter imbalance without the over-prediction of full inverse weights on small data; thresholds are
      tuned afterwards by the caller.
    - precision "fp32": bf16 only pays on CPUs with native bf16 (see `cpu_has_fast_bf16`).
    """

    max_length: int = 128
    batch_size: int = 16
    epochs: int = 8
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 2
    dropout: float = 0.1
    seed: int = 0
    precision: str = "fp32"
    inference_precision: str | None = None
    class_weighting: str = "inv_sqrt"
    pos_weight_cap: float = 10.0
    max_grad_norm: float = 1.0
    predict_batch_size: int = 64
    num_threads: int | None = None

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"TransformerConfig: {what}")

        for name in ("max_length", "batch_size", "epochs", "predict_batch_size"):
            value = getattr(self, name)
            need(isinstance(value, int) and value >= 1, f"{name} must be an integer >= 1, got {value!r}")
        need(self.max_length >= 8, f"max_length must be >= 8 tokens, got {self.max_length}")
        need(isinstance(self.patience, int) and self.patience >= 1, f"patience must be an integer >= 1, got {self.patience!r}")
        need(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate!r}")
        need(self.head_learning_rate > 0, f"head_learning_rate must be > 0, got {self.head_learning_rate!r}")
        need(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay!r}")
        need(0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        need(0 <= self.dropout < 1, f"dropout must be in [0, 1), got {self.dropout!r}")
        need(isinstance(self.seed, int), f"seed must be an integer, got {self.seed!r}")
        need(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        need(
            self.inference_precision is None or self.inference_precision in INFERENCE_PRECISIONS,
            f"inference_precision must be None (same as precision) or one of {INFERENCE_PRECISIONS}, "
            f"got {self.inference_precision!r}",
        )
        need(self.class_weighting in CLASS_WEIGHTINGS,
             f"class_weighting must be one of {CLASS_WEIGHTINGS}, got {self.class_weighting!r}")
        need(self.pos_weight_cap >= 1, f"pos_weight_cap must be >= 1, got {self.pos_weight_cap!r}")
        need(self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm!r}")
        need(self.num_threads is None or (isinstance(self.num_threads, int) and self.num_threads >= 1),
             f"num_threads must be None (torch default) or an integer >= 1, got {self.num_threads!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TransformerConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"TransformerConfig: unknown keys {unknown}; expected a subset of {sorted(known)}")
        return cls(**dict(data))

    @property
    def scoring_precision(self) -> str:
        return self.inference_precision or self.precision


# --------------------------------------------------------------------------------------------------- network


class MultiTaskTransformer(nn.Module):
    """Shared encoder -> masked mean pooling -> dropout -> one linear head per task (logits, L per task).

    Mean pooling rather than [CLS]: sentence-embedding encoders such as all-MiniLM were trained with mean pooling,
    so the pooled vector is meaningful before any fine-tuning and small data sets converge faster.
    """

    def __init__(self, encoder: PreTrainedModel, tasks: Sequence[TaskSpec], dropout: float = 0.1) -> None:
        super().__init__()
        _check_task_names(tasks)
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        hidden = int(encoder.config.hidden_size)
        std = float(getattr(encoder.config, "initializer_range", 0.02))
        self.heads = nn.ModuleDict({task.name: nn.Linear(hidden, len(task.labels)) for task in tasks})
        for head in self.heads.values():
            nn.init.normal_(head.weight, std=std)
            nn.init.zeros_(head.bias)

    @classmethod
    def from_pretrained(cls, encoder_dir: str | Path, tasks: Sequence[TaskSpec], dropout: float = 0.1) -> "MultiTaskTransformer":
        """Pretrained encoder from a local directory, fresh heads (seed the global RNG first for reproducibility)."""
        return cls(load_encoder(encoder_dir), tasks, dropout)

    @classmethod
    def from_config(cls, config: PretrainedConfig, tasks: Sequence[TaskSpec], dropout: float = 0.1) -> "MultiTaskTransformer":
        """Randomly initialized encoder from a config (e.g. a tiny `BertConfig` in tests)."""
        return cls(build_encoder(config), tasks, dropout)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the last hidden states over real (non-padding) tokens, in float32 even under autocast."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(torch.float32)
        summed = (hidden.to(torch.float32) * mask).sum(dim=1)
        return summed / mask.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(self.pool(input_ids, attention_mask))
        return {name: head(pooled).to(torch.float32) for name, head in self.heads.items()}


def _check_task_names(tasks: Sequence[TaskSpec]) -> None:
    names = [t.name for t in tasks]
    if not names:
        raise ValueError("tasks must name at least one TaskSpec")
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    for task in tasks:
        if not task.name or "." in task.name:
            raise ValueError(f"task name {task.name!r} cannot be empty or contain '.' (it names a torch module)")
        if task.kind not in ("single", "multi", "binary"):
            raise ValueError(f"task {task.name!r}: kind must be single, multi or binary, got {task.kind!r}")
        if task.kind == "binary" and len(task.labels) != 2:
            raise ValueError(f"binary task {task.name!r} needs exactly 2 labels, got {list(task.labels)}")
        if len(task.labels) < (1 if task.kind == "multi" else 2):
            raise ValueError(f"task {task.name!r} has too few labels: {list(task.labels)}")


# --------------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run with `num_threads` intra-op threads and restore the caller's setting afterwards."""
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere torch emulates it.

    Measured on a 2-core AMD Zen 3 (AVX2 only): bf16 autocast scored about 5x *slower* than fp32, whereas on Zen 4
    (AVX512-BF16) it is about 2x faster (STACK.md). Unknown platforms count as not fast.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = set(handle.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _warn_if_slow_bf16(precision: str) -> None:
    if precision == "bf16" and not cpu_has_fast_bf16():
        warnings.warn(
            "bf16 was requested but this CPU has no native bfloat16 (AVX512-BF16 / AMX): torch emulates it and runs "
            "several times slower than fp32; use precision='fp32' (or 'int8' for scoring) on this machine",
            RuntimeWarning,
            stacklevel=3,
        )


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _check_texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{what} must be a sequence of strings, got a single string")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] must be a str, got {type(text).__name__}")
    return out


def _check_targets(tasks: Sequence[TaskSpec], Y: Mapping[str, Any], n: int, what: str) -> dict[str, np.ndarray]:
    """Targets in the `models.tasks` encoding, validated against the task specs (shape, dtype, value range)."""
    expected = [t.name for t in tasks]
    if set(Y) != set(expected):
        raise ValueError(f"{what} must have exactly the task keys {expected}, got {sorted(Y)}; "
                         f"use UNLABELED ({UNLABELED}) for posts without a gold label")
    out: dict[str, np.ndarray] = {}
    for task in tasks:
        y = np.asarray(Y[task.name])
        L = len(task.labels)
        if task.kind == "multi":
            if y.shape != (n, L):
                raise ValueError(f"{what}[{task.name!r}] must have shape ({n}, {L}) (multi-label 0/1), got {y.shape}")
            if not np.isin(y, (0, 1, UNLABELED)).all():
                raise ValueError(f"{what}[{task.name!r}] must hold only 0, 1 or UNLABELED ({UNLABELED})")
            out[task.name] = y.astype(np.int8)
        else:
            if y.shape != (n,):
                raise ValueError(f"{what}[{task.name!r}] must have shape ({n},) (label indices), got {y.shape}")
            if not np.issubdtype(y.dtype, np.integer):
                raise ValueError(f"{what}[{task.name!r}] must hold integer label indices, got dtype {y.dtype}")
            if ((y != UNLABELED) & ((y < 0) | (y >= L))).any():
                raise ValueError(f"{what}[{task.name!r}] holds indices outside [0, {L}) other than UNLABELED")
            out[task.name] = y.astype(np.int64)
    return out


def _class_weight_exponent(scheme: str) -> float:
    return {"none": 0.0, "inv_sqrt": 0.5, "inverse": 1.0}[scheme]


def class_weights(spec: TaskSpec, y: np.ndarray, scheme: str = "inv_sqrt", cap: float = 10.0) -> np.ndarray | None:
    """Loss weights that counter label imbalance without overshooting: (n / (K * count)) ** exponent.

    single/binary: one weight per class, normalized so the average weight over the training rows is 1 (the loss
    scale, hence the learning rate, stays comparable to unweighted training); classes absent from the data get the
    largest weight seen. multi: a BCE `pos_weight` per label, (negatives / positives) ** exponent capped at `cap`
    (an uncapped weight of a label with a handful of positives makes training unstable).
    Inverse square root is the default: full inverse frequency over-predicts rare classes on small data.
    """
    exponent = _class_weight_exponent(scheme)
    if exponent == 0.0:
        return None
    labeled = y[labeled_mask(spec, y)]
    if len(labeled) == 0:
        return None
    if spec.kind == "multi":
        pos = (labeled == 1).sum(axis=0).astype(float)
        neg = (labeled == 0).sum(axis=0).astype(float)
        ratio = np.where(pos > 0, neg / np.maximum(pos, 1.0), 1.0)
        return np.clip(ratio**exponent, 1.0 / cap, cap)
    K = len(spec.labels)
    counts = np.bincount(labeled, minlength=K).astype(float)
    present = counts > 0
    weights = np.ones(K)
    weights[present] = (len(labeled) / (K * counts[present])) ** exponent
    weights = np.minimum(weights, cap)
    weights[~present] = weights[present].max()
    weights /= (counts * weights).sum() / counts.sum()
    return weights


def task_macro_f1(spec: TaskSpec, y: np.ndarray, decisions: np.ndarray) -> float | None:
    """Macro-F1 over the labeled rows: over classes for single/binary, over labels for multi; None if none labeled.

    Classes (labels) that appear neither in the gold nor in the predictions are left out, since their F1 is
    undefined (scikit-learn's `average="macro"` behaves the same for single-label targets).
    """
    keep = labeled_mask(spec, y)
    if not keep.any():
        return None
    y, d = y[keep], decisions[keep]
    if spec.kind == "multi":
        gold, pred = y == 1, d == 1
    else:
        K = len(spec.labels)
        gold = np.eye(K, dtype=bool)[y]
        pred = np.eye(K, dtype=bool)[d]
    tp = (gold & pred).sum(axis=0)
    fp = (~gold & pred).sum(axis=0)
    fn = (gold & ~pred).sum(axis=0)
    present = (gold | pred).any(axis=0)
    if not present.any():
        return 1.0
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return float(f1[present].mean())


def _pad(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = np.fromiter((len(ids) for ids in batch), dtype=np.int64, count=len(batch))
    width = int(lengths.max())
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = seq
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def _length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, sort by length inside pools of `_MEGA_BATCH` batches, cut into batches, shuffle the batches.

    Neighbouring posts of similar length pad to little, and the batch order (and each pool) stays random and
    determined by `rng` alone.
    """
    order = rng.permutation(len(lengths))
    pool = batch_size * _MEGA_BATCH
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def quantize_int8(model: MultiTaskTransformer) -> MultiTaskTransformer:
    """A copy of `model` with the encoder's Linear layers dynamically quantized to int8 (CPU scoring only).

    Kept in float32: the task heads (negligible compute, and they decide near-ties) and every down-projection
    (in_features > out_features: the FFN output layer in BERT-style encoders). That layer reads GELU activations
    with large outliers that per-tensor int8 rounds badly: on a MiniLM fine-tuned on Drugs.com sentiment (392
    held-out reviews), quantizing every Linear flipped 8.4% of decisions (macro-F1 0.536 -> 0.485); keeping the
    down-projections in fp32 flipped 3.8% (0.510). int8 stays an opt-in speed switch, not the default.
    """
    quantized = copy.deepcopy(model).eval()
    names = {name for name, module in quantized.encoder.named_modules()
             if isinstance(module, nn.Linear) and module.in_features <= module.out_features}
    with warnings.catch_warnings():
        # torch 2.13 deprecates eager-mode quantization in favour of torchao (not a dependency here); the API
        # still works and is what STACK.md measured.
        warnings.simplefilter("ignore")
        quantized.encoder = torch.ao.quantization.quantize_dynamic(
            quantized.encoder, {name: torch.ao.quantization.default_dynamic_qconfig for name in names},
            dtype=torch.qint8)
    return quantized


# --------------------------------------------------------------------------------------------------- classifier


class TransformerClassifier:
    """Multi-task transformer classifier: `fit`, `predict_proba`, `predict`, `save`/`load`.

    Follows scikit-learn conventions: `__init__` only stores its arguments; `fit` builds the network from
    `encoder_dir` (default: the packaged all-MiniLM-L6-v2), trains it and returns self; fitted state ends in `_`.

    Args:
        tasks: the task specs (ordered label names travel inside the saved artifact).
        encoder_dir: a local Hugging Face model directory; None means `default_encoder_dir()`.
        config: hyperparameters; None means `TransformerConfig()` defaults.

    Attributes set by fit/load:
        model_: the `MultiTaskTransformer` (eval mode). tokenizer_: its fast tokenizer.
        thresholds_: per `models.tasks` (multi: one per label, binary: one on the positive label), default 0.5;
            a caller (e.g. tuning on validation data) may overwrite it, and `save` persists it.
        history_: one dict per epoch (loss curves): epoch, train_loss, train_seconds and, with validation data,
            val_loss, val_macro_f1, val_f1 (per task); seconds (the epoch with its validation).
        best_epoch_: the (1-based) epoch whose weights were kept.
    """

    def __init__(
        self,
        tasks: list[TaskSpec],
        encoder_dir: str | Path | None = None,
        config: TransformerConfig | None = None,
    ) -> None:
        self.tasks = tasks
        self.encoder_dir = encoder_dir
        self.config = config

    # ------------------------------------------------------------------ small accessors

    @property
    def _cfg(self) -> TransformerConfig:
        """The configuration in effect (`config`, or the defaults when None)."""
        return self.config if self.config is not None else TransformerConfig()

    def _check_fitted(self) -> None:
        if getattr(self, "model_", None) is None:
            raise RuntimeError("this TransformerClassifier is not fitted: call fit(...) or TransformerClassifier.load(dir)")

    def _max_length(self) -> int:
        """Configured max_length, capped by what the encoder's position embeddings and tokenizer allow."""
        limit = self._cfg.max_length
        positions = getattr(self.model_.encoder.config, "max_position_embeddings", None)
        if positions:
            # RoBERTa-style models offset positions by padding_idx + 1; staying 2 below is safe for all.
            limit = min(limit, int(positions) - (2 if getattr(self.model_.encoder.config, "model_type", "") in
                                                 ("roberta", "xlm-roberta", "camembert") else 0))
        model_max = getattr(self.tokenizer_, "model_max_length", None)
        if model_max and model_max < 100_000:
            limit = min(limit, int(model_max))
        return limit

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids for every text (truncated, special tokens added), in large chunks through the fast tokenizer."""
        max_length = self._max_length()
        ids: list[list[int]] = []
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            chunk = list(texts[start : start + _TOKENIZE_CHUNK])
            enc = self.tokenizer_(chunk, truncation=True, max_length=max_length, padding=False,
                                  return_attention_mask=False, return_token_type_ids=False)
            ids.extend(enc["input_ids"])
        return ids

    # ------------------------------------------------------------------ training

    def fit(
        self,
        texts: Sequence[str],
        Y: Mapping[str, np.ndarray],
        val_texts: Sequence[str] | None = None,
        val_Y: Mapping[str, np.ndarray] | None = None,
        progress: bool = True,
    ) -> "TransformerClassifier":
        """Fine-tune encoder and heads on `texts`/`Y`; early-stop on validation mean macro-F1 and keep the best epoch.

        Plain torch loop (see the module docstring for why not the HF Trainer): AdamW with separate learning rates
        for the pretrained encoder and the new heads, linear warmup then linear decay, gradient clipping,
        length-bucketed batches with dynamic padding, and per-task masked losses averaged over the tasks labeled
        in each batch (so the learning rate means the same whatever the number of tasks).
        Without validation data it trains `epochs` epochs and keeps the last weights.

        Args:
            texts: training posts. Y: targets per task in the `models.tasks` encoding (UNLABELED allowed).
            val_texts, val_Y: validation posts and targets (both or neither).
            progress: show a tqdm bar and per-epoch summaries.
        Returns:
            self, fitted.
        """
        cfg = self._cfg
        _check_task_names(self.tasks)
        texts = _check_texts(texts, "texts")
        if len(texts) == 0:
            raise ValueError("texts is empty: fit needs at least one labeled post")
        targets = _check_targets(self.tasks, Y, len(texts), "Y")
        if (val_texts is None) != (val_Y is None):
            raise ValueError("pass both val_texts and val_Y, or neither")
        val_targets: dict[str, np.ndarray] | None = None
        if val_texts is not None and val_Y is not None:
            val_texts = _check_texts(val_texts, "val_texts")
            val_targets = _check_targets(self.tasks, val_Y, len(val_texts), "val_Y")
            if not any(labeled_mask(t, val_targets[t.name]).any() for t in self.tasks) or not val_texts:
                logger.warning("validation data has no labeled post: early stopping is off")
                val_texts, val_targets = None, None
        for task in self.tasks:
            n_labeled = int(labeled_mask(task, targets[task.name]).sum())
            if n_labeled == 0:
                logger.warning("task %r has no labeled training post: its head stays at its random initialization",
                               task.name)

        _warn_if_slow_bf16(cfg.precision)
        with _torch_threads(cfg.num_threads):
            _seed_everything(cfg.seed)
            encoder_dir = default_encoder_dir() if self.encoder_dir is None else self.encoder_dir
            self.tokenizer_ = load_tokenizer(encoder_dir)
            self.model_ = MultiTaskTransformer.from_pretrained(encoder_dir, self.tasks, cfg.dropout)
            self._int8_model: nn.Module | None = None
            self.thresholds_ = default_thresholds(self.tasks)
            self._train(texts, targets, val_texts, val_targets, progress)
        return self

    def _loss_weights(self, targets: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor | None]:
        cfg = self._cfg
        out: dict[str, torch.Tensor | None] = {}
        for task in self.tasks:
            w = class_weights(task, targets[task.name], cfg.class_weighting, cfg.pos_weight_cap)
            out[task.name] = None if w is None else torch.tensor(w, dtype=torch.float32)
        return out

    def _loss(
        self,
        logits: Mapping[str, torch.Tensor],
        targets: Mapping[str, torch.Tensor],
        weights: Mapping[str, torch.Tensor | None],
    ) -> torch.Tensor | None:
        """Mean over tasks (those with a labeled row here) of each task's masked loss; None if nothing is labeled."""
        losses = []
        for task in self.tasks:
            z, y = logits[task.name], targets[task.name]
            if task.kind == "multi":
                mask = y != UNLABELED
                if not mask.any():
                    continue
                per = nn.functional.binary_cross_entropy_with_logits(
                    z, y.clamp(min=0).to(z.dtype), pos_weight=weights[task.name], reduction="none")
                losses.append((per * mask).sum() / mask.sum())
            else:
                if not (y != UNLABELED).any():
                    continue
                losses.append(nn.functional.cross_entropy(z, y, weight=weights[task.name], ignore_index=UNLABELED))
        if not losses:
            return None
        return torch.stack(losses).mean()

    def _optimizer(self) -> torch.optim.Optimizer:
        """AdamW with two learning rates: small for the pretrained encoder, large for the randomly initialized heads.

        No weight decay on biases and LayerNorm weights (standard for BERT fine-tuning).
        """
        cfg = self._cfg
        decay, no_decay = [], []
        for name, param in self.model_.encoder.named_parameters():
            (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
        head_w = [p for n, p in self.model_.heads.named_parameters() if n.endswith("weight")]
        head_b = [p for n, p in self.model_.heads.named_parameters() if not n.endswith("weight")]
        groups = [
            {"params": decay, "lr": cfg.learning_rate, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "lr": cfg.learning_rate, "weight_decay": 0.0},
            {"params": head_w, "lr": cfg.head_learning_rate, "weight_decay": cfg.weight_decay},
            {"params": head_b, "lr": cfg.head_learning_rate, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW([g for g in groups if g["params"]])

    def _train(
        self,
        texts: list[str],
        targets: dict[str, np.ndarray],
        val_texts: list[str] | None,
        val_targets: dict[str, np.ndarray] | None,
        progress: bool,
    ) -> None:
        cfg = self._cfg
        model = self.model_
        pad_id = int(self.tokenizer_.pad_token_id or 0)
        ids = self._encode(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        val_ids = self._encode(val_texts) if val_texts is not None else None
        weights = self._loss_weights(targets)
        y_tensors = {name: torch.from_numpy(y) for name, y in targets.items()}
        rng = np.random.default_rng(cfg.seed)

        steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
        total_steps = steps_per_epoch * cfg.epochs
        warmup = int(round(cfg.warmup_ratio * total_steps))
        optimizer = self._optimizer()

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

        self.history_: list[dict[str, Any]] = []
        best_score, best_state, best_epoch, stale = -math.inf, None, 0, 0
        # a bar only on a terminal: in logs (dvc repro, CI, nohup) its carriage returns are noise; epochs still log
        bar = tqdm(total=total_steps, desc="fine-tune", unit="batch", disable=not (progress and sys.stderr.isatty()),
                   leave=False)
        try:
            for epoch in range(1, cfg.epochs + 1):
                started = time.perf_counter()
                model.train()
                loss_sum, loss_rows = 0.0, 0
                for batch in _length_bucketed_batches(lengths, cfg.batch_size, rng):
                    input_ids, mask = _pad([ids[i] for i in batch], pad_id)
                    index = torch.from_numpy(batch)
                    with _autocast(cfg.precision):
                        logits = model(input_ids, mask)
                    loss = self._loss(logits, {k: v[index] for k, v in y_tensors.items()}, weights)
                    if loss is not None:
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                        optimizer.step()
                        loss_sum += float(loss.detach()) * len(batch)
                        loss_rows += len(batch)
                    scheduler.step()
                    bar.update(1)
                    if loss is not None:
                        bar.set_postfix(epoch=epoch, loss=f"{float(loss.detach()):.4f}", refresh=False)
                record: dict[str, Any] = {"epoch": epoch, "train_loss": loss_sum / max(1, loss_rows),
                                          "train_seconds": time.perf_counter() - started}
                if val_ids is not None and val_targets is not None:
                    record.update(self._validate(val_ids, val_targets, weights))
                record["seconds"] = time.perf_counter() - started
                self.history_.append(record)
                self._log_epoch(record, progress)

                if val_ids is None:
                    best_epoch = epoch
                    continue
                score = float(record["val_macro_f1"])
                if score > best_score + 1e-6:
                    best_score, best_epoch, stale = score, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        logger.info("early stop after epoch %d: no gain in val macro-F1 for %d epochs", epoch, stale)
                        break
        finally:
            bar.close()
        if best_state is not None and best_epoch != self.history_[-1]["epoch"]:
            model.load_state_dict(best_state)
        self.best_epoch_ = best_epoch
        model.eval()

    def _validate(
        self,
        val_ids: list[list[int]],
        val_targets: Mapping[str, np.ndarray],
        weights: Mapping[str, torch.Tensor | None],
    ) -> dict[str, Any]:
        """Validation loss and macro-F1 (at default 0.5 thresholds) per task and averaged over labeled tasks."""
        logits = self._logits(val_ids, self._cfg.predict_batch_size, self._cfg.precision)
        loss = self._loss(logits, {k: torch.from_numpy(v) for k, v in val_targets.items()}, weights)
        proba = self._proba_from_logits(logits)
        per_task: dict[str, float] = {}
        for task in self.tasks:
            f1 = task_macro_f1(task, val_targets[task.name], decide_indices(task, proba[task.name]))
            if f1 is not None:
                per_task[task.name] = f1
        return {
            "val_loss": float(loss) if loss is not None else float("nan"),
            "val_macro_f1": float(np.mean(list(per_task.values()))) if per_task else float("nan"),
            "val_f1": per_task,
        }

    def _log_epoch(self, record: Mapping[str, Any], progress: bool) -> None:
        line = f"epoch {record['epoch']}: train_loss {record['train_loss']:.4f}"
        if "val_loss" in record:
            line += f", val_loss {record['val_loss']:.4f}, val_macro_f1 {record['val_macro_f1']:.4f}"
        line += f" ({record['seconds']:.1f} s)"
        if progress and sys.stderr.isatty():
            tqdm.write(line)
        else:
            logger.info(line)

    # ------------------------------------------------------------------ inference

    def _scoring_model(self, precision: str) -> nn.Module:
        if precision != "int8":
            return self.model_
        if getattr(self, "_int8_model", None) is None:
            self._int8_model = quantize_int8(self.model_)
        assert self._int8_model is not None
        return self._int8_model

    def _logits(self, ids: Sequence[Sequence[int]], batch_size: int, precision: str) -> dict[str, torch.Tensor]:
        """Logits in input order: batches formed longest-first (little padding), results written back in place."""
        if precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"precision must be one of {INFERENCE_PRECISIONS}, got {precision!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(ids)
        out = {t.name: torch.empty((n, len(t.labels)), dtype=torch.float32) for t in self.tasks}
        if n == 0:
            return out
        model = self._scoring_model(precision)
        was_training = model.training
        model.eval()
        pad_id = int(self.tokenizer_.pad_token_id or 0)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        order = np.argsort(-lengths, kind="stable")
        try:
            with torch.inference_mode(), _autocast("bf16" if precision == "bf16" else "fp32"):
                for start in range(0, n, batch_size):
                    rows = order[start : start + batch_size]
                    input_ids, mask = _pad([ids[i] for i in rows], pad_id)
                    logits = model(input_ids, mask)
                    index = torch.from_numpy(rows)
                    for name, z in logits.items():
                        out[name][index] = z.to(torch.float32)
        finally:
            model.train(was_training)
        return out

    def _proba_from_logits(self, logits: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
        proba: dict[str, np.ndarray] = {}
        for task in self.tasks:
            z = logits[task.name].to(torch.float64)
            p = torch.sigmoid(z) if task.kind == "multi" else torch.softmax(z, dim=1)
            proba[task.name] = p.numpy()
        return proba

    def predict_proba(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        precision: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Probabilities per task, (n, L) float64 in label order: softmax for single/binary, sigmoid for multi.

        Tokenizes everything at once, scores longest-first with dynamic padding and returns rows in input order.

        Args:
            texts: posts to score.
            batch_size: posts per forward pass (default `config.predict_batch_size`).
            precision: "fp32", "bf16" (autocast) or "int8" (`quantize_int8`: encoder Linear layers in int8, built once and
                cached); default `config.inference_precision`, else `config.precision`.
        """
        self._check_fitted()
        cfg = self._cfg
        texts = _check_texts(texts, "texts")
        precision = precision or cfg.scoring_precision
        _warn_if_slow_bf16(precision)
        with _torch_threads(cfg.num_threads):
            ids = self._encode(texts)
            logits = self._logits(ids, batch_size or cfg.predict_batch_size, precision)
        return self._proba_from_logits(logits)

    def predict(self, texts: Sequence[str], batch_size: int | None = None,
                precision: str | None = None) -> dict[str, list[Any]]:
        """Decisions per task via `models.tasks.decide` and `thresholds_` (a label, or a list of labels for multi)."""
        proba = self.predict_proba(texts, batch_size=batch_size, precision=precision)
        thresholds = getattr(self, "thresholds_", None) or {}
        return {t.name: decide(t, proba[t.name], thresholds.get(t.name)) for t in self.tasks}

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str | Path) -> Path:
        """Write a self-contained artifact: encoder + tokenizer (save_pretrained), heads, config, tasks, thresholds.

        Layout: `encoder/` (HF model dir), `heads.safetensors`, `classifier.json`. Nothing refers back to the
        encoder directory the model was trained from, so the folder loads offline on any machine.
        """
        self._check_fitted()
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        with quiet_hub_progress():
            self.model_.encoder.save_pretrained(str(folder / _ENCODER_SUBDIR))
        self.tokenizer_.save_pretrained(str(folder / _ENCODER_SUBDIR))
        heads = {k: v.detach().contiguous() for k, v in self.model_.heads.state_dict().items()}
        save_file(heads, str(folder / _HEADS_FILE))
        meta = {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_VERSION,
            "tasks": [t.to_dict() for t in self.tasks],
            "config": self._cfg.to_dict(),
            "thresholds": getattr(self, "thresholds_", default_thresholds(self.tasks)),
            "max_length": self._max_length(),
            "best_epoch": getattr(self, "best_epoch_", None),
            "history": getattr(self, "history_", []),
        }
        (folder / _CLASSIFIER_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, directory: str | Path) -> "TransformerClassifier":
        """Restore a saved classifier fully offline; it scores exactly like the one that was saved."""
        folder = Path(directory)
        meta = read_artifact_meta(folder / _CLASSIFIER_FILE, ARTIFACT_FORMAT, ARTIFACT_VERSION, cls.__name__)
        tasks = [TaskSpec.from_dict(t) for t in meta["tasks"]]
        config = TransformerConfig.from_dict(meta["config"])
        encoder_dir = folder / _ENCODER_SUBDIR
        self = cls(tasks, encoder_dir=encoder_dir, config=config)
        self.tokenizer_ = load_tokenizer(encoder_dir)
        self.model_ = MultiTaskTransformer.from_pretrained(encoder_dir, tasks, config.dropout)
        self.model_.heads.load_state_dict(load_file(str(folder / _HEADS_FILE)), strict=True)
        self.model_.eval()
        self._int8_model = None
        self.thresholds_ = {k: list(v) for k, v in meta["thresholds"].items()}
        self.best_epoch_ = meta.get("best_epoch")
        self.history_ = meta.get("history", [])
        return self
