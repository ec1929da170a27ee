"""Column mappings: map another export's fields onto the post contract with a YAML file, not code.

A mapping names, for each contract field, where to find it in the source record:
- a dotted path into nested objects: `author.public_metrics.followers_count`;
- a list index: `attachments.0.id`;
- a filter on a list of objects: `referenced_tweets[type=replied_to].id`;
- a list of alternatives (the first one present wins): `[author_handle, author.username]`;
- a constant: `{const: x}` (e.g. the platform of a single-platform export).
Fields the mapping does not name are read under their contract name, so partial mappings are fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from common.errors import OccError
from labeling.ingest.schema import POST_SCHEMA

CONTRACT_FIELDS = tuple(POST_SCHEMA.names)
_FILTER = re.compile(r"^(?P<key>[^\[\]]+)\[(?P<field>[^=\]]+)=(?P<value>[^\]]*)\]$")


class MappingError(OccError, ValueError):
    """The mapping file is malformed; the message names the problem and the fix."""


@dataclass(frozen=True)
class ColumnMapping:
    name: str
    fields: dict[str, Any]  # contract field -> path spec (str | list[str] | {"const": value})

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """Return a record keyed by contract field names (values not yet type-checked). The identity mapping
        returns the record itself (readers of a mapped record only `.get` contract fields, and copying them cost
        a tenth of the row pipeline); treat the result as read-only."""
        if not self.fields:  # the identity mapping: the hot path of ingest and scoring
            return record
        out: dict[str, Any] = {}
        for field_name in CONTRACT_FIELDS:
            spec = self.fields.get(field_name, field_name)
            out[field_name] = _resolve(record, spec)
        return out


def _get_path(record: Any, path: str) -> Any:
    if isinstance(record, dict) and path in record:  # exact key first: CSV headers may contain dots
        return record[path]
    current = record
    for part in path.split("."):
        if current is None:
            return None
        match = _FILTER.match(part)
        if match:
            items = current.get(match["key"]) if isinstance(current, dict) else None
            if not isinstance(items, list):
                return None
            current = next(
                (i for i in items if isinstance(i, dict) and str(i.get(match["field"])) == match["value"]), None
            )
        elif isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else None
        else:
            return None
    return current


def _resolve(record: dict[str, Any], spec: Any) -> Any:
    if isinstance(spec, dict):
        return spec.get("const")
    if isinstance(spec, list):
        for alternative in spec:
            value = _resolve(record, alternative)
            if value is not None and value != "":
                return value
        return None
    return _get_path(record, str(spec))


IDENTITY = ColumnMapping("contract", {})


def builtin_mappings() -> dict[str, Path]:
    """Mappings shipped with the package, by name (`--mapping x_api_v2` works as well as a path)."""
    folder = resources.files("labeling.ingest") / "mappings"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def load_mapping(name_or_path: str | Path | None) -> ColumnMapping:
    if name_or_path is None:
        return IDENTITY
    builtin = builtin_mappings()
    path = builtin.get(str(name_or_path), Path(name_or_path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(
            f"mapping {name_or_path}: cannot read it ({exc.strerror or exc}); built-in mappings: {', '.join(sorted(builtin))}"
        ) from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping {path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise MappingError(f"mapping {path}: expected a `columns:` mapping of contract field -> source path")
    unknown = sorted(set(data["columns"]) - set(CONTRACT_FIELDS))
    if unknown:
        raise MappingError(f"mapping {path}: unknown contract field(s) {unknown}; valid fields: {', '.join(CONTRACT_FIELDS)}")
    return ColumnMapping(str(data.get("name") or path.stem), dict(data["columns"]))
