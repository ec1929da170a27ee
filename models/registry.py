"""Resolve a model URI to one concrete registered version, once, and load exactly that version.

Moving an alias while a run is going must change nothing, so every later step uses the pinned
`models:/NAME/VERSION` URI and the provenance (name, version, run id) goes into every output row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.errors import OccError
from models.artifact import ModelBundle

CHALLENGER = "challenger"
CHAMPION = "champion"


class ModelRefError(OccError, RuntimeError):
    """The model cannot be resolved or loaded; the message names the URI and the fix."""


@dataclass(frozen=True)
class PinnedModel:
    requested_uri: str
    uri: str
    name: str | None
    version: str | None
    run_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pin(model_uri: str) -> PinnedModel:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not model_uri.startswith("models:/"):
        return PinnedModel(model_uri, model_uri, None, None, None)
    ref = model_uri[len("models:/"):]
    client = MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            found = client.get_model_version_by_alias(name, alias)
        else:
            name, version = ref.rsplit("/", 1)
            found = client.get_model_version(name, version)
    except MlflowException as exc:
        raise ModelRefError(f"model {model_uri} was not found in the registry ({exc.message}); "
                            "list versions in the MLflow UI or train one with `occ train`") from exc
    except ValueError as exc:
        raise ModelRefError(f"model URI {model_uri!r} is malformed; use models:/NAME@ALIAS or models:/NAME/VERSION") from exc
    return PinnedModel(model_uri, f"models:/{found.name}/{found.version}", found.name, str(found.version), found.run_id)


def load_pinned(pinned: PinnedModel, defer_model: bool = False) -> ModelBundle:
    """The pinned version's bundle. `defer_model` reads only its metadata now and loads the model where it is
    first used (`models.artifact.DeferredModel`: `occ score` scores in other processes)."""
    import mlflow

    if defer_model:
        return _load_deferred(pinned)
    try:
        loaded = mlflow.pyfunc.load_model(pinned.uri)
    except Exception as exc:  # noqa: BLE001 - corrupted or missing artifacts surface as many types
        raise ModelRefError(f"cannot load model {pinned.uri}: {exc}") from exc
    python_model = loaded.unwrap_python_model()
    bundle = getattr(python_model, "bundle", None)
    if bundle is None:
        raise ModelRefError(f"{pinned.uri} is not an occ-insights model (no bundle inside); register it with `occ train`")
    return bundle


def _load_deferred(pinned: PinnedModel) -> ModelBundle:
    """The pyfunc's files are downloaded (to a folder that lasts as long as this process, as `load_model`'s do),
    and the bundle is read from the path its MLmodel file gives, without unpickling the pyfunc."""
    import mlflow
    from mlflow.models import Model

    from models.artifact import ARTIFACT_KEY, load_bundle

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=pinned.uri))
        flavor = Model.load(str(local)).flavors.get("python_function", {})
    except Exception as exc:  # noqa: BLE001 - missing files and unreachable stores surface as many types
        raise ModelRefError(f"cannot load model {pinned.uri}: {exc}") from exc
    relative = (flavor.get("artifacts") or {}).get(ARTIFACT_KEY, {}).get("path")
    if relative is None:
        raise ModelRefError(f"{pinned.uri} is not an occ-insights model (no bundle inside); register it with `occ train`")
    try:
        return load_bundle(local / relative, defer_model=True)
    except Exception as exc:  # noqa: BLE001 - as load_model's errors above
        raise ModelRefError(f"cannot load model {pinned.uri}: {exc}") from exc
