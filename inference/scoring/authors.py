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
from common.sqlite_lookup import rows_where_in
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


class AuthorTypes:
    """author_id -> author_type of the run's author pass, asked a batch of ids at a time.

    Why not a dict: the adverse-event export asks for the reporters of a few thousand flagged posts per part,
    while a dict of every author (420,000 at 10^7 posts) held about 150 MB in the main process at the very end
    of scoring, the run's peak. The pairs go to a SQLite table in a temporary folder instead (the run's
    de-duplication index does the same), so memory stays at a small page cache whatever the number of authors.
    Use it as a context manager; the table is deleted on exit.
    """

    BATCH = 20_000

    def __init__(self, out_dir: Path, cache_mb: int = 4) -> None:
        import sqlite3
        import tempfile

        import pyarrow.parquet as pq

        self._folder = tempfile.TemporaryDirectory(prefix="occ-author-types-")
        self._db = sqlite3.connect(Path(self._folder.name) / "types.sqlite", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{int(cache_mb) * 1024}"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE types (author_id TEXT PRIMARY KEY, author_type TEXT) WITHOUT ROWID")
        self.count = 0
        path = Path(out_dir) / AUTHORS_FILE
        if path.is_file():
            self._db.execute("BEGIN")
            for batch in pq.ParquetFile(path).iter_batches(self.BATCH, columns=["author_id", "author_type"]):
                self._db.executemany("INSERT OR REPLACE INTO types VALUES (?, ?)",
                                     ((a, t) for a, t in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist())
                                      if a is not None))
                self.count += batch.num_rows
            self._db.execute("COMMIT")

    def __call__(self, author_ids: Sequence[str]) -> dict[str, str]:
        """The types of those of `author_ids` the author pass typed (others are left out)."""
        return dict(rows_where_in(self._db, "SELECT author_id, author_type FROM types", "author_id",
                                  [a for a in author_ids if a]))

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()

    def __enter__(self) -> "AuthorTypes":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
