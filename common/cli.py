"""What every `occ` subcommand shares: the --params option, and turning a user error into one readable line.

A user error (`OccError`: bad input, file or setting) prints `error: <message>` and exits 2, with the
traceback only when `OCC_LOG_LEVEL=DEBUG`; any other exception is a bug and propagates with its traceback.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from common.errors import OccError

logger = logging.getLogger("occ")

ParamsOption = Annotated[Optional[Path], typer.Option("--params", help="params.yaml to read (default: ./params.yaml, else the packaged defaults).")]

USER_ERROR_EXIT = 2


def fail(message: str, code: int = USER_ERROR_EXIT) -> typer.Exit:
    """One readable line on stderr and a non-zero exit, for checks made in the CLI layer itself."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn `OccError` raised inside the block into `error: ...` and exit 2; let every other exception through."""
    try:
        yield
    except OccError as exc:
        if os.environ.get("OCC_LOG_LEVEL", "").upper() == "DEBUG":
            logger.exception("user error (traceback shown because OCC_LOG_LEVEL=DEBUG)")
        raise fail(str(exc)) from exc
