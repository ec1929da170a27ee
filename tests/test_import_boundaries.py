"""Imports flow one way (docs/ARCHITECTURE.md): posts -> labeling -> training -> models -> inference.

common (settings, errors, atomic writes, progress) imports nothing of the project and everyone may import it;
labeling and models import only common; training may use labeling and models; inference may use labeling
and models but never training (a scoring job must not depend on training code).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "labeling", "training", "models", "inference", "review")
ALLOWED = {
    "common": set(),
    "labeling": {"common"},
    "models": {"common"},
    "training": {"common", "labeling", "models"},
    "inference": {"common", "labeling", "models"},
    "review": {"common", "labeling"},  # reads scored runs and reports as files; writes only its own database
}


def internal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in PACKAGES)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_it_may(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {}
    for path in files:
        bad = internal_imports(path) - ALLOWED[package] - {package}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"forbidden imports (flow is labeling -> training -> models -> inference): {offenders}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from training.cli import app\nimport inference.scoring.run\n", encoding="utf-8")
    assert internal_imports(module) == {"training", "inference"}


def test_only_the_root_module_imports_every_package() -> None:
    assert internal_imports(ROOT / "occ.py") >= {"labeling", "training", "inference", "review"}


def module_imports(path: Path) -> set[str]:
    """Full dotted names of the project modules a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


SUBPACKAGES = {
    # subpackage: project modules (prefixes) it may import besides itself
    "labeling/ingest": ("common", "labeling.authors.signals"),  # profile signals are derived per row at ingest
    "labeling/authors": ("common",),
    "labeling/demo": ("common", "labeling.taxonomy"),
    "models/baseline": ("common", "models.tasks", "models.thresholds", "models.metrics"),
    "models/transformer": ("common", "models.tasks", "models.metrics"),
    "inference/scoring": ("common", "labeling.ingest", "labeling.authors", "models"),
    "inference/insights": ("common", "labeling.authors"),
    "labeling/loop": ("common", "labeling.taxonomy", "labeling.annotations", "labeling.dataset"),
}
"""Rooms inside a package keep to their job too: ingest knows nothing of labels, one model family nothing of the
other, scoring nothing of the report and the report nothing of scoring (it reads scored runs as files)."""


@pytest.mark.parametrize("room", SUBPACKAGES)
def test_each_room_imports_only_its_foundations(room: str) -> None:
    own = room.replace("/", ".")
    allowed = SUBPACKAGES[room] + (own,)
    offenders = {}
    for path in sorted((ROOT / room).rglob("*.py")):
        bad = {m for m in module_imports(path) if not any(m == a or m.startswith(a + ".") for a in allowed)}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"{room} imports outside its room: {offenders}"


def test_documents_cited_in_code_exist() -> None:
    cited = set()
    for path in [*ROOT.glob("*.py"), *(p for d in PACKAGES + ("bench",) for p in (ROOT / d).rglob("*.py"))]:
        cited.update(re.findall(r"docs/[A-Z_]+\.md", path.read_text(encoding="utf-8")))
        bare = re.findall(r"(?<![/\w])(?:DESIGN|STACK|STYLE|RELIABILITY)\.md", path.read_text(encoding="utf-8"))
        assert not bare, f"{path.relative_to(ROOT)} cites {bare}: cite a file under docs/"
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert cited and not missing, f"cited but absent: {missing}"
