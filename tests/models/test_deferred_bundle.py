"""A bundle loaded with its model deferred: metadata now, the model where it is first used, checked again there."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import make_labeled_table, settings
from models.artifact import ArtifactError, DeferredModel, ModelBundle, load_bundle
from models.tasks import TaskSpec
from training.data import encode_targets
from training.recipe import fit_recipe

URGENCY = TaskSpec("urgency", "single", ("low", "high"))
TOPICS = TaskSpec("topics", "multi", ("cost", "dosing", "safety"))
FLAG = TaskSpec("flag", "binary", ("no", "yes"), "yes")
SPECS = [URGENCY, TOPICS, FLAG]
TAXONOMY = {"version": "t-1", "tasks": [s.to_dict() for s in SPECS]}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    table = make_labeled_table(200, seed=2)
    columns = table.to_dict(orient="list")
    columns["topics"] = [[t for t in v.split("|") if t] for v in columns["topics"]]
    targets = encode_targets(SPECS, columns)
    texts = list(table["text"])
    train = (texts[:140], {k: v[:140] for k, v in targets.items()})
    validation = (texts[140:], {k: v[140:] for k, v in targets.items()})
    fitted = fit_recipe("baseline", SPECS, train, validation, settings(baseline={"min_df": 1}, safety={"task": "flag"}))
    folder = ModelBundle("baseline", fitted.model, TAXONOMY, fitted.thresholds).save(
        tmp_path_factory.mktemp("bundle") / "bundle")
    return folder, texts[140:]


def test_deferred_bundle_scores_like_the_eager_one_and_pickles_as_a_path(saved: tuple[Path, list[str]]) -> None:
    folder, texts = saved
    eager, deferred = load_bundle(folder), load_bundle(folder, defer_model=True)
    assert isinstance(deferred.model, DeferredModel) and deferred.specs == eager.specs
    assert deferred.thresholds == eager.thresholds
    shipped = pickle.dumps(deferred)
    assert len(shipped) < len(pickle.dumps(eager)) / 5  # the model itself does not travel
    again = pickle.loads(shipped).predict_proba(texts)
    for spec in SPECS:
        np.testing.assert_array_equal(again[spec.name], eager.predict_proba(texts)[spec.name])


def test_a_deferred_model_is_checked_again_where_it_loads(saved: tuple[Path, list[str]], tmp_path: Path) -> None:
    import shutil

    folder, texts = saved
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    deferred = load_bundle(copy, defer_model=True)
    victim = next(p for p in sorted((copy / "model").rglob("*")) if p.is_file())
    victim.write_bytes(victim.read_bytes() + b"tampered")  # after the metadata was read, before the model loads
    with pytest.raises(ArtifactError, match="checksum"):
        deferred.predict_proba(texts)


def test_reading_a_deferred_bundle_imports_no_model_library(saved: tuple[Path, list[str]]) -> None:
    folder, _ = saved
    code = ("import sys; from models.artifact import load_bundle; b = load_bundle(sys.argv[1], defer_model=True); "
            "print(b.kind, 'sklearn' in sys.modules, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["baseline", "False", "False"]
