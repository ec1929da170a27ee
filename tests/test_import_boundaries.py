"""Imports flow one way (docs/ARCHITECTURE.md): posts -> labeling -> training -> models -> inference.

common (settings, errors, atomic writes, progress) imports nothing of the project and everyone may import it;
labeling and models import only common; training may use labeling and models; inference may use labeling
and models but never training (a scoring job must not depend on training code).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "labeling", "training", "models", "inference")
ALLOWED = {
    "common": set(),
    "labeling": {"common"},
    "models": {"common"},
    "training": {"common", "labeling", "models"},
    "inference": {"common", "labeling", "models"},
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
    assert internal_imports(ROOT / "occ.py") >= {"labeling", "training", "inference"}
