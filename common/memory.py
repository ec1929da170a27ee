"""Giving freed memory back to the operating system between the stages of a long job (the report, the author pass).

The report builds and drops several large temporaries (per-part Arrow tables while reading, merged frames in
the gap table, per-scope graphs). Python, pandas and numpy free them, but glibc's malloc keeps freed heap pages
in the process for reuse, and pyarrow's pool keeps its own; peak RSS then grows by what earlier stages left
behind rather than by what the current stage holds. Returning both pools at stage boundaries keeps the peak
near what is live (measured in `bench/bench_report.py`, see `gaps.py`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

import pyarrow as pa

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> object | None:
    """glibc's `malloc_trim`, or None where the C library is not glibc (macOS, musl, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return getattr(libc, "malloc_trim", None)
    except OSError:  # pragma: no cover - no loadable C library
        return None


def release_memory() -> None:
    """Return freed memory of pyarrow's pool and of the C heap to the OS (a no-op where that is not possible)."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]
