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

import json
import logging
import math
import random
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from common.settings import TransformerSettings, from_mapping, to_dict
from models.metrics import task_macro_f1, task_ranking_score
from models.tasks import (TaskSpec, as_texts, check_specs, check_targets, decide, decide_indices, default_thresholds,
                          labeled_mask, read_artifact_meta, UNLABELED)
from models.transformer.encoder import default_encoder_dir, load_tokenizer, quiet_hub_progress
from models.transformer.network import (MultiTaskTransformer, class_weights, length_bucketed_batches, pad,
                                        task_loss_weight)
from models.transformer.precision import (INFERENCE_PRECISIONS, PRECISIONS, autocast, quantize_int8,
                                          resolve_precision, torch_threads, warn_if_slow_bf16)

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "occ-transformer"
ARTIFACT_VERSION = 1
_CLASSIFIER_FILE = "classifier.json"
_HEADS_FILE = "heads.safetensors"
_ENCODER_SUBDIR = "encoder"

_TOKENIZE_CHUNK = 4096
"""Texts per fast-tokenizer call: large enough to amortize call overhead, small enough to bound memory."""
PREDICT_BATCH_SIZE = 64
"""Posts per forward pass when the caller names none (speed only; `occ score` passes score.batch_size)."""
_LEGACY_CONFIG_KEYS = ("inference_precision", "predict_batch_size")
"""Keys older artifacts stored that are no longer model settings (scoring precision and batch size belong to
`occ score`); dropped when such an artifact loads."""


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)



def _encoder_label(encoder: str | None) -> str | None:
    """The encoder's folder name, never a machine path, for artifacts and MLflow params."""
    return None if encoder is None else Path(str(encoder)).name


def special_wrapping(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after a single text (e.g. [CLS] and [SEP]), read off one encoding."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for i in range(len(full) - len(bare) + 1):
        if full[i : i + len(bare)] == bare:
            return list(full[:i]), list(full[i + len(bare):])
    raise ValueError("cannot find where this tokenizer puts its special tokens")


def head_and_tail(tokenizer: Any, body: list[int], max_length: int) -> list[int]:
    """Special tokens around `body`, cut to `max_length` by keeping its first quarter and last three quarters."""
    prefix, suffix = special_wrapping(tokenizer)
    return prefix + _cut(list(body), max_length - len(prefix) - len(suffix)) + suffix


def _cut(body: list[int], room: int) -> list[int]:
    if len(body) <= room:
        return body
    head = room // 4
    return body[:head] + body[len(body) - (room - head):]


def _config_from_artifact(data: Mapping[str, Any], source: Path) -> TransformerSettings:
    known = {k: v for k, v in data.items() if k not in _LEGACY_CONFIG_KEYS}
    known.setdefault("truncation", "head")  # models saved before the setting existed kept the head
    return from_mapping(TransformerSettings, known, str(source), "config")


class TransformerClassifier:
    """Multi-task transformer classifier: `fit`, `predict_proba`, `predict`, `save`/`load`.

    Follows scikit-learn conventions: `__init__` only stores its arguments; `fit` builds the network from
    `encoder_dir` (default: the packaged all-MiniLM-L6-v2), trains it and returns self; fitted state ends in `_`.

    Args:
        tasks: the task specs (ordered label names travel inside the saved artifact).
        encoder_dir: a local Hugging Face model directory; None means `default_encoder_dir()`.
        config: hyperparameters (`common.settings.TransformerSettings`); None means its defaults.

    Attributes set by fit/load:
        model_: the `MultiTaskTransformer` (eval mode). tokenizer_: its fast tokenizer.
        thresholds_: per `models.tasks` (multi: one per label, binary: one on the positive label), default 0.5;
            a caller (e.g. tuning on validation data) may overwrite it, and `save` persists it.
        history_: one dict per epoch (loss curves): epoch, train_loss, train_seconds and, with validation data,
            val_loss, val_macro_f1 and val_f1 (per task, every label decided at 0.5), val_ranking (mean over tasks of
            `models.metrics.task_ranking_score`); seconds (the epoch with its validation).
        best_epoch_: the (1-based) epoch whose weights were kept.
    """

    def __init__(
        self,
        tasks: list[TaskSpec],
        encoder_dir: str | Path | None = None,
        config: TransformerSettings | None = None,
    ) -> None:
        self.tasks = tasks
        self.encoder_dir = encoder_dir
        self.config = config

    # ------------------------------------------------------------------ small accessors

    @property
    def _cfg(self) -> TransformerSettings:
        """The configuration in effect (`config`, or the defaults when None)."""
        return self.config if self.config is not None else TransformerSettings()

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
        """Token ids for every text (special tokens added), at most `max_length` of them, in large chunks.

        A longer post keeps its head, or with `truncation: head_tail` its first quarter and last three quarters
        of the window (Sun et al. 2019, "How to Fine-Tune BERT for Text Classification?": head + tail beat head
        only and chunk pooling on long reviews): what decides a review's verdict or a case's outcome is often at
        its end. Measured here too: head only 0.7 points lower, a 256-token window level (docs/BENCHMARKS.md).
        """
        max_length = self._max_length()
        ids: list[list[int]] = []
        head_tail = self._cfg.truncation == "head_tail"
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            chunk = list(texts[start : start + _TOKENIZE_CHUNK])
            if not head_tail:
                enc = self.tokenizer_(chunk, truncation=True, max_length=max_length, padding=False,
                                      return_attention_mask=False, return_token_type_ids=False)
                ids.extend(enc["input_ids"])
                continue
            enc = self.tokenizer_(chunk, add_special_tokens=False, truncation=False, padding=False,
                                  return_attention_mask=False, return_token_type_ids=False, verbose=False)
            prefix, suffix = special_wrapping(self.tokenizer_)
            room = max_length - len(prefix) - len(suffix)
            ids.extend(prefix + _cut(body, room) + suffix for body in enc["input_ids"])
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
        """Fine-tune encoder and heads on `texts`/`Y`; early-stop on a validation figure and keep the best epoch.

        The figure is `config.early_stopping`: `ranking` (threshold-free, the default) or `f1_at_half` (mean
        macro-F1 with every label decided at 0.5).

        Plain torch loop (see the module docstring for why not the HF Trainer): AdamW with separate learning rates
        for the pretrained encoder and the new heads, linear warmup then linear decay, gradient clipping,
        length-bucketed batches with dynamic padding, and per-task masked losses averaged over the tasks labeled
        in each batch, weighted by their number of decisions (`task_weighting`; the weights sum to 1, so the
        learning rate means the same whatever the number of tasks).
        Without validation data it trains `epochs` epochs and keeps the last weights.

        Args:
            texts: training posts. Y: targets per task in the `models.tasks` encoding (UNLABELED allowed).
            val_texts, val_Y: validation posts and targets (both or neither).
            progress: show a tqdm bar and per-epoch summaries.
        Returns:
            self, fitted.
        """
        cfg = self._cfg
        check_specs(self.tasks)
        texts = as_texts(texts)
        if len(texts) == 0:
            raise ValueError("texts is empty: fit needs at least one labeled post")
        targets = check_targets(self.tasks, Y, len(texts), "Y")
        if (val_texts is None) != (val_Y is None):
            raise ValueError("pass both val_texts and val_Y, or neither")
        val_targets: dict[str, np.ndarray] | None = None
        if val_texts is not None and val_Y is not None:
            val_texts = as_texts(val_texts)
            val_targets = check_targets(self.tasks, val_Y, len(val_texts), "val_Y")
            if not any(labeled_mask(t, val_targets[t.name]).any() for t in self.tasks) or not val_texts:
                logger.warning("validation data has no labeled post: early stopping is off")
                val_texts, val_targets = None, None
        for task in self.tasks:
            n_labeled = int(labeled_mask(task, targets[task.name]).sum())
            if n_labeled == 0:
                logger.warning("task %r has no labeled training post: its head stays at its random initialization",
                               task.name)

        self.training_precision_ = resolve_precision(cfg.precision, PRECISIONS)
        warn_if_slow_bf16(self.training_precision_)
        with torch_threads(cfg.num_threads):
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
        """Weighted mean over tasks (those with a labeled row here) of each task's masked loss; None if nothing is
        labeled.

        A multi-label task's loss is the mean of its labels' binary cross-entropies. With `task_weighting: labels`
        (the default) it weighs as many decisions as it has labels, a single-label or binary task one, so a
        seven-label task pulls the shared encoder as hard as its seven decisions; with `equal` every task weighs
        the same, and on the demo the evidence needs (7 labels) then trailed the baseline by 5.8 points. A model
        with one task trains the same either way.
        """
        losses, task_weights = [], []
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
            task_weights.append(task_loss_weight(task, self._cfg.task_weighting))
        if not losses:
            return None
        shares = torch.tensor(task_weights, dtype=torch.float64)
        shares = (shares / shares.sum()).to(losses[0].dtype)  # exactly 1 for a lone task: it trains bit for bit the same
        return (torch.stack(losses) * shares).sum()

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
                for batch in length_bucketed_batches(lengths, cfg.batch_size, rng):
                    input_ids, mask = pad([ids[i] for i in batch], pad_id)
                    index = torch.from_numpy(batch)
                    with autocast(self.training_precision_):
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
                # no ranking where validation holds no positive of any binary or multi-label task (and no
                # single-label task): the same every epoch, so macro-F1 at 0.5 decides instead
                ranked = cfg.early_stopping == "ranking" and not math.isnan(record["val_ranking"])
                metric = "val_ranking" if ranked else "val_macro_f1"
                score = float(record[metric])
                if score > best_score + 1e-6:
                    best_score, best_epoch, stale = score, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        logger.info("early stop after epoch %d: no gain in %s for %d epochs", epoch, metric, stale)
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
        """Validation loss; macro-F1 at 0.5 per task and its mean over labeled tasks; the mean ranking score."""
        logits = self._logits(val_ids, PREDICT_BATCH_SIZE, self.training_precision_)
        loss = self._loss(logits, {k: torch.from_numpy(v) for k, v in val_targets.items()}, weights)
        proba = self._proba_from_logits(logits)
        per_task: dict[str, float] = {}
        ranking: list[float] = []
        for task in self.tasks:
            rank = task_ranking_score(task, val_targets[task.name], proba[task.name])
            if rank is not None:
                ranking.append(rank)
            f1 = task_macro_f1(task, val_targets[task.name], decide_indices(task, proba[task.name]))
            if f1 is not None:
                per_task[task.name] = f1
        return {
            "val_loss": float(loss) if loss is not None else float("nan"),
            "val_macro_f1": float(np.mean(list(per_task.values()))) if per_task else float("nan"),
            "val_f1": per_task,
            "val_ranking": float(np.mean(ranking)) if ranking else float("nan"),
        }

    def _log_epoch(self, record: Mapping[str, Any], progress: bool) -> None:
        line = f"epoch {record['epoch']}: train_loss {record['train_loss']:.4f}"
        if "val_loss" in record:
            line += (f", val_loss {record['val_loss']:.4f}, val_macro_f1 {record['val_macro_f1']:.4f}"
                     f", val_ranking {record['val_ranking']:.4f}")
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
            with torch.inference_mode(), autocast("bf16" if precision == "bf16" else "fp32"):
                for start in range(0, n, batch_size):
                    rows = order[start : start + batch_size]
                    input_ids, mask = pad([ids[i] for i in rows], pad_id)
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
            batch_size: posts per forward pass (default `PREDICT_BATCH_SIZE`; `occ score` passes score.batch_size).
            precision: "auto" (default: bf16 where this CPU computes it natively, else fp32), "fp32", "bf16"
                (autocast) or "int8" (`quantize_int8`: encoder Linear layers in int8, built once and cached).
        """
        self._check_fitted()
        cfg = self._cfg
        texts = as_texts(texts)
        precision = resolve_precision(precision)
        warn_if_slow_bf16(precision)
        with torch_threads(cfg.num_threads):
            ids = self._encode(texts)
            logits = self._logits(ids, batch_size or PREDICT_BATCH_SIZE, precision)
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
            "config": {**to_dict(self._cfg), "encoder": _encoder_label(self._cfg.encoder)},
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
        config = _config_from_artifact(meta["config"], folder / _CLASSIFIER_FILE)
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
