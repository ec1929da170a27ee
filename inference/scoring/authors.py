"""The author pass of a scoring run, with the author-type model where one is configured.

Why here and not in labeling/authors: the rules live upstream (labeling must not import models), while a
registered author-type model is a model like any other; this module wraps it as the `TypeModel` callback the
author pass accepts, so the rules and the model meet without either package importing the other's side.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from common.errors import OccError
from common.settings import AuthorSettings
from labeling.authors.author_pass import write_author_tables
from labeling.authors.classify import AuthorProfile
from labeling.authors.documents import AUTHOR_TASK, author_document
from labeling.authors.resolve import AUTHORS_FILE, TypeModel

logger = logging.getLogger(__name__)


class AuthorModelError(OccError, ValueError):
    """The configured author-type model does not answer the author-type task."""


def type_model_from_uri(uri: str) -> TypeModel:
    """Load the model `uri` names once and return the callback (most probable type and its probability)."""
    from models.registry import load_pinned, pin

    pinned = pin(uri)
    bundle = load_pinned(pinned)
    spec = next((s for s in bundle.specs if s.name == AUTHOR_TASK and s.kind == "single"), None)
    if spec is None:
        raise AuthorModelError(f"authors.model {uri} has no single-label task {AUTHOR_TASK!r} (tasks: "
                               f"{', '.join(s.name for s in bundle.specs)}); train it on the taxonomy "
                               "labeling/authors/taxonomy.yaml")

    def ask(profiles: Sequence[AuthorProfile]) -> list[tuple[str, float]]:
        proba = bundle.predict_proba([author_document(p) for p in profiles])[AUTHOR_TASK]
        best = np.argmax(proba, axis=1)
        return [(spec.labels[j], float(proba[i, j])) for i, j in enumerate(best)]

    logger.info("author-type model %s (version %s) answers where the rules are unsure", pinned.uri, pinned.version)
    return ask


def author_pass(parts: Sequence[Path], out_dir: Path, settings: AuthorSettings, workers: int = 1,
                progress: bool = False) -> dict[str, Any]:
    """`labeling.authors.author_pass.write_author_tables` with the configured author-type model, if any."""
    model = type_model_from_uri(settings.model) if settings.model else None
    summary = write_author_tables(parts, out_dir, settings, model, workers=workers, progress=progress)
    if settings.model:
        summary["type_model"] = settings.model
    return summary


def author_types(out_dir: Path) -> dict[str, str]:
    """author_id -> author_type of the run's author pass (empty when there is none)."""
    import pyarrow.parquet as pq

    path = Path(out_dir) / AUTHORS_FILE
    if not path.is_file():
        return {}
    table = pq.read_table(path, columns=["author_id", "author_type"])
    return dict(zip(table.column("author_id").to_pylist(), table.column("author_type").to_pylist()))
