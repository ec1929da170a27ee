"""`TfidfMultiTaskClassifier`: one shared TF-IDF feature space, one logistic-regression head per task.

Always trained as the floor the transformer has to beat (docs/DESIGN.md, "Models"). Targets, probabilities
and thresholds follow `models.tasks` exactly; thresholds are chosen by the caller on validation data with the
model-agnostic `models.thresholds` (training does it the same way for every family). All heads are stacked
into one weight matrix, so a post is featurized once and scored for every task by one sparse-dense product.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from common.settings import BaselineSettings
from models.baseline.features import CHUNK_ROWS, WordCharTfidf
from models.tasks import (UNLABELED, TaskSpec, as_texts, check_specs, check_targets, decide, default_thresholds,
                          read_artifact_meta)

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "occ-insights/tfidf-multitask"
ARTIFACT_FORMAT_VERSION = 1
MODEL_FILE = "baseline.joblib"
META_FILE = "baseline.json"

_DEFAULTS = BaselineSettings()
"""The estimator's defaults are the settings' defaults (one place per setting: common/settings.py)."""


@dataclass(frozen=True)
class _Head:
    """Where a task's outputs live in the stacked weights, and how they become probabilities.

    link: "softmax" (columns = classes, `labels` their label indices), "binary" (one logit for `labels[1]`
    against `labels[0]`) or "sigmoid" (one logit per label of a multi task, `labels` = 0..L-1).
    """

    task: str
    link: str
    start: int
    stop: int
    labels: tuple[int, ...]


class TfidfMultiTaskClassifier(BaseEstimator):
    """TF-IDF features shared by all tasks, with one logistic-regression head per task (one per label for
    multi-label tasks).

    Args:
        tasks: the tasks to learn, `TaskSpec`s or their dicts (label names travel with the model; the model
            never reads the taxonomy file).
        word_ngram_range: word n-gram range, or None to drop word features.
        char_ngram_range: char_wb n-gram range, or None to drop char features.
        max_features: n-grams kept per block (word, char), most frequent first; None keeps all.
        min_df: minimum document frequency of an n-gram (int count or float proportion).
        C: inverse L2 regularization strength of every head.
        class_weight: "balanced" (default) or None. Balanced weights learn rare labels and classes: on the
            public corpora they beat unweighted heads on every single-label task (macro-F1) and at any
            threshold policy on the multi-label / binary ones (bench/public_corpora.py).
        max_iter: lbfgs iterations per head.

    Labels of a multi task with no positive (or no negative) among the labeled training posts get a constant
    head predicting the smoothed prior (positives + 0.5) / (n + 1), close to 0 (or 1), instead of failing, so a
    fresh taxonomy can be trained before every label has examples; a warning names them.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec | Mapping[str, Any]] | None = None,
        word_ngram_range: tuple[int, int] | None = _DEFAULTS.word_ngram_range,
        char_ngram_range: tuple[int, int] | None = _DEFAULTS.char_ngram_range,
        max_features: int | None = _DEFAULTS.max_features,
        min_df: int | float = _DEFAULTS.min_df,
        C: float = _DEFAULTS.C,
        class_weight: str | None = _DEFAULTS.class_weight,
        max_iter: int = _DEFAULTS.max_iter,
    ):
        self.tasks = tasks
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.max_features = max_features
        self.min_df = min_df
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    # -- fit ----------------------------------------------------------------------------------------------

    def fit(self, X: Any, Y: Mapping[str, Any]) -> "TfidfMultiTaskClassifier":
        """Fit the shared features on all texts, then each task's head on the posts labeled for it.

        Args:
            X: texts (list / ndarray / Series) or a DataFrame with a `text` column.
            Y: {task: targets} in the `models.tasks` encoding; UNLABELED rows (or entries) are left out of
                that task's head only, so partially labeled posts still train the other tasks.

        Returns:
            self, with `specs_`, `featurizer_`, `weights_`, `intercepts_`, `heads_`, `thresholds_`.
        """
        specs = check_specs(self.tasks)
        self._check_hyperparameters()
        texts = as_texts(X)
        targets = check_targets(specs, Y, len(texts))
        featurizer = WordCharTfidf(
            word_ngram_range=self.word_ngram_range,
            char_ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            max_features=self.max_features,
        )
        features = featurizer.fit_transform(texts)
        columns: list[np.ndarray] = []
        intercepts: list[np.ndarray] = []
        heads: dict[str, _Head] = {}
        for spec in specs:
            start = sum(c.shape[1] for c in columns)
            # lbfgs on sparse features calls BLAS only on short vectors, where threads cost more than they
            # save (fits measured 3x slower with 2 OpenBLAS threads on a busy 2-core machine)
            with threadpool_limits(limits=1, user_api="blas"):
                link, labels, coef, intercept = self._fit_head(spec, features, targets[spec.name])
            columns.append(coef.T.astype(np.float32))
            intercepts.append(intercept.astype(np.float32))
            heads[spec.name] = _Head(spec.name, link, start, start + coef.shape[0], labels)
        self.specs_ = specs
        self.featurizer_ = featurizer
        self.weights_ = np.ascontiguousarray(np.hstack(columns))
        self.intercepts_ = np.concatenate(intercepts)
        self.heads_ = heads
        self.thresholds_ = default_thresholds(specs)
        return self

    def _check_hyperparameters(self) -> None:
        if not float(self.C) > 0:
            raise ValueError(f"C must be > 0, got {self.C!r}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")

    def _logreg(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)

    def _fit_head(
        self, spec: TaskSpec, features: sp.csr_matrix, y: np.ndarray
    ) -> tuple[str, tuple[int, ...], np.ndarray, np.ndarray]:
        """Returns (link, label indices, coef (k, n_features), intercept (k,)) for one task."""
        if spec.kind == "multi":
            coefs, intercepts, constant = [], [], []
            for j, label in enumerate(spec.labels):
                keep = y[:, j] != UNLABELED
                yj = y[keep, j]
                n_pos = int(yj.sum())
                if n_pos in (0, yj.size):
                    prior = (n_pos + 0.5) / (yj.size + 1.0)
                    coefs.append(np.zeros(features.shape[1]))
                    intercepts.append(np.log(prior / (1.0 - prior)))
                    constant.append(f"{label} ({n_pos}/{yj.size} positive)")
                    continue
                model = self._fit_logreg(spec, features[keep], yj)
                coefs.append(model.coef_[0])
                intercepts.append(model.intercept_[0])
            if constant:
                warnings.warn(
                    f"task {spec.name!r}: labels {', '.join(constant)} have a single class among the labeled "
                    "training posts; they get a constant head predicting that prior. Label posts of both kinds "
                    "to learn them.",
                    UserWarning,
                    stacklevel=3,
                )
            return "sigmoid", tuple(range(len(spec.labels))), np.vstack(coefs), np.asarray(intercepts)

        keep = y != UNLABELED
        present = np.unique(y[keep])
        if present.size < 2:
            if present.size == 0:
                raise ValueError(
                    f"task {spec.name!r} has no labeled training posts (every target is UNLABELED = {UNLABELED}); "
                    f"label some posts for it or leave {spec.name!r} out of `tasks`"
                )
            raise ValueError(
                f"task {spec.name!r}: all {int(keep.sum())} labeled training posts have label "
                f"{spec.labels[present[0]]!r}, but a classifier needs at least two classes; label posts of "
                f"another class ({', '.join(repr(l) for i, l in enumerate(spec.labels) if i != present[0])}) "
                f"or leave {spec.name!r} out of `tasks`"
            )
        missing = [spec.labels[i] for i in range(len(spec.labels)) if i not in set(present.tolist())]
        if missing:
            warnings.warn(
                f"task {spec.name!r}: no labeled training post has label(s) {missing}; they get probability 0",
                UserWarning,
                stacklevel=3,
            )
        model = self._fit_logreg(spec, features[keep], y[keep])
        labels = tuple(int(c) for c in model.classes_)
        if len(labels) == 2:
            return "binary", labels, model.coef_, model.intercept_
        return "softmax", labels, model.coef_, model.intercept_

    def _fit_logreg(self, spec: TaskSpec, features: sp.csr_matrix, y: np.ndarray) -> LogisticRegression:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = self._logreg().fit(features, y)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            logger.warning("task %r: logistic regression did not converge in max_iter=%d", spec.name, self.max_iter)
        return model

    # -- predict ------------------------------------------------------------------------------------------

    def predict_proba(self, X: Any) -> dict[str, np.ndarray]:
        """{task: (n, L) float64 probabilities in label order}; each post is featurized once for all tasks."""
        check_is_fitted(self, "weights_")
        texts = as_texts(X)
        n = len(texts)
        out = {s.name: np.zeros((n, len(s.labels))) for s in self.specs_}
        for lo in range(0, n, CHUNK_ROWS):
            hi = min(n, lo + CHUNK_ROWS)
            logits = self.featurizer_.transform(texts[lo:hi]) @ self.weights_
            logits += self.intercepts_
            for head in self.heads_.values():
                z = logits[:, head.start : head.stop].astype(np.float64)
                P = out[head.task]
                if head.link == "sigmoid":
                    P[lo:hi] = expit(z)
                elif head.link == "binary":
                    p = expit(z[:, 0])
                    P[lo:hi, head.labels[1]] = p
                    P[lo:hi, head.labels[0]] = 1.0 - p
                else:
                    P[lo:hi, list(head.labels)] = softmax(z, axis=1)
        return out

    def predict(self, X: Any) -> dict[str, list[Any]]:
        """{task: decisions}: a label per post, or a list of labels per post for multi tasks (`thresholds_`)."""
        proba = self.predict_proba(X)
        return {s.name: decide(s, proba[s.name], self.thresholds_.get(s.name)) for s in self.specs_}

    # -- persistence --------------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write `baseline.joblib` (the fitted model) and `baseline.json` (tasks, thresholds, versions).

        The JSON is the human-readable record of what decides a prediction; its thresholds are the ones
        applied on load, so an operating point can be reviewed (and changed) without unpickling.
        """
        check_is_fitted(self, "weights_")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / MODEL_FILE, compress=3)
        meta = {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_FORMAT_VERSION,
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "tasks": [s.to_dict() for s in self.specs_],
            "thresholds": {k: [float(t) for t in v] for k, v in self.thresholds_.items()},
            "params": _jsonable({k: v for k, v in self.get_params(deep=False).items() if k != "tasks"}),
            "n_features": int(self.weights_.shape[0]),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "TfidfMultiTaskClassifier":
        """Load a model written by `save`. Unpickles: load only artifacts you trust.

        Warns when the artifact was saved with another scikit-learn major.minor version (pickles are not
        guaranteed to load or to predict the same across versions).
        """
        directory = Path(directory)
        meta_path = directory / META_FILE
        meta = read_artifact_meta(meta_path, ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, cls.__name__)
        saved = str(meta.get("sklearn_version", "unknown"))
        if _major_minor(saved) != _major_minor(sklearn.__version__):
            warnings.warn(
                f"{directory}: the baseline was saved with scikit-learn {saved} but {sklearn.__version__} is "
                f"installed; it may fail to load or predict differently. Install scikit-learn=={saved} or "
                "retrain the model.",
                UserWarning,
                stacklevel=2,
            )
        model = joblib.load(directory / MODEL_FILE)
        if not isinstance(model, cls):
            raise TypeError(f"{directory / MODEL_FILE} holds a {type(model).__name__}, expected {cls.__name__}")
        tasks = tuple(TaskSpec.from_dict(t) for t in meta["tasks"])
        if tasks != model.specs_:
            raise ValueError(f"{meta_path}: task specs differ from the pickled model's; the artifact is inconsistent")
        expected = default_thresholds(tasks)
        thresholds = {k: [float(t) for t in v] for k, v in meta["thresholds"].items()}
        if {k: len(v) for k, v in thresholds.items()} != {k: len(v) for k, v in expected.items()}:
            raise ValueError(
                f"{meta_path}: thresholds must give one value per label of each multi task and one per binary "
                f"task ({ {k: len(v) for k, v in expected.items()} }), found { {k: len(v) for k, v in thresholds.items()} }"
            )
        model.thresholds_ = thresholds
        return model


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


__all__ = ["TfidfMultiTaskClassifier"]
