"""Transformer family on a tiny BERT built from a config (no download): learning, masking, ordering, persistence,
precision switches, early stopping and determinism. Whole module: seconds on 2 cores."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported (read at import time)

import dataclasses
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from common.errors import SettingsError
from common.settings import TransformerSettings as TransformerConfig
from common.settings import from_mapping, to_dict
from models.metrics import task_macro_f1, task_ranking_score
from models.tasks import UNLABELED, TaskSpec
from models.transformer import MultiTaskTransformer, TransformerClassifier, class_weights, quantize_int8
from models.transformer import encoder as encoder_module
from models.transformer.encoder import (EncoderNotFoundError, check_encoder_dir, default_encoder_dir, load_tokenizer,
                                        tiny_encoder)
from models.transformer.network import length_bucketed_batches

SENTIMENT = TaskSpec("sentiment", "single", ("negative", "neutral", "positive"))
PERCEPTION = TaskSpec("perception", "multi", ("efficacy", "safety_tolerability", "access_cost"))
ADVERSE = TaskSpec("adverse_event", "binary", ("no", "yes"), "yes")
TASKS = [SENTIMENT, PERCEPTION, ADVERSE]

PHRASES_SENTIMENT = {
    0: ["terrible results", "really disappointed", "awful drug", "frustrated with this"],
    1: ["question about the study", "reading the paper on this", "wondering about the data"],
    2: ["great results", "really impressed", "excellent response", "love this drug"],
}
PHRASES_PERCEPTION = {
    0: ["response rates improved", "it works well"],
    1: ["nausea and rash", "tolerability is poor"],
    2: ["prior authorization denied", "too expensive for patients"],
}
PHRASES_AE = ["patient was hospitalized", "my patient developed severe bleeding"]
FILLERS = ["today", "in clinic", "for my patients", "at the conference", "this week"]

# Fast settings for a randomly initialized tiny encoder (production defaults are for pretrained ones). One thread:
# the tiny model's matmuls are too small to gain from two, and on a busy shared CPU two threads wait on each other.
TINY = TransformerConfig(max_length=64, batch_size=16, epochs=8, learning_rate=3e-3, head_learning_rate=1e-2,
                         patience=8, seed=0, num_threads=1, precision="fp32")
FAST = {"max_length": 64, "learning_rate": 3e-3, "head_learning_rate": 1e-2, "num_threads": 1, "precision": "fp32"}


def make_corpus(n: int, seed: int) -> tuple[list[str], dict[str, np.ndarray]]:
    """Template posts whose labels are known by construction; phrase order and fillers vary the length."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    sentiment = np.zeros(n, dtype=np.int64)
    perception = np.zeros((n, 3), dtype=np.int8)
    adverse = np.zeros(n, dtype=np.int64)
    for i in range(n):
        sentiment[i] = rng.integers(3)
        parts = [str(rng.choice(PHRASES_SENTIMENT[int(sentiment[i])]))]
        for j in range(3):
            if rng.random() < 0.35:
                perception[i, j] = 1
                parts.append(str(rng.choice(PHRASES_PERCEPTION[j])))
        if rng.random() < 0.3:
            adverse[i] = 1
            parts.append(str(rng.choice(PHRASES_AE)))
        parts += [str(f) for f in rng.choice(FILLERS, size=int(rng.integers(0, 4)))]
        rng.shuffle(parts)
        texts.append(" ".join(parts) + ".")
    return texts, {"sentiment": sentiment, "perception": perception, "adverse_event": adverse}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("enc"))


@pytest.fixture(scope="module")
def corpus() -> dict[str, Any]:
    train_texts, train_y = make_corpus(200, seed=0)
    val_texts, val_y = make_corpus(80, seed=1)
    return {"train": (train_texts, train_y), "val": (val_texts, val_y)}


@pytest.fixture(scope="module")
def fitted(tiny_dir: Path, corpus: dict[str, Any]) -> TransformerClassifier:
    (tx, ty), (vx, vy) = corpus["train"], corpus["val"]
    return TransformerClassifier(TASKS, encoder_dir=tiny_dir, config=TINY).fit(tx, ty, vx, vy, progress=False)


# ------------------------------------------------------------------------------------------------ config / encoder


def test_config_validates_and_round_trips() -> None:
    cfg = TransformerConfig(learning_rate=1e-4, num_threads=2)
    assert from_mapping(TransformerConfig, to_dict(cfg), "test", "transformer") == cfg
    for bad in ({"precision": "fp16"}, {"epochs": 0}, {"warmup_ratio": 1.0}, {"class_weighting": "balanced"},
                {"precision": "int8"}, {"num_threads": 0}, {"pos_weight_cap": 0.5}, {"early_stopping": "loss"},
                {"task_weighting": "max"}):
        with pytest.raises(SettingsError):
            TransformerConfig(**bad)
    with pytest.raises(SettingsError, match="unknown setting `transformer.learning_rat`"):
        from_mapping(TransformerConfig, {"learning_rat": 1e-4}, "test", "transformer")


def test_default_encoder_is_the_packaged_minilm() -> None:
    folder = default_encoder_dir()
    assert (folder / "config.json").is_file()
    assert json.loads((folder / "config.json").read_text())["hidden_size"] == 384


def test_missing_encoder_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoder_module, "DEFAULT_ENCODER_PACKAGE", "no_such_encoder_package_xyz")
    with pytest.raises(EncoderNotFoundError, match="pip install"):
        default_encoder_dir()


def test_hub_ids_are_refused_not_downloaded() -> None:
    with pytest.raises(EncoderNotFoundError, match="local"):
        check_encoder_dir("sentence-transformers/all-MiniLM-L6-v2")


def test_tiny_encoder_covers_the_test_vocabulary(tiny_dir: Path, corpus: dict[str, Any]) -> None:
    tokenizer = load_tokenizer(tiny_dir)
    ids = tokenizer(corpus["train"][0][:50])["input_ids"]
    flat = [i for row in ids for i in row]
    assert flat.count(tokenizer.unk_token_id) / len(flat) < 0.02


def test_mean_pooling_ignores_padding(tiny_dir: Path) -> None:
    from transformers import AutoConfig

    torch.manual_seed(0)
    net = MultiTaskTransformer.from_config(AutoConfig.from_pretrained(str(tiny_dir)), TASKS).eval()
    ids = torch.tensor([[2, 40, 41, 42, 3]])
    padded = torch.tensor([[2, 40, 41, 42, 3, 0, 0, 0]])
    with torch.inference_mode():
        alone = net.pool(ids, torch.ones_like(ids))
        with_pad = net.pool(padded, (padded != 0).long())
        logits = net(padded, (padded != 0).long())
    torch.testing.assert_close(alone, with_pad, atol=1e-5, rtol=1e-5)
    assert {k: tuple(v.shape) for k, v in logits.items()} == {"sentiment": (1, 3), "perception": (1, 3),
                                                               "adverse_event": (1, 2)}


# ------------------------------------------------------------------------------------------------ training


def majority_macro_f1(y: dict[str, np.ndarray], y_train: dict[str, np.ndarray]) -> float:
    """Mean macro-F1 of always predicting the training majority (all-zero for multi-label)."""
    scores = []
    for task in TASKS:
        if task.kind == "multi":
            decisions = np.zeros_like(y[task.name])
        else:
            decisions = np.full_like(y[task.name], np.bincount(y_train[task.name]).argmax())
        scores.append(task_macro_f1(task, y[task.name], decisions))
    return float(np.mean(scores))


def model_macro_f1(clf: TransformerClassifier, texts: list[str], y: dict[str, np.ndarray]) -> float:
    from models.tasks import decide_indices

    proba = clf.predict_proba(texts)
    return float(np.mean([task_macro_f1(t, y[t.name], decide_indices(t, proba[t.name])) for t in TASKS]))


def test_fit_learns_and_beats_majority(fitted: TransformerClassifier, corpus: dict[str, Any]) -> None:
    history = fitted.history_
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    (_, ty), (vx, vy) = corpus["train"], corpus["val"]
    baseline = majority_macro_f1(vy, ty)
    score = model_macro_f1(fitted, vx, vy)
    assert score > baseline + 0.3, (score, baseline)
    # the kept weights are those of the best validation epoch (the ranking score, the default), and at 0.5 they
    # score what the history says
    best = int(np.argmax([h["val_ranking"] for h in history])) + 1
    assert fitted.best_epoch_ == best
    assert score == pytest.approx(history[best - 1]["val_macro_f1"], abs=1e-9)
    # ... and their validation probabilities order posts as well as the history says they did when chosen
    proba = fitted.predict_proba(vx, precision=fitted.training_precision_)  # validation ran in training precision
    ranking = np.mean([task_ranking_score(t, vy[t.name], proba[t.name]) for t in TASKS])
    assert ranking == pytest.approx(history[best - 1]["val_ranking"], abs=1e-9)


def test_unlabeled_rows_are_masked(tiny_dir: Path, corpus: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    texts, y = corpus["train"]
    texts, y = texts[:64], {k: v[:64].copy() for k, v in y.items()}
    need = TaskSpec("evidence_need", "multi", ("long_term_outcomes", "special_populations"))
    never = TaskSpec("comparison", "single", ("none", "some"))
    y["evidence_need"] = np.full((64, 2), UNLABELED, dtype=np.int8)
    y["evidence_need"][:6] = [[1, 0], [0, 1], [0, 0], [1, 1], [0, 0], [1, 0]]
    y["sentiment"][::2] = UNLABELED
    y["comparison"] = np.full(64, UNLABELED)
    cfg = TransformerConfig(epochs=2, seed=1, **FAST)
    clf = TransformerClassifier(TASKS + [need, never], encoder_dir=tiny_dir, config=cfg)
    clf.fit(texts, y, texts[:20], {k: v[:20] for k, v in y.items()}, progress=False)
    assert "'comparison' has no labeled training post" in caplog.text
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in clf.history_)
    proba = clf.predict_proba(texts[:5])
    assert proba["evidence_need"].shape == (5, 2) and np.isfinite(proba["evidence_need"]).all()
    assert "comparison" not in clf.history_[-1]["val_f1"]  # no gold label: left out of the validation mean


def test_bad_targets_are_refused(tiny_dir: Path, corpus: dict[str, Any]) -> None:
    texts, y = corpus["train"]
    clf = TransformerClassifier(TASKS, encoder_dir=tiny_dir, config=TINY)
    with pytest.raises(ValueError, match="no targets for task"):
        clf.fit(texts, {"sentiment": y["sentiment"]}, progress=False)
    with pytest.raises(ValueError, match="shape"):
        clf.fit(texts, {**y, "perception": y["perception"][:, :2]}, progress=False)
    with pytest.raises(ValueError, match="label index"):
        clf.fit(texts, {**y, "sentiment": y["sentiment"] + 3}, progress=False)


@pytest.mark.parametrize("metric, key", [("ranking", "val_ranking"), ("f1_at_half", "val_macro_f1")])
def test_early_stopping_restores_the_best_epoch(tiny_dir: Path, corpus: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                metric: str, key: str) -> None:
    """Scripted validation scores: best at epoch 2, patience 2 => stops after epoch 4 with epoch-2 weights. The
    other figure is scripted to rise every epoch, so stopping on the wrong one would run all 5 epochs."""
    scripted = [0.30, 0.70, 0.50, 0.40, 0.90]
    snapshots: list[torch.Tensor] = []
    original = TransformerClassifier._validate
    other = "val_macro_f1" if key == "val_ranking" else "val_ranking"

    def scripted_validate(self: TransformerClassifier, *args: Any) -> dict[str, Any]:
        out = original(self, *args)
        snapshots.append(self.model_.heads["sentiment"].weight.detach().clone())
        out[key] = scripted[len(snapshots) - 1]
        out[other] = 0.1 * len(snapshots)
        return out

    monkeypatch.setattr(TransformerClassifier, "_validate", scripted_validate)
    (tx, ty), (vx, vy) = corpus["train"], corpus["val"]
    cfg = TransformerConfig(epochs=5, patience=2, early_stopping=metric, **FAST)
    clf = TransformerClassifier(TASKS, encoder_dir=tiny_dir, config=cfg).fit(tx[:64], {k: v[:64] for k, v in ty.items()},
                                                                             vx, vy, progress=False)
    assert [h["epoch"] for h in clf.history_] == [1, 2, 3, 4]
    assert clf.best_epoch_ == 2
    assert torch.equal(clf.model_.heads["sentiment"].weight, snapshots[1])
    assert not torch.equal(clf.model_.heads["sentiment"].weight, snapshots[3])


def test_ranking_falls_back_to_f1_where_validation_has_nothing_to_rank(tiny_dir: Path, corpus: dict[str, Any]) -> None:
    """A binary task whose validation posts are all negative has no average precision: the epoch is still
    chosen (on macro-F1 at 0.5), not left at 0 with whatever weights the last epoch had."""
    (tx, ty), (vx, _) = corpus["train"], corpus["val"]
    cfg = TransformerConfig(epochs=3, patience=1, **FAST)
    clf = TransformerClassifier([ADVERSE], encoder_dir=tiny_dir, config=cfg).fit(
        tx[:64], {ADVERSE.name: ty[ADVERSE.name][:64]}, vx[:20], {ADVERSE.name: np.zeros(20, dtype=np.int64)},
        progress=False)
    assert all(np.isnan(h["val_ranking"]) for h in clf.history_)
    f1 = [h["val_macro_f1"] for h in clf.history_]
    assert 1 <= clf.best_epoch_ <= len(f1) and f1[clf.best_epoch_ - 1] == max(f1)


def test_same_seed_same_model(tiny_dir: Path, corpus: dict[str, Any]) -> None:
    (tx, ty), (vx, vy) = corpus["train"], corpus["val"]
    tx, ty = tx[:96], {k: v[:96] for k, v in ty.items()}
    cfg = TransformerConfig(epochs=2, seed=7, **FAST)
    runs = [TransformerClassifier(TASKS, tiny_dir, c).fit(tx, ty, vx, vy, progress=False).predict_proba(vx)
            for c in (cfg, cfg, TransformerConfig(**{**to_dict(cfg), "seed": 8}))]
    for task in TASKS:
        np.testing.assert_array_equal(runs[0][task.name], runs[1][task.name])
        assert not np.allclose(runs[0][task.name], runs[2][task.name])


# ------------------------------------------------------------------------------------------------ inference


def test_probabilities_follow_the_conventions(fitted: TransformerClassifier, corpus: dict[str, Any]) -> None:
    texts = corpus["val"][0][:30]
    proba = fitted.predict_proba(texts)
    assert set(proba) == {t.name for t in TASKS}
    for task in TASKS:
        p = proba[task.name]
        assert p.shape == (30, len(task.labels)) and p.dtype == np.float64
        assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(proba["sentiment"].sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(proba["adverse_event"].sum(axis=1), 1.0, atol=1e-9)
    assert fitted.thresholds_ == {"perception": [0.5, 0.5, 0.5], "adverse_event": [0.5]}
    decisions = fitted.predict(texts)
    assert all(label in SENTIMENT.labels for label in decisions["sentiment"])
    assert all(set(labels) <= set(PERCEPTION.labels) for labels in decisions["perception"])
    assert fitted.predict_proba([])["perception"].shape == (0, 3)


def test_row_order_survives_length_sorting(fitted: TransformerClassifier, corpus: dict[str, Any]) -> None:
    texts = corpus["val"][0][:40] + ["great results.", "nausea and rash " * 12]
    perm = np.random.default_rng(3).permutation(len(texts))
    straight = fitted.predict_proba(texts, batch_size=8, precision="fp32")
    shuffled = fitted.predict_proba([texts[i] for i in perm], batch_size=8, precision="fp32")
    for task in TASKS:
        np.testing.assert_allclose(shuffled[task.name], straight[task.name][perm], atol=1e-5)


def test_save_load_is_self_contained_and_identical(fitted: TransformerClassifier, corpus: dict[str, Any],
                                                   tmp_path: Path) -> None:
    texts = corpus["val"][0]
    fitted.thresholds_ = {"perception": [0.4, 0.5, 0.6], "adverse_event": [0.3]}
    try:
        fitted.save(tmp_path / "first")
        shutil.move(str(tmp_path / "first"), str(tmp_path / "moved"))  # no path inside may point back
        for path in (tmp_path / "moved").rglob("*"):
            assert not path.is_file() or str(fitted.encoder_dir).encode() not in path.read_bytes(), path
        loaded = TransformerClassifier.load(tmp_path / "moved")
        before, after = fitted.predict_proba(texts), loaded.predict_proba(texts)
        for task in TASKS:
            np.testing.assert_array_equal(after[task.name], before[task.name])
        assert loaded.thresholds_ == fitted.thresholds_
        assert loaded.tasks == TASKS and loaded.config == TINY
        assert loaded.predict(texts) == fitted.predict(texts)
    finally:
        fitted.thresholds_ = {"perception": [0.5, 0.5, 0.5], "adverse_event": [0.5]}


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_precision_modes_agree_with_fp32(fitted: TransformerClassifier, corpus: dict[str, Any], precision: str) -> None:
    texts = corpus["val"][0]
    reference = fitted.predict_proba(texts, precision="fp32")["sentiment"].argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # bf16 on a CPU without native bf16: slow, still correct
        other = fitted.predict_proba(texts, precision=precision)
    assert (other["sentiment"].argmax(axis=1) == reference).mean() >= 0.9
    np.testing.assert_allclose(other["sentiment"].sum(axis=1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="precision"):
        fitted.predict_proba(texts[:2], precision="fp16")


def test_int8_quantizes_a_copy_and_keeps_heads_and_down_projections_in_fp32(fitted: TransformerClassifier) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = quantize_int8(fitted.model_)
    module = {name: type(m).__module__ for name, m in quantized.encoder.named_modules()}
    assert "quantized" in module["encoder.layer.0.intermediate.dense"]
    assert "quantized" in module["encoder.layer.0.attention.self.query"]
    assert "quantized" not in module["encoder.layer.0.output.dense"]  # 37 -> 32: reads GELU outliers
    assert type(quantized.heads["sentiment"]) is torch.nn.Linear
    assert type(fitted.model_.encoder.encoder.layer[0].intermediate.dense) is torch.nn.Linear  # original untouched


# ------------------------------------------------------------------------------------------------ helpers


def test_class_weights_counter_imbalance_without_overshooting() -> None:
    y = np.array([0] * 80 + [1] * 15 + [2] * 5 + [UNLABELED] * 10)
    w = class_weights(SENTIMENT, y, "inv_sqrt")
    counts = np.array([80, 15, 5])
    assert w[0] < w[1] < w[2]
    assert (counts * w).sum() / counts.sum() == pytest.approx(1.0)
    assert w[2] / w[0] == pytest.approx(4.0)  # sqrt(80 / 5), not 16
    assert class_weights(SENTIMENT, y, "none") is None
    multi = np.zeros((100, 3), dtype=np.int8)
    multi[:2, 0] = 1
    multi[:50, 1] = 1
    pos_weight = class_weights(PERCEPTION, multi, "inverse", cap=10.0)
    assert pos_weight[0] == 10.0 and pos_weight[1] == pytest.approx(1.0) and pos_weight[2] == 1.0


@pytest.mark.parametrize("rule", ["labels", "equal"])
def test_tasks_mix_in_the_loss_by_their_number_of_decisions(tiny_dir: Path, rule: str) -> None:
    """`labels`: a multi-label task weighs as many decisions as it has labels (one per label), a single-label or
    binary task one; `equal`: every task the same. Unlabeled rows stay out; one labeled task trains the same."""
    import torch

    clf = TransformerClassifier(TASKS, encoder_dir=tiny_dir, config=dataclasses.replace(TINY, task_weighting=rule))
    rng = np.random.default_rng(0)
    z = {t.name: rng.normal(size=(5, len(t.labels))) for t in TASKS}
    y = {"sentiment": np.array([0, 2, UNLABELED, 1, 1]), "adverse_event": np.array([1, 0, 0, UNLABELED, 0]),
         "perception": np.array([[1, 0, 0], [0, 1, 1], [UNLABELED] * 3, [0, 0, 0], [UNLABELED] * 3])}
    logits = {k: torch.tensor(v, dtype=torch.float32) for k, v in z.items()}
    targets = {k: torch.from_numpy(v.astype(np.int64)) for k, v in y.items()}
    no_weights = {t.name: None for t in TASKS}

    def cross_entropy(name: str) -> float:
        keep = y[name] != UNLABELED
        logp = z[name] - np.log(np.exp(z[name]).sum(axis=1, keepdims=True))
        return float(-logp[keep, y[name][keep]].mean())

    keep = (y["perception"] != UNLABELED).all(axis=1)
    p, t = 1.0 / (1.0 + np.exp(-z["perception"][keep])), y["perception"][keep]
    bce = float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())
    parts = np.array([cross_entropy("sentiment"), bce, cross_entropy("adverse_event")])
    weights = np.array([1.0, 3.0, 1.0]) if rule == "labels" else np.ones(3)
    assert float(clf._loss(logits, targets, no_weights)) == pytest.approx((parts * weights).sum() / weights.sum(), rel=1e-5)

    only_perception = {k: (v if k == "perception" else torch.full_like(v, UNLABELED)) for k, v in targets.items()}
    alone = clf._loss(logits, only_perception, no_weights)
    assert float(alone) == pytest.approx(bce, rel=1e-5)
    other = TransformerClassifier(TASKS, encoder_dir=tiny_dir,
                                  config=dataclasses.replace(TINY, task_weighting={"labels": "equal", "equal": "labels"}[rule]))
    assert torch.equal(alone, other._loss(logits, only_perception, no_weights))  # a lone task: bit for bit the same


def test_length_bucketed_batches_cover_every_row_once_and_repeat_with_the_seed() -> None:
    lengths = np.random.default_rng(0).integers(5, 100, size=1000)
    first = length_bucketed_batches(lengths, 16, np.random.default_rng(4))
    again = length_bucketed_batches(lengths, 16, np.random.default_rng(4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    padding = sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in first)
    random_batches = np.array_split(np.random.default_rng(4).permutation(1000), len(first))
    random_padding = sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in random_batches)
    assert padding < 0.2 * random_padding


def test_a_long_post_keeps_its_head_and_tail(tiny_dir: Path, fitted: TransformerClassifier) -> None:
    """head_tail: the verdict at the end of a long review reaches the model; head: it is cut off."""
    from models.transformer.classifier import head_and_tail

    tokenizer = load_tokenizer(tiny_dir)
    body = tokenizer("great " * 20 + "nausea " * 300 + "severe rash", add_special_tokens=False)["input_ids"]
    kept = head_and_tail(tokenizer, body, 64)
    assert len(kept) == 64 and kept[0] == tokenizer.cls_token_id and kept[-1] == tokenizer.sep_token_id
    assert kept[1:16] == body[:15] and kept[16:-1] == body[-47:]  # a quarter of the room is head, the rest tail
    short = tokenizer("severe rash", add_special_tokens=False)["input_ids"]
    assert head_and_tail(tokenizer, short, 64) == tokenizer("severe rash")["input_ids"]  # short posts unchanged

    text = "great " * 200 + "severe rash"
    rash = tokenizer("rash", add_special_tokens=False)["input_ids"][0]
    import copy

    model = copy.copy(fitted)  # shallow copy: same network, own config
    for mode, expect in (("head_tail", True), ("head", False)):
        model.config = dataclasses.replace(fitted._cfg, truncation=mode)
        ids = model._encode([text])[0]
        assert len(ids) == model._max_length() and (rash in ids) == expect
