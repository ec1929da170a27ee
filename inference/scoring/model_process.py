"""A transformer scores in a process of its own, replaced every `score.model_process_posts` posts.

Why: scored in the main process, a transformer made that process grow with the dump (about 240 bytes per
post on glibc's main heap; docs/SCALING.md). Neither Python objects, the tokenizer, `malloc_trim`, a fixed mmap
threshold nor fewer malloc arenas accounted for it or stopped it. A process that ends hands all its memory
back to the operating system, so replacing the scoring process every few hundred thousand posts bounds the
growth whatever its cause, and the main process keeps only the row pipeline's results, de-duplication and
writing. The child runs the same bundle on the same chunks with the same batch size and precision, so its
scores equal those made in the main process (`tests/inference/test_model_process.py`).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from common.errors import OccError
from common.processes import spawn_pool

logger = logging.getLogger(__name__)

TextScorer = Callable[[list[str]], dict[str, np.ndarray]]
_CHILD: dict[str, TextScorer] = {}


def _load(score_texts: TextScorer) -> None:
    _CHILD["score_texts"] = score_texts


def _score(texts: list[str]) -> tuple[int, dict[str, np.ndarray]]:
    return os.getpid(), _CHILD["score_texts"](texts)


class ModelProcessError(OccError, RuntimeError):
    """The scoring process ended without answering; the chunks written before it stay, and `--resume` goes on."""


class ModelProcess:
    """Calls `score_texts` on each table's texts in one spawned process, started again after `posts_per_process` posts.

    A process is replaced only between chunks, so a chunk is always scored whole by one process. `pids`
    records every process that scored (the manifest reports how many there were).
    """

    def __init__(self, score_texts: TextScorer, posts_per_process: int) -> None:
        if posts_per_process <= 0:
            raise ValueError("posts_per_process must be positive")
        self._score_texts = score_texts
        self.posts_per_process = posts_per_process
        self._pool: ProcessPoolExecutor | None = None
        self._posts_in_process = 0
        self._outstanding: list[Future] = []
        self.pids: list[int] = []

    def _start(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = spawn_pool(1, _load, (self._score_texts,))
            self._posts_in_process = 0
        return self._pool

    def submit(self, table: pa.Table) -> Callable[[], dict[str, np.ndarray]]:
        """Start scoring `table`'s texts; returns what waits for the probabilities. The caller can judge the next
        chunk meanwhile: the row pipeline and the model then run side by side."""
        if self._pool is not None and self._posts_in_process >= self.posts_per_process:
            logger.info("replacing the scoring process after %d posts", self._posts_in_process)
            wait(self._outstanding)  # chunks already handed over are scored by the process that took them
            self.close()
        # a list of strings, not the Arrow table: the child need not hold Arrow buffers for the texts
        future = self._start().submit(_score, table.column("text").to_pylist())
        self._outstanding = [f for f in self._outstanding if not f.done()] + [future]
        self._posts_in_process += table.num_rows

        def result() -> dict[str, np.ndarray]:
            try:
                pid, proba = future.result()
            except BrokenProcessPool as exc:
                raise ModelProcessError(
                    "the model's scoring process ended unexpectedly (killed, or out of memory: check `dmesg`); the "
                    "chunks written so far are kept: rerun the same command with --resume, with a smaller "
                    "score.batch_size or score.model_process_posts if memory ran out") from exc
            if pid not in self.pids:
                self.pids.append(pid)
            return proba

        return result

    def __call__(self, table: pa.Table) -> dict[str, np.ndarray]:
        return self.submit(table)()

    def start(self) -> None:
        """Start the process now, so that its start-up overlaps the first chunk's row pipeline (the model itself
        loads from its folder when the first chunk arrives: `models.artifact.DeferredModel`)."""
        self._start().submit(int, 0)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "ModelProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
