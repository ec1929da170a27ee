"""The ensemble: equal shares by default, weights chosen on validation follow the better member, and the artifact
scores as it was fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import make_labeled_table, settings
from models.artifact import ModelBundle, load_bundle
from models.tasks import TaskSpec
from training.data import encode_targets
from training.metrics import evaluate_all, mean_macro_f1
from training.recipe import combine, fit_recipe, log_loss

URGENCY = TaskSpec("urgency", "single", ("low", "high"))
TOPICS = TaskSpec("topics", "multi", ("cost", "dosing", "safety"))
FLAG = TaskSpec("flag", "binary", ("no", "yes"), "yes")
SPECS = [URGENCY, TOPICS, FLAG]
TAXONOMY = {"version": "t-1", "tasks": [s.to_dict() for s in SPECS]}


def split(table, rows):  # noqa: ANN001, ANN201
    part = table.iloc[rows]
    columns = part.to_dict(orient="list")
    columns["topics"] = [[t for t in v.split("|") if t] for v in columns["topics"]]
    return list(part["text"]), encode_targets(SPECS, columns)


def test_log_loss_matches_scikit_learn() -> None:
    from sklearn.metrics import log_loss as sk_log_loss

    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], 50)
    y = rng.integers(0, 3, 50)
    assert log_loss(TaskSpec("t", "single", ("a", "b", "c")), p, y) == pytest.approx(sk_log_loss(y, p, labels=[0, 1, 2]))


@pytest.mark.slow
def test_the_ensemble_leans_on_the_better_member_and_round_trips(tmp_path: Path) -> None:
    from models.transformer.encoder import tiny_encoder

    table = make_labeled_table(360, seed=5)
    train, validation, test = split(table, slice(0, 220)), split(table, slice(220, 290)), split(table, slice(290, 360))
    # a transformer that barely trained (one epoch, tiny, tiny learning rate) against a good baseline
    config = settings(baseline={"min_df": 1}, safety={"task": "flag"}, ensemble={"baseline_weight": None},
                      transformer={"encoder": str(tiny_encoder(tmp_path / "enc")), "epochs": 1, "batch_size": 32,
                                   "learning_rate": 1e-6, "head_learning_rate": 1e-5})
    baseline = fit_recipe("baseline", SPECS, train, validation, config)
    transformer = fit_recipe("transformer", SPECS, train, validation, config, progress=False)
    ensemble = combine(SPECS, baseline, transformer, validation, config)
    assert all(w >= 0.7 for w in ensemble.model.weights.values()), ensemble.model.weights
    # the shipped default: both calibrated members, half each, whatever validation says
    halves = combine(SPECS, baseline, transformer, validation, config.replace("ensemble", baseline_weight=0.5))
    assert halves.model.weights == {s.name: 0.5 for s in SPECS}
    members = halves.model.member_proba(test[0])
    mixed = halves.model.predict_proba(test[0])
    for spec in SPECS:
        np.testing.assert_allclose(mixed[spec.name], (members["baseline"][spec.name] + members["transformer"][spec.name]) / 2)

    def test_f1(recipe) -> float:  # noqa: ANN001
        from models.calibration import apply_temperatures

        proba = apply_temperatures(SPECS, recipe.model.predict_proba(test[0]), recipe.temperatures)
        return mean_macro_f1(evaluate_all(SPECS, proba, test[1], recipe.thresholds))

    assert test_f1(ensemble) >= test_f1(baseline) - 0.05 and test_f1(ensemble) > test_f1(transformer)

    bundle = ModelBundle("ensemble", ensemble.model, TAXONOMY, ensemble.thresholds)
    loaded = load_bundle(bundle.save(tmp_path / "bundle"))
    assert loaded.kind == "ensemble" and loaded.model.weights == ensemble.model.weights
    before, after = bundle.predict_proba(test[0]), loaded.predict_proba(test[0])
    for spec in SPECS:
        np.testing.assert_allclose(after[spec.name], before[spec.name], rtol=0, atol=1e-6)
    assert loaded.predict_frame(__import__("pandas").DataFrame({"text": test[0]})).equals(
        bundle.predict_frame(__import__("pandas").DataFrame({"text": test[0]})))
