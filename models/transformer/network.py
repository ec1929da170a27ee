"""The network: a shared encoder, masked mean pooling, one linear head per task; batching helpers and loss weights."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from models.tasks import TaskSpec, check_specs, labeled_mask
from models.transformer.encoder import build_encoder, load_encoder

MEGA_BATCH = 50
"""Training batches are formed by sorting by length inside shuffled pools of this many batches (less padding,
still random order)."""


class MultiTaskTransformer(nn.Module):
    """Shared encoder -> masked mean pooling -> dropout -> one linear head per task (logits, L per task).

    Mean pooling rather than [CLS]: sentence-embedding encoders such as all-MiniLM were trained with mean pooling,
    so the pooled vector is meaningful before any fine-tuning and small data sets converge faster.
    """

    def __init__(self, encoder: PreTrainedModel, tasks: Sequence[TaskSpec], dropout: float = 0.1) -> None:
        super().__init__()
        check_specs(tasks)
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


def _class_weight_exponent(scheme: str) -> float:
    return {"none": 0.0, "inv_sqrt": 0.5, "inverse": 1.0}[scheme]


def task_loss_weight(spec: TaskSpec, task_weighting: str) -> float:
    """A task's weight in the shared encoder's loss (`transformer.task_weighting`): labels = its number of
    decisions (one per label for a multi-label task, one otherwise); equal = 1 for every task."""
    return float(len(spec.labels)) if spec.kind == "multi" and task_weighting == "labels" else 1.0


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


def pad(batch: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = np.fromiter((len(ids) for ids in batch), dtype=np.int64, count=len(batch))
    width = int(lengths.max())
    ids = np.full((len(batch), width), pad_id, dtype=np.int64)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = seq
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, sort by length inside pools of `MEGA_BATCH` batches, cut into batches, shuffle the batches.

    Neighbouring posts of similar length pad to little, and the batch order (and each pool) stays random and
    determined by `rng` alone.
    """
    order = rng.permutation(len(lengths))
    pool = batch_size * MEGA_BATCH
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
