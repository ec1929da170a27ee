"""Where MLflow tracking and the registry live: `MLFLOW_TRACKING_URI` if set, else a local SQLite file.

The embedded default (a SQLite store and an artifact folder in the working directory) needs no server;
pointing `MLFLOW_TRACKING_URI` at a server switches everything over without code changes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from common.errors import OccError

logger = logging.getLogger(__name__)

DEFAULT_DB = "mlflow.db"
DEFAULT_ARTIFACTS = "mlartifacts"


class TrackingError(OccError, RuntimeError):
    """The tracking server or store cannot be reached; the message names it and the fix."""


def configure_tracking() -> str:
    """Set the tracking URI once, from the environment or the embedded default; returns it."""
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        uri = f"sqlite:///{Path(DEFAULT_DB).resolve()}"
        os.environ["MLFLOW_TRACKING_URI"] = uri
    mlflow.set_tracking_uri(uri)
    return uri


def ensure_experiment(name: str) -> str:
    """Create the experiment with artifacts in ./mlartifacts when tracking is a local file store."""
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    uri = mlflow.get_tracking_uri()
    location = Path(DEFAULT_ARTIFACTS).resolve().as_uri() if uri.startswith("sqlite:") else None
    return mlflow.create_experiment(name, artifact_location=location)


def check_reachable(timeout_s: float = 10.0) -> None:
    """Fail fast with one line when a remote tracking server does not answer."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s).read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise TrackingError(f"MLflow tracking server {uri} is unreachable ({exc}); start it or fix MLFLOW_TRACKING_URI") from exc
