"""Progress reporting that suits where it runs: a tqdm bar on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from tqdm import tqdm

logger = logging.getLogger(__name__)


class Progress:
    """Count rows; show rate and ETA. Logs every `log_every_s` seconds when stderr is not a terminal."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "rows", log_every_s: float = 10.0,
                 enabled: bool = True) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.count = 0
        self._start = time.monotonic()
        self._last_log = self._start
        self._log_every = log_every_s
        self._enabled = enabled
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            self._bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if self._enabled and now - self._last_log >= self._log_every:
            self._last_log = now
            rate = self.count / max(now - self._start, 1e-9)
            eta = f", ETA {(self.total - self.count) / rate:.0f}s" if self.total and rate > 0 else ""
            logger.info("%s: %d %s (%.3g %s/s%s)", self.desc, self.count, self.unit, rate, self.unit, eta)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
