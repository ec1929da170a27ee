"""Scores from label definitions alone: sentence embeddings of posts against embeddings of `name: description`.

Why: on day one a team has a taxonomy and no labels. The bundled sentence encoder (all-MiniLM-L6-v2, trained
for semantic similarity with mean pooling) places a post near the definitions it matches, so the cosine
similarity to each label's definition ranks posts per label well enough to (a) pick a first batch that holds
likely examples of every label, rare ones included (`occ label select --strategy coverage`), and (b) show a
first ranking (`occ label zero-shot`). It is a starting point for labeling, not a classifier to trust.

Scores: single-label and binary tasks take a softmax of the similarities over the task's labels at a low
temperature (similarities of one encoder span a narrow range); a multi-label task has no "none of them"
prototype, so each label's similarity is compared with its own distribution over the scored posts: a post
scores 0.5 at the label's `multi_quantile` quantile (default: the top 10% of posts are called positive).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from common.errors import OccError
from models.tasks import TaskSpec, as_texts

TEMPERATURE = 0.05
"""Softmax temperature over cosine similarities (MiniLM similarities of related sentences span ~0.1-0.6)."""
MULTI_QUANTILE = 0.9
"""A multi-label label is predicted for posts above this quantile of its similarity over the scored posts."""


class MissingDescriptionsError(OccError, ValueError):
    """Zero-shot scoring needs a description for every label; the message names the ones without."""


def prototype_text(label: str, description: str) -> str:
    """`name: description`, with the name's underscores as spaces (names are identifiers, not words)."""
    return f"{label.replace('_', ' ')}: {description.strip()}"


class SentenceEncoder:
    """Mean-pooled, L2-normalized sentence embeddings from a local encoder folder (default: the packaged
    all-MiniLM-L6-v2). Posts are embedded longest-first in batches (little padding), in input order."""

    def __init__(self, encoder_dir: str | Path | None = None, max_length: int = 128, batch_size: int = 64,
                 precision: str = "auto") -> None:
        self.encoder_dir = encoder_dir
        self.max_length = max_length
        self.batch_size = batch_size
        self.precision = precision
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._model is not None:
            return
        from models.transformer.encoder import default_encoder_dir, load_encoder, load_tokenizer

        folder = self.encoder_dir or default_encoder_dir()
        self._tokenizer = load_tokenizer(folder)
        self._model = load_encoder(folder).eval()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        from models.transformer.network import pad
        from models.transformer.precision import autocast, resolve_precision

        texts = as_texts(texts)
        self._load()
        assert self._model is not None and self._tokenizer is not None
        out = np.zeros((len(texts), int(self._model.config.hidden_size)), dtype=np.float32)
        if not texts:
            return out
        ids = self._tokenizer(texts, truncation=True, max_length=self.max_length, padding=False,
                              return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        order = np.argsort(-np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)), kind="stable")
        precision = resolve_precision(self.precision, ("fp32", "bf16"))
        pad_id = int(self._tokenizer.pad_token_id or 0)
        with torch.inference_mode(), autocast(precision):
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                input_ids, mask = pad([ids[i] for i in rows], pad_id)
                hidden = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state.to(torch.float32)
                weights = mask.unsqueeze(-1).to(torch.float32)
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
                out[rows] = torch.nn.functional.normalize(pooled, dim=1).numpy()
        return out


class ZeroShotClassifier:
    """Label-definition similarities and pseudo-probabilities for every task, in the `models.tasks` encoding.

    Args:
        tasks: the task specs.
        descriptions: {task: {label: description}}; every label needs one (`MissingDescriptionsError`).
        encoder: the sentence encoder (default: the packaged one).
    """

    def __init__(self, tasks: Sequence[TaskSpec], descriptions: Mapping[str, Mapping[str, str]],
                 encoder: SentenceEncoder | None = None, temperature: float = TEMPERATURE,
                 multi_quantile: float = MULTI_QUANTILE) -> None:
        missing = [f"{t.name}.{label}" for t in tasks for label in t.labels
                   if not str(descriptions.get(t.name, {}).get(label, "")).strip()]
        if missing:
            raise MissingDescriptionsError(
                f"zero-shot scoring needs a description for every label; these have none: {', '.join(missing[:10])}"
                f"{' ...' if len(missing) > 10 else ''}. Add `description:` to them in the taxonomy file")
        if not temperature > 0 or not 0 < multi_quantile < 1:
            raise ValueError("temperature must be > 0 and multi_quantile in (0, 1)")
        self.tasks = list(tasks)
        self.descriptions = {t.name: {l: str(descriptions[t.name][l]) for l in t.labels} for t in tasks}
        self.encoder = encoder or SentenceEncoder()
        self.temperature = temperature
        self.multi_quantile = multi_quantile
        self._prototypes: dict[str, np.ndarray] | None = None

    def prototypes(self) -> dict[str, np.ndarray]:
        if self._prototypes is None:
            texts = [prototype_text(l, self.descriptions[t.name][l]) for t in self.tasks for l in t.labels]
            vectors = self.encoder.embed(texts)
            out, start = {}, 0
            for task in self.tasks:
                out[task.name] = vectors[start : start + len(task.labels)]
                start += len(task.labels)
            self._prototypes = out
        return self._prototypes

    def similarities(self, texts: Sequence[str] | None = None, embeddings: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """{task: (n, L) cosine similarity of each post to each label's definition}."""
        vectors = embeddings if embeddings is not None else self.encoder.embed(as_texts(texts or []))
        return {name: vectors @ proto.T for name, proto in self.prototypes().items()}

    def probabilities(self, similarities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from scipy.special import expit, softmax

        out: dict[str, np.ndarray] = {}
        for task in self.tasks:
            if task.name not in similarities:
                continue
            sim = np.asarray(similarities[task.name], dtype=np.float64)
            if task.kind == "multi":
                cut = np.quantile(sim, self.multi_quantile, axis=0) if len(sim) else np.zeros(sim.shape[1])
                out[task.name] = expit((sim - cut) / self.temperature)
            else:
                out[task.name] = softmax(sim / self.temperature, axis=1)
        return out

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.probabilities(self.similarities(texts))
