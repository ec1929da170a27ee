"""Reading `params.yaml`: one file, read once by the CLI, split into typed sections by each stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS_FILE = "params.yaml"


class ParamsError(ValueError):
    """params.yaml is missing a section or holds a value of the wrong kind."""


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Load params.yaml from `path`, else from the working directory, else the copy shipped in the package.

    The packaged copy means an installed `occ` works outside a checkout with the documented defaults.
    """
    candidates = [Path(path)] if path else [Path(DEFAULT_PARAMS_FILE), Path(__file__).with_name("default_params.yaml")]
    for candidate in candidates:
        if candidate.is_file():
            data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict):
                raise ParamsError(f"{candidate}: the top level must be a mapping of sections")
            return data
    raise ParamsError(f"no params file found (looked for {', '.join(str(c) for c in candidates)})")


def section(params: dict[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name, {})
    if not isinstance(value, dict):
        raise ParamsError(f"params.yaml: section `{name}` must be a mapping")
    return value
