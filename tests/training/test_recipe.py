"""The training recipe: the shipped baseline learns from validation too, with thresholds from out-of-fold
probabilities; the transformer's refit trains the chosen epoch count on train + validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import make_labeled_table, settings
from models.tasks import TaskSpec
from training.data import encode_targets
from training.recipe import fit_recipe, out_of_fold_proba

URGENCY = TaskSpec("urgency", "single", ("low", "high"))
TOPICS = TaskSpec("topics", "multi", ("cost", "dosing", "safety"))
FLAG = TaskSpec("flag", "binary", ("no", "yes"), "yes")
SPECS = [URGENCY, TOPICS, FLAG]


def split(table, rows):  # noqa: ANN001, ANN201 - test helper
    part = table.iloc[rows]
    columns = part.to_dict(orient="list")
    columns["topics"] = [[t for t in v.split("|") if t] for v in columns["topics"]]
    return list(part["text"]), encode_targets(SPECS, columns)


@pytest.fixture
def data():  # noqa: ANN201
    table = make_labeled_table(300, seed=4)
    train, validation = split(table, slice(0, 220)), split(table, slice(220, 300))
    # a word only validation posts use: a refit model knows it, a model fit on train alone cannot
    validation = ([t + " zyxqvalidonly" for t in validation[0]], validation[1])
    return train, validation


def test_the_refit_baseline_learns_from_validation_posts_and_tunes_on_out_of_fold_probabilities(data) -> None:  # noqa: ANN001
    train, validation = data
    shipped = fit_recipe("baseline", SPECS, train, validation, settings(baseline={"min_df": 1}, safety={"task": "flag"}))
    assert "zyxqvalidonly" in set(shipped.model.featurizer_.feature_names_)
    assert shipped.refit.startswith("train+validation (5-fold")
    assert shipped.used_config["refit"] is True and shipped.used_config["refit_folds"] == 5
    # thresholds were chosen on every train + validation label (out of fold), not on validation alone
    assert shipped.validation_metrics["urgency"]["support"] == len(train[0]) + len(validation[0])
    assert shipped.model.thresholds_ == shipped.thresholds

    plain = fit_recipe("baseline", SPECS, train, validation,
                       settings(baseline={"min_df": 1, "refit": False}, safety={"task": "flag"}))
    assert "zyxqvalidonly" not in set(plain.model.featurizer_.feature_names_)
    assert plain.refit == "train" and plain.validation_metrics["urgency"]["support"] == len(validation[0])


def test_out_of_fold_probabilities_come_from_models_that_did_not_see_the_post() -> None:
    """Labels that are pure noise: a model scoring its own training posts memorizes them (unique tokens), one
    scoring posts it did not see is at chance. Leakage between folds would show as the first."""
    rng = np.random.default_rng(0)
    n = 400
    texts = [f"token{i} filler words here" for i in range(n)]
    y = {"flag": rng.integers(0, 2, n)}
    spec = [FLAG]
    config = settings(baseline={"min_df": 1, "C": 100.0}, safety={"task": "flag"})
    oof = out_of_fold_proba("baseline", spec, (texts, y), config, folds=5, seed=0)
    oof_accuracy = float(np.mean(oof["flag"].argmax(axis=1) == y["flag"]))

    from models.baseline import TfidfMultiTaskClassifier

    seen = TfidfMultiTaskClassifier(tasks=spec, min_df=1, C=100.0).fit(texts, y).predict_proba(texts)
    seen_accuracy = float(np.mean(seen["flag"].argmax(axis=1) == y["flag"]))
    assert seen_accuracy > 0.9 and 0.4 < oof_accuracy < 0.6, (seen_accuracy, oof_accuracy)


@pytest.mark.slow
def test_the_transformer_refit_trains_the_chosen_epochs_on_train_and_validation(data, tmp_path: Path) -> None:  # noqa: ANN001
    from models.transformer.encoder import tiny_encoder

    train, validation = data
    encoder = str(tiny_encoder(tmp_path / "enc"))
    config = settings(transformer={"encoder": encoder, "epochs": 3, "patience": 1, "refit": True, "batch_size": 32},
                      safety={"task": "flag"})
    shipped = fit_recipe("transformer", SPECS, train, validation, config, progress=False)
    epochs = int(shipped.refit.split("(")[1].split(" ")[0])
    assert 1 <= epochs <= 3 and shipped.refit.startswith("train+validation")
    assert len(shipped.model.history_) == epochs  # one run of exactly the chosen epochs, no validation
    assert all("val_macro_f1" not in record for record in shipped.model.history_)
    assert shipped.used_config["epochs"] == epochs and shipped.used_config["refit"] is True


def test_a_taxonomy_without_the_safety_task_trains_without_a_recall_target(data) -> None:  # noqa: ANN001
    train, validation = data
    shipped = fit_recipe("baseline", SPECS, train, validation, settings(baseline={"min_df": 1, "refit": False}))
    assert shipped.safety is None and set(shipped.thresholds) == {"topics", "flag"}
