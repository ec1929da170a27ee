"""The label taxonomy: the only source of task and label names in the project.

Everything else (datasets, models, scoring, the report) receives a `Taxonomy` object or the plain dict it
serializes to, so a user's own YAML works without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from common.errors import OccError

TASK_KINDS = ("single", "multi", "binary")
TOP_KEYS = ("version", "tasks")
TASK_KEYS = ("name", "kind", "description", "positive", "labels")
LABEL_KEYS = ("name", "description")


class TaxonomyError(OccError, ValueError):
    """The taxonomy file is malformed; the message names the problem and the fix."""


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""


@dataclass(frozen=True)
class Task:
    """One classification task. `positive` names the flagged label of a binary task."""

    name: str
    kind: str
    labels: tuple[Label, ...]
    description: str = ""
    positive: str | None = None

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def is_multi(self) -> bool:
        return self.kind == "multi"


@dataclass(frozen=True)
class Taxonomy:
    version: str
    tasks: tuple[Task, ...]
    source: str = field(default="", compare=False)

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"task {name!r} is not in taxonomy {self.version!r}; tasks: {self.task_names}")

    @property
    def task_names(self) -> list[str]:
        return [task.name for task in self.tasks]

    def to_dict(self) -> dict[str, Any]:
        """The YAML-shaped dict that travels inside model artifacts."""
        tasks = []
        for task in self.tasks:
            entry: dict[str, Any] = {"name": task.name, "kind": task.kind, "description": task.description}
            if task.positive is not None:
                entry["positive"] = task.positive
            entry["labels"] = [{"name": l.name, "description": l.description} for l in task.labels]
            tasks.append(entry)
        return {"version": self.version, "tasks": tasks}


def default_taxonomy_path() -> Path:
    return Path(str(resources.files("labeling") / "taxonomy.yaml"))


def _fail(source: str, message: str) -> TaxonomyError:
    return TaxonomyError(f"taxonomy {source}: {message}")


def taxonomy_from_dict(data: Any, source: str = "<dict>") -> Taxonomy:
    """Validate a parsed taxonomy and build the typed object; every problem names its fix."""
    if not isinstance(data, dict):
        raise _fail(source, "the top level must be a mapping with `version` and `tasks`")
    _no_unknown_keys(source, data, TOP_KEYS, "the top level")
    version = data.get("version")
    if version is None or str(version).strip() == "":
        raise _fail(source, 'missing `version`; add e.g. version: "2026-11-1" (it travels inside every model)')
    raw_tasks = data.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise _fail(source, "`tasks` must be a non-empty list")
    tasks: list[Task] = []
    seen_tasks: set[str] = set()
    for index, raw in enumerate(raw_tasks):
        if not isinstance(raw, dict):
            raise _fail(source, f"task #{index + 1} must be a mapping")
        _no_unknown_keys(source, raw, TASK_KEYS, f"task #{index + 1} ({raw.get('name')!r})")
        name = str(raw.get("name") or "").strip()
        if not name or not name.replace("_", "").isalnum():
            raise _fail(source, f"task #{index + 1} needs a `name` made of letters, digits and underscores")
        if name in seen_tasks:
            raise _fail(source, f"task name {name!r} appears twice; task names must be unique")
        seen_tasks.add(name)
        kind = raw.get("kind")
        if kind not in TASK_KINDS:
            raise _fail(source, f"task {name!r} has kind {kind!r}; use one of {', '.join(TASK_KINDS)}")
        raw_labels = raw.get("labels")
        if not isinstance(raw_labels, list) or not raw_labels:
            raise _fail(source, f"task {name!r} needs a non-empty `labels` list")
        labels: list[Label] = []
        for label in raw_labels:
            if isinstance(label, dict):
                _no_unknown_keys(source, label, LABEL_KEYS, f"label {label.get('name')!r} of task {name!r}")
                label_name, desc = label.get("name"), label.get("description", "")
            else:
                label_name, desc = label, ""
            if isinstance(label_name, bool):  # YAML 1.1 reads bare yes/no as booleans
                raise _fail(source, f"task {name!r}: quote label names like \"yes\"/\"no\" (YAML reads them as booleans)")
            label_name = str(label_name or "").strip()
            if not label_name or "|" in label_name:
                raise _fail(source, f"task {name!r}: label names must be non-empty and must not contain '|'")
            labels.append(Label(label_name, str(desc or "")))
        names = [l.name for l in labels]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise _fail(source, f"task {name!r} repeats label(s) {duplicates}; label names must be unique per task")
        positive = raw.get("positive")
        if isinstance(positive, bool):
            raise _fail(source, f"task {name!r}: quote `positive` (\"yes\"), YAML reads a bare yes as a boolean")
        if kind == "binary":
            if len(labels) != 2:
                raise _fail(source, f"binary task {name!r} needs exactly two labels, has {len(labels)}")
            if positive is None or str(positive) not in names:
                raise _fail(source, f"binary task {name!r} needs `positive:` naming one of {names}")
            positive = str(positive)
        elif kind == "single" and len(labels) < 2:
            raise _fail(source, f"single-label task {name!r} needs at least two labels")
        elif positive is not None:
            raise _fail(source, f"`positive` only applies to binary tasks, not to {kind} task {name!r}")
        tasks.append(Task(name, kind, tuple(labels), str(raw.get("description") or ""), positive))
    return Taxonomy(str(version), tuple(tasks), source)


def _no_unknown_keys(source: str, mapping: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Refuse keys the format does not have. The usual cause is an unquoted comma in a one-line
    `{name: x, description: a, b}` entry, which YAML reads as a key `b` and a description cut at the comma."""
    unknown = [str(k) for k in mapping if k not in allowed]
    if unknown:
        raise _fail(source, f"{where} has unknown key(s) {unknown}; allowed: {', '.join(allowed)}. If a description "
                            "contains a comma inside {...}, quote it: description: \"a, b\"")


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy YAML; `None` loads the default one shipped with the package."""
    target = Path(path) if path else default_taxonomy_path()
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaxonomyError(f"taxonomy {target}: cannot read it ({exc.strerror or exc})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"taxonomy {target}: not valid YAML ({exc})") from exc
    return taxonomy_from_dict(data, str(target))
