"""The TF-IDF baseline: estimator conventions, learning on a synthetic corpus, masking, thresholds, artifacts.

`parametrize_with_checks` cannot drive an estimator whose targets are a dict of tasks, so the scikit-learn
conventions it would check are written out here. The corpus is generated from templates with known labels,
so a broken model (features, heads, probability layout) fails the F1 floor.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion

from common.errors import SettingsError
from common.settings import ThresholdSettings
from models import thresholds as thr
from models.baseline import TextInputError, TfidfMultiTaskClassifier, WordCharTfidf, as_texts
from models.tasks import UNLABELED, TaskSpec, decide_indices

SPECS = [
    TaskSpec("sentiment", "single", ("negative", "neutral", "positive")),
    TaskSpec("perception", "multi", ("efficacy", "safety_tolerability", "access_cost")),
    TaskSpec("adverse_event", "binary", ("no", "yes"), "yes"),
]

OPENERS = {
    0: ["really disappointed with", "frustrated by", "terrible results with", "not impressed by"],
    1: ["anyone have data on", "question about", "reading the label for", "new guidance on"],
    2: ["excellent results with", "very happy with", "impressed by", "great experience with"],
}
ASPECTS = {
    0: ["response rates", "durable remission", "hit the primary endpoint", "tumour shrinkage"],
    1: ["tolerability", "the safety profile", "discontinuation for side effects", "liver enzyme monitoring"],
    2: ["prior authorization", "the copay", "formulary status", "insurance coverage"],
}
EVENTS = ["my patient developed a severe rash", "patient was hospitalized with pancreatitis", "one patient had anaphylaxis"]
DRUGS = ["drugex", "curamab", "tolinib", "vexaprine", "remitol"]
FILLER = ["today", "in clinic", "this week", "honestly", "again", "lately", "at our center", ""]


def make_corpus(n: int, seed: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """Posts assembled from phrases whose labels are known: sentiment opener, aspect mentions, AE report."""
    rng = np.random.default_rng(seed)
    texts, sentiment, aspects, events = [], [], [], []
    for _ in range(n):
        s = int(rng.integers(0, 3))
        present = (rng.random(3) < 0.4).astype(np.int8)
        event = int(rng.random() < 0.3)
        parts = [f"{rng.choice(OPENERS[s])} {rng.choice(DRUGS)} {rng.choice(FILLER)}."]
        parts += [f"talking about {rng.choice(ASPECTS[j])}." for j in range(3) if present[j]]
        if event:
            parts.append(f"{rng.choice(EVENTS)} on it.")
        rng.shuffle(parts)
        texts.append(" ".join(parts))
        sentiment.append(s)
        aspects.append(present)
        events.append(event)
    Y = {
        "sentiment": np.array(sentiment),
        "perception": np.array(aspects, dtype=np.int8),
        "adverse_event": np.array(events),
    }
    return texts, Y


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[list[str], dict[str, np.ndarray]]]:
    return {"train": make_corpus(240, 0), "val": make_corpus(120, 1), "test": make_corpus(120, 2)}


@pytest.fixture(scope="module")
def fitted(corpus) -> TfidfMultiTaskClassifier:
    texts, Y = corpus["train"]
    return TfidfMultiTaskClassifier(tasks=SPECS).fit(texts, Y)


# -- estimator conventions -----------------------------------------------------------------------------------


def test_init_stores_hyperparameters_unchanged_and_validates_only_in_fit(corpus) -> None:
    tasks = [s.to_dict() for s in SPECS]
    model = TfidfMultiTaskClassifier(tasks=tasks, C=-1.0, class_weight="nonsense")
    assert model.tasks is tasks and model.C == -1.0 and model.class_weight == "nonsense"
    with pytest.raises(ValueError, match="C must be > 0"):
        model.fit(*corpus["train"])


def test_get_params_set_params_and_clone_round_trip(fitted) -> None:
    model = TfidfMultiTaskClassifier(tasks=SPECS, C=2.0, max_features=500)
    params = model.get_params()
    assert params["C"] == 2.0 and params["class_weight"] == "balanced"
    rebuilt = TfidfMultiTaskClassifier(**params)
    assert rebuilt.get_params() == params
    assert model.set_params(C=3.0) is model and model.C == 3.0
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    unfitted = clone(fitted)
    assert not hasattr(unfitted, "weights_") and not hasattr(unfitted, "thresholds_")


def test_fit_returns_self_and_sets_trailing_underscore_attributes(corpus) -> None:
    model = TfidfMultiTaskClassifier(tasks=[s.to_dict() for s in SPECS])  # dicts are accepted too
    assert model.fit(*corpus["train"]) is model
    assert model.specs_ == tuple(SPECS)
    assert set(model.heads_) == {s.name for s in SPECS}
    assert model.weights_.dtype == np.float32
    assert model.weights_.shape[0] == model.featurizer_.idf_.size
    assert model.thresholds_ == {"perception": [0.5, 0.5, 0.5], "adverse_event": [0.5]}
    assert not [k for k in vars(TfidfMultiTaskClassifier(tasks=SPECS)) if k.endswith("_")]


def test_unfitted_model_raises_not_fitted_error(tmp_path: Path) -> None:
    model = TfidfMultiTaskClassifier(tasks=SPECS)
    for call in (lambda: model.predict_proba(["x"]), lambda: model.predict(["x"]), lambda: model.save(tmp_path)):
        with pytest.raises(NotFittedError):
            call()


# -- behaviour ------------------------------------------------------------------------------------------------


def test_learns_the_synthetic_corpus(fitted, corpus) -> None:
    texts, Y = corpus["test"]
    proba = fitted.predict_proba(texts)
    assert {k: v.shape for k, v in proba.items()} == {"sentiment": (120, 3), "perception": (120, 3), "adverse_event": (120, 2)}
    np.testing.assert_allclose(proba["sentiment"].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(proba["adverse_event"].sum(axis=1), 1.0, rtol=1e-6)
    for spec in SPECS:
        pred = decide_indices(spec, proba[spec.name], fitted.thresholds_.get(spec.name))
        average = "binary" if spec.kind == "binary" else "macro"
        assert f1_score(Y[spec.name], pred, average=average) > 0.9, spec.name
    decisions = fitted.predict(texts[:3])
    assert all(d in SPECS[0].labels for d in decisions["sentiment"])
    assert all(isinstance(d, list) and set(d) <= set(SPECS[1].labels) for d in decisions["perception"])
    assert all(d in ("no", "yes") for d in decisions["adverse_event"])


def test_unlabeled_rows_are_left_out_of_that_task_only(corpus) -> None:
    texts, Y = corpus["train"]
    masked = {k: v.copy() for k, v in Y.items()}
    unlabeled = np.arange(len(texts)) % 3 == 0
    masked["sentiment"][unlabeled] = UNLABELED
    masked["perception"][unlabeled[::-1]] = UNLABELED  # other rows, whole rows as the convention says
    model = TfidfMultiTaskClassifier(tasks=SPECS).fit(texts, masked)
    features = model.featurizer_.transform(texts)
    expected = LogisticRegression(C=model.C, class_weight="balanced", max_iter=model.max_iter).fit(
        features[~unlabeled], Y["sentiment"][~unlabeled]
    )
    head = model.heads_["sentiment"]
    np.testing.assert_allclose(model.weights_[:, head.start : head.stop], expected.coef_.T, atol=1e-5)
    proba = model.predict_proba(texts)["sentiment"]
    np.testing.assert_allclose(proba, expected.predict_proba(features), atol=1e-5)
    # adverse_event still trains on every row
    full = LogisticRegression(C=model.C, class_weight="balanced", max_iter=model.max_iter).fit(features, Y["adverse_event"])
    np.testing.assert_allclose(model.predict_proba(texts)["adverse_event"], full.predict_proba(features), atol=1e-5)


def test_a_task_with_a_single_class_raises_an_error_naming_it_and_the_fix(corpus) -> None:
    texts, Y = corpus["train"]
    bad = dict(Y, adverse_event=np.zeros(len(texts), dtype=int))
    with pytest.raises(ValueError, match=r"'adverse_event'.*at least two classes.*label posts of another class"):
        TfidfMultiTaskClassifier(tasks=SPECS).fit(texts, bad)
    none = dict(Y, sentiment=np.full(len(texts), UNLABELED))
    with pytest.raises(ValueError, match=r"'sentiment' has no labeled training posts"):
        TfidfMultiTaskClassifier(tasks=SPECS).fit(texts, none)


def test_multi_label_without_positives_gets_a_constant_prior_head(corpus) -> None:
    texts, Y = corpus["train"]
    Y = dict(Y, perception=Y["perception"].copy())
    Y["perception"][:, 2] = 0
    with pytest.warns(UserWarning, match=r"access_cost \(0/240 positive\)"):
        model = TfidfMultiTaskClassifier(tasks=SPECS).fit(texts, Y)
    proba = model.predict_proba(corpus["test"][0])["perception"][:, 2]
    np.testing.assert_allclose(proba, 0.5 / 241, rtol=1e-5)
    assert model.predict_proba(corpus["test"][0])["perception"][:, 0].std() > 0.1  # other labels still learn


def test_targets_are_checked(corpus) -> None:
    texts, Y = corpus["train"]
    model = TfidfMultiTaskClassifier(tasks=SPECS)
    with pytest.raises(ValueError, match=r"Y\['perception'\]: expected shape \(240, 3\)"):
        model.fit(texts, dict(Y, perception=Y["perception"][:, :2]))
    with pytest.raises(ValueError, match="unknown task"):
        model.fit(texts, dict(Y, typo=Y["sentiment"]))
    with pytest.raises(ValueError, match="no targets for task 'adverse_event'"):
        model.fit(texts, {k: v for k, v in Y.items() if k != "adverse_event"})
    with pytest.raises(ValueError, match="label index 0..2"):
        model.fit(texts, dict(Y, sentiment=Y["sentiment"] + 1))


def test_dataframe_input_uses_its_text_column(fitted, corpus) -> None:
    texts, _ = corpus["test"]
    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    expected = fitted.predict_proba(texts)
    for other in (frame, frame["text"], np.array(texts, dtype=object)):
        got = fitted.predict_proba(other)
        for task in expected:
            np.testing.assert_array_equal(got[task], expected[task])
    with pytest.raises(TextInputError, match="'text' column"):
        fitted.predict_proba(frame.rename(columns={"text": "body"}))
    with pytest.raises(TextInputError, match="single string"):
        fitted.predict_proba("one post")
    with pytest.raises(TextInputError, match="position 1"):
        as_texts(["ok", None])


# -- thresholds ------------------------------------------------------------------------------------------------


def test_f1_optimal_threshold_cuts_between_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2])
    y = np.array([1, 1, 1, 0, 1, 0])
    cut, f1 = thr.f1_optimal_threshold(scores, y)
    assert f1 == pytest.approx(2 * 4 / (5 + 4))  # keep the top 5: tp 4, predicted 5, positives 4
    assert cut == pytest.approx(0.25)
    assert thr.f1_optimal_threshold(scores, np.zeros(6)) == (0.5, 0.0)


def test_recall_threshold_uses_the_order_statistic_correction() -> None:
    pos = np.linspace(0.99, 0.01, 100)
    scores = np.r_[pos, np.full(50, 0.005)]
    y = np.r_[np.ones(100), np.zeros(50)]
    # expected recall j / (n + 1) >= 0.95 needs j = 96 of 100 positives
    assert thr.recall_threshold(scores, y, 0.95) == pytest.approx(pos[95])
    assert thr.recall_threshold(scores[:5], y[:5], 0.95) == pytest.approx(pos[4])  # few positives: keep all


def test_shrunk_strategy_moves_from_the_prevalence_threshold_toward_the_bagged_optimum() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.2).astype(int)
    scores = np.clip(np.where(y == 1, 0.3, 0.1) + rng.normal(0, 0.06, 400), 0, 1)  # compressed below 0.5
    anchor = thr.prevalence_threshold(scores, y)
    assert np.mean(scores > anchor) == pytest.approx(y.mean(), abs=0.01)
    bagged = thr.bagged_f1_threshold(scores, y)
    assert bagged == thr.bagged_f1_threshold(scores, y)  # seeded: reproducible
    assert abs(bagged - thr.tune_label(scores, y, ThresholdSettings(strategy="tuned"))) < 0.05
    n_pos = int(y.sum())
    expected = anchor + (bagged - anchor) * n_pos / (n_pos + 10.0)
    assert thr.tune_label(scores, y, ThresholdSettings(strategy="shrunk", shrink=10.0)) == pytest.approx(expected)
    assert thr.tune_label(scores, y, ThresholdSettings(strategy="shrunk", clip=(0.25, 0.9))) == 0.25
    assert thr.tune_label(scores, y, ThresholdSettings(strategy="fixed")) == 0.5
    few = y.copy()
    few[np.flatnonzero(y)[2:]] = 0  # two positives left: below min_positives, the anchor alone
    assert thr.tune_label(scores, few, ThresholdSettings(min_positives=3)) == pytest.approx(thr.prevalence_threshold(scores, few))
    assert thr.tune_label(scores, np.zeros(400), ThresholdSettings()) == 0.5
    with pytest.raises(SettingsError, match="strategy must be one of"):
        ThresholdSettings(strategy="best")


def test_tuned_thresholds_differ_from_fixed_and_meet_min_recall_on_validation(fitted, corpus) -> None:
    model = clone(fitted)
    texts, Y = corpus["train"]
    noisy = dict(Y, adverse_event=Y["adverse_event"].copy())
    flip = np.random.default_rng(3).random(len(texts)) < 0.15  # label noise so the recall target binds
    noisy["adverse_event"][flip] = 1 - noisy["adverse_event"][flip]
    model.fit(texts, noisy)
    val_texts, val_Y = corpus["val"]
    val_noisy = dict(val_Y, adverse_event=val_Y["adverse_event"].copy())
    flip = np.random.default_rng(4).random(len(val_texts)) < 0.15
    val_noisy["adverse_event"][flip] = 1 - val_noisy["adverse_event"][flip]
    proba = model.predict_proba(val_texts)
    model.thresholds_ = thr.tune_all(SPECS, proba, val_noisy, ThresholdSettings(strategy="tuned"), {"adverse_event": 0.95})
    assert model.thresholds_ != thr.tune_all(SPECS, proba, val_noisy, ThresholdSettings(strategy="fixed"))
    assert set(model.thresholds_) == {"perception", "adverse_event"} and len(model.thresholds_["perception"]) == 3
    p = model.predict_proba(val_texts)["adverse_event"][:, 1]
    gold = val_noisy["adverse_event"] == 1
    cut = model.thresholds_["adverse_event"][0]
    assert (p[gold] >= cut).mean() >= 0.95
    assert (p[gold] >= cut + 1e-6).mean() < 0.95 + 1 / gold.sum() + 1e-9  # the highest such threshold
    with pytest.raises(ValueError, match="binary tasks"):
        thr.tune_all(SPECS, proba, val_noisy, ThresholdSettings(), {"perception": 0.9})


# -- artifacts -------------------------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_probabilities(fitted, corpus, tmp_path: Path) -> None:
    model = clone(fitted).fit(*corpus["train"])
    model.thresholds_ = thr.tune_all(SPECS, model.predict_proba(corpus["val"][0]), corpus["val"][1])
    model.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "baseline.json").read_text())
    assert meta["tasks"] == [s.to_dict() for s in SPECS] and meta["thresholds"] == model.thresholds_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = TfidfMultiTaskClassifier.load(tmp_path / "model")
    texts = corpus["test"][0]
    expected, got = model.predict_proba(texts), loaded.predict_proba(texts)
    for task in expected:
        np.testing.assert_array_equal(got[task], expected[task])
    assert loaded.thresholds_ == model.thresholds_ and loaded.predict(texts) == model.predict(texts)


def test_load_warns_when_the_sklearn_version_differs(fitted, tmp_path: Path) -> None:
    fitted.save(tmp_path)
    meta_path = tmp_path / "baseline.json"
    meta = json.loads(meta_path.read_text())
    meta["sklearn_version"] = "0.1.0"
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match=r"saved with scikit-learn 0\.1\.0 but .* is installed"):
        TfidfMultiTaskClassifier.load(tmp_path)


# -- features ----------------------------------------------------------------------------------------------------


def test_features_equal_a_feature_union_of_sklearn_tfidf_vectorizers(corpus) -> None:
    train, test = corpus["train"][0], corpus["test"][0] + ["", "UNSEEN words ONLY", "a"]
    union = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float32)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, dtype=np.float32)),
    ]).fit(train)
    ours = WordCharTfidf(word_ngram_range=(1, 2), char_ngram_range=(2, 5), min_df=2, cache_words=50).fit(train)
    names = np.r_[union.transformer_list[0][1].get_feature_names_out(), union.transformer_list[1][1].get_feature_names_out()]
    assert list(ours.get_feature_names_out()) == list(names)
    got = ours.transform(test)
    assert sp.isspmatrix_csr(got) and got.dtype == np.float32
    np.testing.assert_allclose(got.toarray(), union.transform(test).toarray(), atol=1e-6)


def test_workload_threshold_caps_the_flagged_share_at_a_multiple_of_the_positives() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(1000)
    y = np.zeros(1000, dtype=bool)
    y[np.argsort(scores)[-50:]] = True  # 50 positives
    cut = thr.workload_threshold(scores, y, 3.0)
    assert (scores >= cut).sum() == 150
    assert thr.workload_threshold(scores, y, 100.0) == 0.0  # budget beyond the data: no cap
    assert thr.workload_threshold(scores, np.zeros(1000, dtype=bool), 3.0) == 0.0


def test_recall_guard_stops_a_target_that_would_flag_most_posts() -> None:
    """Noisy gold: 30 of 100 positives score like negatives, so a 0.95 target needs a near-zero threshold."""
    rng = np.random.default_rng(2)
    neg = rng.uniform(0.0, 0.5, 900)
    real = rng.uniform(0.6, 1.0, 70)
    noise = rng.uniform(0.0, 0.5, 30)
    scores = np.concatenate([neg, real, noise])
    y = np.concatenate([np.zeros(900), np.ones(100)]).astype(bool)
    target = thr.recall_threshold(scores, y, 0.95)
    assert (scores >= target).mean() > 0.5  # what the target alone would do
    guarded, reason = thr.guard_recall_threshold(scores, y, target, 0.1, 3.0)
    assert guarded > target and reason is not None and "3x" in reason
    assert (scores >= guarded).sum() <= 300
    assert (scores[y] >= guarded).mean() >= 0.7  # every real positive is still flagged
    same, none = thr.guard_recall_threshold(scores, y, 0.6, 0.1, 3.0)  # a reachable target is left alone
    assert same == 0.6 and none is None
    floor_only, why = thr.guard_recall_threshold(scores, y, target, 0.1, None)
    assert floor_only == max(0.1, target) and (why is None) == (target >= 0.1)
