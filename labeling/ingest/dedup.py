"""The de-duplication index on disk: which post ids and which (author, text) fingerprints a run has kept.

Why on disk: an exact in-memory index (every post id and fingerprint of the run) grew with the dump, 1.3 GB at
150,000 posts, so a 10^7-post dump did not fit on one machine. SQLite (in the standard library, one file
beside the run) holds it in B-trees and is asked once per batch, so memory stays at its page cache
(`ingest.dedup_cache_mb`) whatever the dump's size. Measured against the in-memory sets it replaced, see
bench/bench_ingest.py.

Semantics are exactly those of the row pipeline: first occurrence wins. A row whose post id was seen is a
`same_post_id` duplicate; otherwise a row with an author whose fingerprint was seen is a
`same_author_same_text` duplicate of the post kept first (its id is then remembered too). Every entry records
the chunk it came from, so a resumed scoring run drops what an interrupted chunk added and continues from
exactly the state after the last finished chunk.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from common.sqlite_lookup import rows_where_in

_SIGN = 1 << 63


def _signed(fingerprint: int) -> int:
    """SQLite integers are signed 64-bit; fingerprints are unsigned."""
    return fingerprint - (1 << 64) if fingerprint >= _SIGN else fingerprint


class DedupIndex:
    """First-occurrence-wins de-duplication over a whole run, with memory bounded by the page cache.

    `durable=True` (a resumable scoring run) commits every batch with a full sync, so the index on disk is never
    behind the progress file written after it; ingest, which is not resumed, skips the journal.
    """

    def __init__(self, path: Path, cache_mb: int = 4, durable: bool = False) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        if durable:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        else:
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(f"PRAGMA cache_size=-{int(cache_mb) * 1024}")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.execute("CREATE TABLE IF NOT EXISTS ids (post_id TEXT PRIMARY KEY, chunk INTEGER NOT NULL) WITHOUT ROWID")
        self._db.execute("CREATE TABLE IF NOT EXISTS texts (fp INTEGER PRIMARY KEY, post_id TEXT NOT NULL, "
                         "chunk INTEGER NOT NULL)")

    def rewind(self, chunks_done: int) -> int:
        """Forget what chunks from `chunks_done` on added (an interrupted run's last, unfinished chunk)."""
        with self._transaction():
            removed = self._db.execute("DELETE FROM ids WHERE chunk >= ?", (chunks_done,)).rowcount
            removed += self._db.execute("DELETE FROM texts WHERE chunk >= ?", (chunks_done,)).rowcount
        return removed

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction per batch (the connection is in autocommit mode: without BEGIN every insert would be
        its own transaction, 10x slower)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _known_ids(self, post_ids: Sequence[str]) -> set[str]:
        return {r[0] for r in rows_where_in(self._db, "SELECT post_id FROM ids", "post_id", post_ids)}

    def _known_texts(self, fingerprints: Sequence[int]) -> dict[int, str]:
        return dict(rows_where_in(self._db, "SELECT fp, post_id FROM texts", "fp", fingerprints))

    def admit(self, post_ids: Sequence[str], fingerprints: Sequence[int], authored: Sequence[bool],
              chunk: int) -> list[tuple[str, str] | None]:
        """Decide a batch of clean rows in input order: None for a row kept, else (kind, post id it duplicates).

        `fingerprints` are `text_fingerprint` values; `authored` says whether the row has an author (text
        duplicates are only looked for then). The batch's new entries are committed before this returns.
        """
        signed = [_signed(fp) for fp in fingerprints]
        seen_ids = self._known_ids(post_ids)
        seen_texts = self._known_texts(signed)
        new_ids: dict[str, None] = {}
        new_texts: dict[int, str] = {}
        decisions: list[tuple[str, str] | None] = []
        for post_id, fp, has_author in zip(post_ids, signed, authored):
            if post_id in seen_ids or post_id in new_ids:
                decisions.append(("same_post_id", post_id))
                continue
            new_ids[post_id] = None
            kept = seen_texts.get(fp)
            if kept is None:
                kept = new_texts.get(fp)
            if has_author and kept is not None:
                decisions.append(("same_author_same_text", kept))
                continue
            if kept is None:
                new_texts[fp] = post_id
            decisions.append(None)
        with self._transaction():  # in key order: neighbouring inserts touch the same B-tree pages
            self._db.executemany("INSERT INTO ids VALUES (?, ?)", ((p, chunk) for p in sorted(new_ids)))
            self._db.executemany("INSERT INTO texts VALUES (?, ?, ?)",
                                 ((fp, new_texts[fp], chunk) for fp in sorted(new_texts)))
        return decisions

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "DedupIndex":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
