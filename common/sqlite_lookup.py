"""Asking an embedded SQLite table about many keys at once, for the on-disk indexes that keep memory flat.

Why a helper: the de-duplication index and the reporters' types of the adverse-event export both look up a
batch of keys per call; one `IN (...)` statement per slice of keys is far faster than a query per key, and
SQLite caps the parameters of one statement.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Hashable, Sequence

MAX_PARAMS = 30_000
"""Keys per statement: below SQLite's limit of 32,766 bound parameters."""


def rows_where_in(db: sqlite3.Connection, select: str, column: str, keys: Sequence[Hashable]) -> list[tuple[Any, ...]]:
    """The rows of `select` ("SELECT ... FROM table") whose `column` is one of `keys` (each distinct key once)."""
    unique = list(dict.fromkeys(keys))
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(unique), MAX_PARAMS):
        part = unique[i:i + MAX_PARAMS]
        rows.extend(db.execute(f"{select} WHERE {column} IN ({','.join('?' * len(part))})", part).fetchall())
    return rows
