"""The servable artifact: one folder holding everything that decides a prediction, and its MLflow pyfunc.

Layout of a bundle folder:
    occ_model.json   kind (baseline | transformer | ensemble), taxonomy (with version), thresholds, product dictionary
    model/           the fitted model family's own save() output (weights, tokenizer, vectorizer)
    checksums.json   sha256 of every file, verified before anything is deserialized (pickles included)

The pyfunc takes a DataFrame with `text` and returns, for every task, `<task>` (the label, or the list of labels
of a multi-label task) and `<task>_scores` (every label's probability, in the taxonomy's label order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd

from common.checksums import sha256_file
from common.errors import OccError
from common.settings import MODEL_KINDS
from models.calibration import apply_temperatures
from models.tasks import TaskSpec, decide, specs_from_taxonomy_dict

BUNDLE_META = "occ_model.json"
CHECKSUMS = "checksums.json"
MODEL_SUBDIR = "model"
ARTIFACT_KEY = "occ_bundle"


class ArtifactError(OccError, RuntimeError):
    """A model artifact is missing, corrupted or incompatible; the message says which and what to do."""


class MultiTaskModel(Protocol):
    thresholds_: dict[str, list[float]]

    def predict_proba(self, texts: Sequence[str], **kwargs: Any) -> dict[str, np.ndarray]: ...

    def save(self, directory: str | Path) -> Any: ...


def _load_family(kind: str, directory: Path) -> MultiTaskModel:
    if kind == "baseline":
        from models.baseline import TfidfMultiTaskClassifier

        return TfidfMultiTaskClassifier.load(directory)
    if kind == "transformer":
        from models.transformer import TransformerClassifier

        return TransformerClassifier.load(directory)
    if kind == "ensemble":
        from models.ensemble import EnsembleClassifier

        return EnsembleClassifier.load(directory)
    raise ArtifactError(f"unknown model kind {kind!r}; expected one of {MODEL_KINDS}")


class DeferredModel:
    """A bundle folder's model, loaded on first use.

    Why: `occ score` keeps the model out of its main process (a transformer scores in a process of its own, the
    baseline in the row pipeline's workers), and loading it there anyway cost that process torch, transformers
    and the weights: about 300 MB of the MiniLM run's peak. Pickled, it is only the folder's path, so each
    process that scores loads the model from the folder (checksums verified again) instead of receiving it.
    """

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind, self.directory = kind, Path(directory)
        self._model: MultiTaskModel | None = None

    def loaded(self) -> MultiTaskModel:
        if self._model is None:
            verify_bundle(self.directory.parent)
            self._model = _load_family(self.kind, self.directory)
        return self._model

    @property
    def thresholds_(self) -> dict[str, list[float]]:
        return self.loaded().thresholds_

    def predict_proba(self, texts: Sequence[str], **kwargs: Any) -> dict[str, np.ndarray]:
        return self.loaded().predict_proba(texts, **kwargs)

    def save(self, directory: str | Path) -> Any:
        return self.loaded().save(directory)

    def __getstate__(self) -> dict[str, Any]:
        return {"kind": self.kind, "directory": str(self.directory)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["kind"], Path(state["directory"]))  # type: ignore[misc]


def _file_checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file() and p.name != CHECKSUMS}


@dataclass
class ModelBundle:
    """A loaded artifact: the model, its task specs, thresholds, taxonomy and product dictionary."""

    kind: str
    model: MultiTaskModel
    taxonomy: dict[str, Any]
    thresholds: dict[str, list[float]]
    products: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, list[float]] | None = None
    """Per-task temperatures fitted on validation (`models.calibration`); None for models without."""

    @property
    def specs(self) -> list[TaskSpec]:
        return specs_from_taxonomy_dict(self.taxonomy)

    @property
    def taxonomy_version(self) -> str:
        return str(self.taxonomy["version"])

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None,
                      precision: str | None = None) -> dict[str, np.ndarray]:
        kwargs: dict[str, Any] = {}
        if self.kind in ("transformer", "ensemble"):
            kwargs = {"batch_size": batch_size, "precision": precision}
        proba = self.model.predict_proba(list(texts), **kwargs)
        return apply_temperatures(self.specs, proba, self.calibration)

    def predict_frame(self, frame: pd.DataFrame, batch_size: int | None = None,
                      precision: str | None = None) -> pd.DataFrame:
        if "text" not in frame.columns:
            raise ArtifactError(f"model input needs a `text` column; got columns {list(frame.columns)}")
        texts = frame["text"].fillna("").astype(str).tolist()
        proba = self.predict_proba(texts, batch_size=batch_size, precision=precision)
        return decisions_frame(self.specs, proba, self.thresholds, index=frame.index)

    def save(self, directory: str | Path) -> Path:
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        self.model.save(root / MODEL_SUBDIR)
        meta = {"kind": self.kind, "taxonomy": self.taxonomy, "thresholds": self.thresholds,
                "products": self.products, "info": self.info, "calibration": self.calibration}
        (root / BUNDLE_META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        (root / CHECKSUMS).write_text(json.dumps(_file_checksums(root), indent=2, sort_keys=True), encoding="utf-8")
        return root


def decisions_frame(specs: Sequence[TaskSpec], proba: Mapping[str, np.ndarray],
                    thresholds: Mapping[str, Sequence[float]], index: Any = None) -> pd.DataFrame:
    columns: dict[str, Any] = {}
    for spec in specs:
        p = np.asarray(proba[spec.name], dtype=float)
        columns[spec.name] = decide(spec, p, thresholds.get(spec.name))
        # float32, as the scored parts store them: both engines write the very same numbers, and confident
        # posts keep distinct scores (fixed-decimal rounding tied them)
        columns[f"{spec.name}_scores"] = [row.tolist() for row in p.astype(np.float32)]
    return pd.DataFrame(columns, index=index)


def read_bundle_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / BUNDLE_META
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: missing or unreadable model metadata ({exc}); the artifact is not an occ model "
                            "or is corrupted: re-register it with `occ train`") from exc


def verify_bundle(directory: str | Path) -> None:
    """Refuse an artifact whose files changed since it was saved, before unpickling anything."""
    root = Path(directory)
    try:
        expected = json.loads((root / CHECKSUMS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{root}: no readable {CHECKSUMS}; the artifact is incomplete or corrupted") from exc
    for relative, digest in expected.items():
        path = root / relative
        if not path.is_file():
            raise ArtifactError(f"model artifact file {relative} is missing: the artifact is incomplete; re-log the model")
        if sha256_file(path) != digest:
            raise ArtifactError(f"model artifact file {relative} does not match its checksum: the artifact is "
                                "corrupted or was tampered with; re-log the model")


def load_bundle(directory: str | Path, defer_model: bool = False) -> ModelBundle:
    """The bundle in `directory`, checksums verified first; `defer_model` loads the model only when it is used
    (`DeferredModel`), so the folder must then stay where it is while the bundle is in use."""
    root = Path(directory)
    verify_bundle(root)
    meta = read_bundle_meta(root)
    if meta.get("kind") not in MODEL_KINDS:
        raise ArtifactError(f"unknown model kind {meta.get('kind')!r}; expected one of {MODEL_KINDS}")
    model: MultiTaskModel = (DeferredModel(meta["kind"], root / MODEL_SUBDIR) if defer_model
                             else _load_family(meta["kind"], root / MODEL_SUBDIR))
    return ModelBundle(meta["kind"], model, meta["taxonomy"], {k: list(v) for k, v in meta["thresholds"].items()},
                       meta.get("products"), meta.get("info", {}), meta.get("calibration"))


try:
    import mlflow.pyfunc as _pyfunc

    _PythonModel: Any = _pyfunc.PythonModel
except ImportError:  # pragma: no cover - mlflow is a core dependency; kept importable for minimal installs
    _PythonModel = object


class OccPyfuncModel(_PythonModel):  # type: ignore[misc, valid-type]
    """MLflow pyfunc entry point; loading needs only this project installed (no hub, no network)."""

    def load_context(self, context: Any) -> None:
        self.bundle = load_bundle(context.artifacts[ARTIFACT_KEY])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        batch_size = params.get("batch_size") or None
        precision = params.get("precision")  # "auto" (older signatures: "default") resolves per machine
        precision = None if precision in (None, "", "default", "auto") else str(precision)
        return self.bundle.predict_frame(model_input, batch_size=batch_size, precision=precision)


def pip_requirements() -> list[str]:
    """Pinned runtime requirements of the artifact (MLflow guessed torch for a scikit-learn model; docs/PERFORMANCE.md)."""
    from importlib.metadata import version

    names = ["mlflow", "scikit-learn", "pandas", "numpy", "pyarrow", "joblib", "torch", "transformers", "tokenizers", "safetensors"]
    requirements = []
    for name in names:
        try:
            requirements.append(f"{name}=={version(name)}")
        except Exception:  # noqa: BLE001 - a missing optional package is simply not pinned
            continue
    return requirements


def log_bundle(bundle_dir: str | Path, name: str = "model", input_example: pd.DataFrame | None = None,
               registered_model_name: str | None = None) -> Any:
    """Log a saved bundle as an MLflow pyfunc model with a signature and an input example."""
    import mlflow
    from mlflow.models import infer_signature

    bundle = load_bundle(bundle_dir)
    example = input_example if input_example is not None else pd.DataFrame(
        {"text": ["Any long-term safety data for this drug in CKD patients?"]})
    output = bundle.predict_frame(example)
    default_params = {"batch_size": 64, "precision": "auto"}
    signature = infer_signature(example[["text"]], output, params=default_params)
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=OccPyfuncModel(),
        artifacts={ARTIFACT_KEY: str(bundle_dir)},
        signature=signature,
        input_example=example[["text"]],
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model_name,
    )
