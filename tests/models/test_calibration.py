"""Temperature scaling: calibrated on validation, reliable on held-out data, and stored scores keep their order."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from scipy.special import expit, softmax

from inference.scoring.outputs import scored_table
from labeling.ingest.schema import INGESTED_SCHEMA
from models.calibration import apply_temperatures, fit_temperatures
from models.tasks import TaskSpec
from training.metrics import expected_calibration_error

AE = TaskSpec("ae", "binary", ("no", "yes"), "yes")
TONE = TaskSpec("tone", "single", ("neg", "neu", "pos"))
TOPICS = TaskSpec("topics", "multi", ("a", "b"))


def overconfident(n: int, seed: int) -> tuple[dict, dict]:
    """True probabilities sigmoid(z) / softmax(z); the model reports the same logits times 4 (over-confident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, n)
    y_ae = (rng.random(n) < expit(z)).astype(np.int64)
    zz = rng.normal(0, 1.5, (n, 3))
    y_tone = np.array([rng.choice(3, p=row) for row in softmax(zz, axis=1)])
    zm = rng.normal(0, 2, (n, 2))
    y_topics = (rng.random((n, 2)) < expit(zm)).astype(np.int8)
    proba = {"ae": np.stack([1 - expit(4 * z), expit(4 * z)], axis=1), "tone": softmax(4 * zz, axis=1),
             "topics": expit(np.stack([4 * zm[:, 0], 2 * zm[:, 1]], axis=1))}
    return proba, {"ae": y_ae, "tone": y_tone, "topics": y_topics}


def test_calibrated_scores_pass_a_reliability_check_on_held_out_data() -> None:
    val_p, val_y = overconfident(4000, 0)
    test_p, test_y = overconfident(4000, 1)
    temps = fit_temperatures([AE, TONE, TOPICS], val_p, val_y)
    assert temps["ae"][0] == pytest.approx(4.0, rel=0.15) and temps["tone"][0] == pytest.approx(4.0, rel=0.15)
    assert temps["topics"][0] == pytest.approx(4.0, rel=0.15) and temps["topics"][1] == pytest.approx(2.0, rel=0.15)
    calibrated = apply_temperatures([AE, TONE, TOPICS], test_p, temps)
    before = expected_calibration_error(test_p["ae"][:, 1], test_y["ae"].astype(float))
    after = expected_calibration_error(calibrated["ae"][:, 1], test_y["ae"].astype(float))
    assert before > 0.08 and after < 0.03, (before, after)
    tone_after = expected_calibration_error(calibrated["tone"].max(axis=1),
                                            (calibrated["tone"].argmax(axis=1) == test_y["tone"]).astype(float))
    assert tone_after < 0.04
    np.testing.assert_array_equal(calibrated["tone"].argmax(axis=1), test_p["tone"].argmax(axis=1))  # decisions kept


def test_a_confident_models_stored_scores_keep_the_order_of_its_logits() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    logits = np.sort(rng.uniform(-30, 30, n))  # a saturated model, like a fine-tuned transformer
    proba = {"ae": np.stack([expit(-logits), expit(logits)], axis=1)}
    y = (rng.random(n) < expit(logits / 6)).astype(np.int64)  # the truth is far less sure
    temps = fit_temperatures([AE], proba, {"ae": y})
    assert temps["ae"][0] > 3
    calibrated = apply_temperatures([AE], proba, temps)
    base = {field.name: None for field in INGESTED_SCHEMA}
    rows = [{**base, "post_id": f"p{i}", "text": "t", "products": []} for i in range(n)]
    table = scored_table(rows, [AE], calibrated, {"ae": [0.5]},
                         {"model_name": "m", "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc)})
    stored = np.array([row["yes"] for row in table.column("ae_scores").to_pylist()])
    assert np.all(np.diff(stored) > 0)  # strictly increasing with the logits: no two posts tie
    rounded = np.round(expit(logits), 6)  # what fixed-decimal storage of the raw scores did
    assert len(np.unique(rounded)) < 0.6 * n
