"""CLI commands of this package (thin wrappers over its library functions)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
