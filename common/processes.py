"""Worker processes that never outlive the run that started them.

Why: a process pool's workers wait on a pipe; if the main process is SIGKILLed they get no word and can sit
there for ever, holding memory and files (a fork server did, in our tests). Workers are spawned (forking a
process that already runs pyarrow or torch threads is not safe), and each starts a thread that ends it within
a second of the main process's death.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable


def cpu_workers(configured: int | None = None) -> int:
    """`configured`, or one per CPU core this process may run on (its affinity, not the machine's count)."""
    if configured is not None:
        return configured
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def spawn_pool(workers: int, initializer: Callable[..., None] | None = None,
               initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of `workers` spawned processes that exit with this one; `initializer(*initargs)` runs in each."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(os.getpid(), initializer, initargs))


def _start(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="parent-watch").start()
    if initializer is not None:
        initializer(*initargs)
    # What the worker holds for its whole life (modules, the pipeline, a model) is moved out of the cyclic
    # garbage collector's sight: otherwise every full collection walks it again (measured: 5% of the row-pipeline
    # workers' CPU in `occ score` on 10^6 posts, docs/SCALING.md).
    gc.freeze()


def _exit_with(parent: int) -> None:
    """End this worker once the main process is gone (a SIGKILL gives it no chance to shut the pool down)."""
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # pragma: no cover - the pid was reused by another user's process
            os._exit(1)
