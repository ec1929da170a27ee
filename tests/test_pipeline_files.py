"""The DVC pipeline reruns what a change affects, and what makes runs comparable across clones is in git.

Each stage's `deps` must cover every project module its command imports (directly or through other project
modules, lazily imported ones included), so that editing redaction reruns scoring and editing the taxonomy
code reruns training. The frozen test ids and the metrics files are tracked in git, not ignored, so that two
clones compare models on the same posts and `dvc metrics diff` has history.
"""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "labeling", "models", "training", "inference")


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_modules(tree: ast.AST, current: str) -> set[str]:
    """Project modules a piece of code imports (module-level and inside functions), with their parent packages."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(current.split(".")[: -node.level] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            if name.split(".")[0] not in PACKAGES:
                continue
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                if module_file(".".join(parts[:i])) is not None:
                    found.add(".".join(parts[:i]))
    return found


def closure(start: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        todo.extend(imported_modules(ast.parse(path.read_text(encoding="utf-8")), name) - seen)
    return seen


def command_modules(subcommand: str) -> set[str]:
    """What `occ <subcommand>` imports: its CLI module, and everything the command's body imports."""
    from occ import app

    for group in app.registered_groups:
        for command in group.typer_instance.registered_commands:
            if command.name == subcommand:
                function = command.callback
                module = function.__module__
                body = ast.parse(textwrap.dedent(inspect.getsource(function)))
                cli_tree = ast.parse(Path(inspect.getsourcefile(function)).read_text(encoding="utf-8"))
                top_level = ast.Module(body=[n for n in cli_tree.body if isinstance(n, (ast.Import, ast.ImportFrom))],
                                       type_ignores=[])
                parents = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
                # the CLI module's own file is a dep, but its other commands' lazy imports are not this command's
                return {module} | closure(parents | imported_modules(body, module) | imported_modules(top_level, module))
    raise AssertionError(f"no occ subcommand {subcommand!r}")


def stage_commands() -> list[tuple[str, str, list[str]]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    found = []
    for name, stage in stages.items():
        deps = [str(d) for d in stage.get("deps", [])]
        for sub in re.findall(r"\bocc ([a-z-]+)", stage["cmd"]):
            found.append((name, sub, deps))
    return found


@pytest.mark.parametrize("stage, subcommand, deps", stage_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_every_stage_depends_on_the_code_its_command_imports(stage: str, subcommand: str, deps: list[str]) -> None:
    covered = [ROOT / d for d in deps]
    missing = []
    for module in sorted(command_modules(subcommand)):
        path = module_file(module)
        if not any(path == dep or dep in path.parents for dep in covered):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"dvc.yaml stage {stage} (occ {subcommand}) misses deps on {missing}"


def test_the_checker_sees_lazy_imports() -> None:
    assert "labeling.ingest.redaction.patterns" in command_modules("score")  # imported inside functions
    assert "labeling.taxonomy" in command_modules("train")


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_frozen_test_ids_and_metrics_are_not_ignored_by_git() -> None:
    for path in ("data/frozen_test_ids.txt", "metrics/baseline.json", "metrics/champion.json",
                 "metrics/transformer_history.csv"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert ignored.returncode == 1, f"{path} is ignored by git; it must be tracked"
    assert subprocess.run(["git", "check-ignore", "-q", "data/scored/x.parquet"], cwd=ROOT).returncode == 0
