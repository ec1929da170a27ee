"""One benchmark table: every model family on every shared corpus and the demo, written to docs/BENCHMARKS.md.

    python bench/benchmarks.py DATA_DIR --demo data/dataset [--seeds 5] [--families reference,baseline]
                               [--out docs/BENCHMARKS.md] [--json bench/out/benchmarks.json]

DATA_DIR holds the public corpora (see its README; nothing is copied into the project); `--demo` is a dataset
folder written by `occ dataset` (the demo's, after `make demo`). Per corpus and seed, a grouped 20% is the test
set and the other 80% is "the user's training file". Each family gets that same file:

- `reference`: the plain scikit-learn pipeline a careful user would write first, the baseline every other
  figure is read against: a FeatureUnion of word 1-2 and char_wb 2-5 `TfidfVectorizer(sublinear_tf=True)`, then
  `LogisticRegression(C=4, class_weight="balanced")` (one-vs-rest for multi-label), fitted on all of the file,
  deciding at its default (argmax / 0.5).
- `adapted`: the transformer fine-tuned from the encoder `occ adapt` made on the training file's text (its
  unlabeled text; the test posts stay unseen), with `adapt` settings from params.yaml; or, with
  `--unlabeled CORPUS=FOLDER`, on an ingested dump of the same kind of text (the demo's: `occ ingest
  data/new_dump/posts.jsonl`), adapted once and used for every seed (kept in bench/out/encoders/, so a later
  run with more seeds reuses it).
- `baseline`, `transformer`, `ensemble`: exactly what `occ train` ships (`training.recipe.fit_recipe`, params.yaml):
  the file is split into train and validation the way `occ dataset` splits it, thresholds (and the safety
  task's recall target) are chosen on validation, and the baseline is refit on the whole file.

Figures: macro-F1 per task (mean and standard deviation over seeds), for binary tasks also average precision
and the best precision at recall >= 0.95 (what the safety queue costs at its target), training seconds and the
scoring rate (posts/s, features + every head, one process). Training the transformer on CPU takes minutes per
corpus and seed; `--families` picks what to run, `--merge` adds rows to an earlier JSON (replacing only the
same corpus, family and seed) and `--first-seed` continues a corpus's seeds where an earlier run stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common.settings import Settings, load_settings  # noqa: E402
from models.tasks import UNLABELED, TaskSpec  # noqa: E402
from public_corpora import load_public_tasks, split_indices  # noqa: E402

logger = logging.getLogger("benchmarks")

FAMILIES = ("reference", "baseline", "transformer", "adapted", "ensemble")
NOTES_MARKER = "<!-- notes: kept when the table is regenerated -->"
_ADAPTED: dict[str, Any] = {}
"""A corpus's encoder adapted on its `--unlabeled` posts (one adaptation serves every seed)."""
_FITTED: dict[tuple[str, int, str], Any] = {}
"""This corpus and seed's fitted baseline and transformer, which the ensemble combines (not refitted)."""
Split = tuple[list[str], dict[str, np.ndarray]]


class Corpus:
    """Texts with targets for one or more tasks (the demo has four), and groups that stay on one side of a split."""

    def __init__(self, name: str, specs: list[TaskSpec], texts: list[str], targets: dict[str, np.ndarray],
                 groups: np.ndarray, safety: str | None = None) -> None:
        self.name, self.specs, self.texts, self.targets, self.groups = name, specs, texts, targets, groups
        self.safety = safety
        self.unlabeled: list[Path] = []
        """Ingested post folders of unlabeled text of the same kind (`--unlabeled`), for the adapted family."""

    def rows(self, index: np.ndarray) -> Split:
        return [self.texts[i] for i in index.tolist()], {k: v[index] for k, v in self.targets.items()}


def public_corpora(data_dir: Path) -> list[Corpus]:
    return [Corpus(t.name, [t.spec], t.texts, {t.spec.name: t.y}, t.groups,
                   t.spec.name if t.spec.kind == "binary" else None) for t in load_public_tasks(data_dir)]


def demo_corpus(dataset_dir: Path) -> Corpus:
    """Every gold-labeled post of the demo dataset (its own splits are redrawn per seed like every corpus)."""
    from labeling.dataset import load_dataset_dir
    from labeling.taxonomy import taxonomy_from_dict
    from training.data import split_inputs, task_specs

    dataset, taxonomy = load_dataset_dir(dataset_dir)
    specs = task_specs(taxonomy_from_dict(taxonomy, str(dataset_dir)))
    texts: list[str] = []
    targets: dict[str, list[np.ndarray]] = {s.name: [] for s in specs}
    groups: list[str] = []
    for name in ("train", "validation", "test"):
        t, y = split_inputs(dataset[name], specs)
        texts += t
        for k in targets:
            targets[k].append(y[k])
        columns = dataset[name].column_names
        groups += list(dataset[name]["author_id"] if "author_id" in columns else dataset[name]["post_id"])
    safety = load_settings(None).safety.task
    return Corpus("demo", specs, texts, {k: np.concatenate(v) for k, v in targets.items()}, np.asarray(groups),
                  safety if any(s.name == safety for s in specs) else None)


# ---- families --------------------------------------------------------------------------------------------------


class Reference:
    """The plain scikit-learn pipeline, one per task (see the module docstring)."""

    def __init__(self, specs: Sequence[TaskSpec]) -> None:
        self.specs = list(specs)

    @staticmethod
    def _pipeline(multi: bool) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import FeatureUnion, make_pipeline

        features = FeatureUnion([("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                                 ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True))])
        head = LogisticRegression(C=4, class_weight="balanced", max_iter=1000)
        return make_pipeline(features, OneVsRestClassifier(head) if multi else head)

    def fit(self, texts: list[str], targets: dict[str, np.ndarray]) -> "Reference":
        self.models = {}
        for spec in self.specs:
            y = targets[spec.name]
            keep = ~(y == UNLABELED).all(axis=1) if spec.kind == "multi" else y != UNLABELED
            model = self._pipeline(spec.kind == "multi")
            self.models[spec.name] = model.fit([t for t, k in zip(texts, keep) if k], y[keep])
        return self

    def predict_proba(self, texts: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for spec in self.specs:
            model = self.models[spec.name]
            p = model.predict_proba(texts)
            full = np.zeros((len(texts), len(spec.labels)))
            classes = model.classes_ if spec.kind != "multi" else np.arange(len(spec.labels))
            full[:, classes] = p
            out[spec.name] = full
        return out

    def thresholds(self) -> dict[str, list[float] | None]:
        return {s.name: (None if s.kind == "single" else [0.5] * (1 if s.kind == "binary" else len(s.labels)))
                for s in self.specs}


def adapted_once(corpus: Corpus, base: Path, settings: Settings) -> Any:
    """The encoder adapted on `corpus.unlabeled`, kept in bench/out/encoders/ under a key of the base encoder,
    the `adapt` settings and the posts' text, so that a later run (more seeds) reuses it: adapting on 20,000
    posts takes half an hour on a 2-core CPU."""
    import hashlib

    from common.settings import to_dict
    from training.adapt import AdaptResult, adapt_encoder, read_post_texts

    texts = read_post_texts(corpus.unlabeled, settings.adapt.max_posts, settings.adapt.seed)
    digest = hashlib.sha256(json.dumps([str(base.resolve()), to_dict(settings.adapt), settings.transformer.max_length]).encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
    folder = ROOT / "bench" / "out" / "encoders" / f"{corpus.name}-{digest.hexdigest()[:16]}"
    record = folder / "adapt.json"
    if record.is_file():
        logger.info("%s: reusing the encoder adapted in %s", corpus.name, folder)
        return AdaptResult(folder / "encoder", **json.loads(record.read_text(encoding="utf-8")))
    result = adapt_encoder(texts, base, folder / "encoder", settings.adapt, settings.transformer.max_length,
                           progress=False)
    fields = {k: getattr(result, k) for k in ("posts", "held_out", "loss_before", "loss_after", "seconds", "history")}
    record.write_text(json.dumps(fields, indent=1), encoding="utf-8")
    return result


def fit_family(family: str, corpus: Corpus, training_file: np.ndarray, seed: int,
               settings: Settings) -> tuple[dict, dict, Callable, float | None]:
    """Fit `family` on the user's training file.

    Returns (thresholds for macro-F1, the safety task's threshold per binary task, probability function, the
    recipe's own training seconds: for the ensemble, both members' plus the combination).
    Macro-F1 is read at the F1-tuned thresholds of every family; the safety policy (recall target 0.95 on
    validation, guarded by the flag cap) is applied to the same validation probabilities, separately, so the
    F1 comparison is not a comparison of operating points.
    """
    if family == "reference":
        model = Reference(corpus.specs).fit(*corpus.rows(training_file))
        cuts = model.thresholds()
        return cuts, {s.name: cuts[s.name][0] for s in corpus.specs if s.kind == "binary"}, model.predict_proba, None
    from training.recipe import combine, fit_recipe, tune_with_policy

    train, validation = train_validation(corpus, training_file, seed, settings)
    plain = with_safety_task(settings, None)
    if family == "ensemble":
        members = {}
        for member in ("baseline", "transformer"):
            key = (corpus.name, seed, member)
            if key not in _FITTED:
                if any(k[:2] != key[:2] for k in _FITTED):
                    _FITTED.clear()
                _FITTED[key] = fit_recipe(member, corpus.specs, train, validation, plain, progress=False)
            members[member] = _FITTED[key]
        shipped = combine(corpus.specs, members["baseline"], members["transformer"], validation, plain)
    elif family == "adapted":
        import dataclasses
        import tempfile

        from models.transformer.encoder import default_encoder_dir
        from training.adapt import adapt_encoder

        base = settings.transformer.encoder or default_encoder_dir()
        with tempfile.TemporaryDirectory() as tmp:
            if corpus.unlabeled:  # a dump of the same kind, adapted on once for every seed
                if corpus.name not in _ADAPTED:
                    _ADAPTED[corpus.name] = adapted_once(corpus, Path(base), settings)
                adapted = _ADAPTED[corpus.name]
            else:  # the unlabeled text of the training file only: the test posts stay unseen
                adapted = adapt_encoder(corpus.rows(training_file)[0], base, Path(tmp) / "encoder", settings.adapt,
                                        settings.transformer.max_length, progress=False)
            logger.info("%s seed %d: adapted on %d posts in %.0fs, held-out masked-LM loss %.3f -> %.3f", corpus.name,
                        seed, adapted.posts, adapted.seconds, adapted.loss_before, adapted.loss_after)
            on_adapted = dataclasses.replace(plain, transformer=dataclasses.replace(plain.transformer, encoder=str(adapted.encoder_dir)))
            shipped = fit_recipe("transformer", corpus.specs, train, validation, on_adapted, progress=False)
        shipped.seconds += adapted.seconds
    else:
        shipped = fit_recipe(family, corpus.specs, train, validation, plain, progress=False)
        if any(k[:2] != (corpus.name, seed) for k in _FITTED):
            _FITTED.clear()
        _FITTED[(corpus.name, seed, family)] = shipped
    safety_cuts = {}
    for spec in corpus.specs:
        if spec.kind == "binary":
            cuts, _ = tune_with_policy([spec], shipped.validation_proba, shipped.validation_targets,
                                       settings.thresholds, with_safety_task(settings, spec.name).safety)
            safety_cuts[spec.name] = cuts[spec.name][0]
    from models.calibration import apply_temperatures

    def proba(texts: list[str]) -> dict[str, np.ndarray]:
        return apply_temperatures(corpus.specs, shipped.model.predict_proba(texts), shipped.temperatures)

    return shipped.thresholds, safety_cuts, proba, shipped.seconds


def test_split(corpus: Corpus, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of this seed's training file (80%) and test set (20%), grouped."""
    training_file, _, test = split_indices(corpus.groups, seed, (0.8, 0.0, 0.2))
    return training_file, test


def train_validation(corpus: Corpus, training_file: np.ndarray, seed: int, settings: Settings) -> tuple[Split, Split]:
    """The training file split the way `occ dataset` splits it: validation_fraction of all labels."""
    share = settings.dataset.validation_fraction / (1.0 - settings.dataset.test_fraction)
    inner_train, inner_val, _ = split_indices(corpus.groups[training_file], 1000 + seed, (1.0 - share, share, 0.0))
    return corpus.rows(training_file[inner_train]), corpus.rows(training_file[inner_val])


def with_safety_task(settings: Settings, task: str | None) -> Settings:
    """The shipped settings with `task` as the safety task (None: no task gets the recall target)."""
    import dataclasses

    return dataclasses.replace(settings, safety=dataclasses.replace(settings.safety, task=task or "__none__"))


# ---- metrics ---------------------------------------------------------------------------------------------------


def precision_at_recall(scores: np.ndarray, positive: np.ndarray, target: float = 0.95) -> float:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(positive, scores)
    return float(precision[recall >= target].max())


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The per-seed rows a paired bench script kept (one JSON object a line); none if it has not run yet."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Keep one seed's row as soon as it is measured, so an interrupted run resumes where it stopped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def safety_shape(spec: TaskSpec, proba: np.ndarray, y: np.ndarray, cut: float) -> dict[str, float]:
    """A binary task's figures on labeled test posts: average precision, precision at recall 0.95, and the recall
    and share of posts flagged at `cut` (the safety threshold chosen on validation)."""
    from sklearn.metrics import average_precision_score

    keep = y != UNLABELED
    positive = y[keep] == spec.positive_index
    scores = proba[keep, spec.positive_index]
    flagged = scores >= cut
    return {"average_precision": float(average_precision_score(positive, scores)),
            "precision_at_recall_95": precision_at_recall(scores, positive),
            "recall_at_threshold": float(flagged[positive].mean()), "flag_share": float(flagged.mean())}


def keep_probabilities(folder: Path, corpus: Corpus, family: str, seed: int, test_proba: dict[str, np.ndarray],
                       test_targets: dict[str, np.ndarray]) -> None:
    """Write a member's calibrated validation and test probabilities with their targets to one .npz.

    Why: the ensemble only mixes its members' probabilities, so with these files any combination rule can be
    compared on every corpus and seed without fine-tuning a transformer again.
    """
    fitted = _FITTED.get((corpus.name, seed, family))
    if fitted is None:
        return
    arrays = {}
    for spec in corpus.specs:
        arrays[f"validation_proba.{spec.name}"] = fitted.validation_proba[spec.name]
        arrays[f"validation_targets.{spec.name}"] = fitted.validation_targets[spec.name]
        arrays[f"test_proba.{spec.name}"] = test_proba[spec.name]
        arrays[f"test_targets.{spec.name}"] = test_targets[spec.name]
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / f"{corpus.name}.{family}.{seed}.npz", **arrays)


def measure(corpus: Corpus, family: str, seed: int, settings: Settings,
            probabilities: Path | None = None) -> dict[str, Any]:
    from training.metrics import evaluate_all

    training_file, test = test_split(corpus, seed)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        thresholds, safety_cuts, proba, recipe_s = fit_family(family, corpus, training_file, seed, settings)
    fit_s = recipe_s if recipe_s is not None else time.perf_counter() - started
    texts, y = corpus.rows(test)
    p = proba(texts)
    repeat = max(1, -(-2000 // max(1, len(texts))))  # time at least 2,000 posts
    started = time.perf_counter()
    proba(texts * repeat)
    rate = len(texts) * repeat / (time.perf_counter() - started)
    metrics = evaluate_all(corpus.specs, p, y, thresholds)
    if probabilities is not None:
        keep_probabilities(probabilities, corpus, family, seed, p, y)
    out: dict[str, Any] = {"corpus": corpus.name, "family": family, "seed": seed, "fit_s": fit_s, "posts_per_s": rate,
                           "n_train": int(training_file.size), "n_test": int(test.size), "tasks": {}}
    for spec in corpus.specs:
        row = {"macro_f1": float(metrics[spec.name]["macro_f1"])}
        if spec.kind == "binary":
            row.update(safety_shape(spec, p[spec.name], y[spec.name], safety_cuts[spec.name]))
        out["tasks"][spec.name] = row
    logger.info("%s %s seed %d: %s (fit %.1fs, %.0f posts/s)", corpus.name, family, seed,
                {k: round(v["macro_f1"], 3) for k, v in out["tasks"].items()}, fit_s, rate)
    return out


# ---- the table -------------------------------------------------------------------------------------------------


def _mean_sd(values: Sequence[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "-"


PAIRED = (("baseline", "reference"), ("transformer", "baseline"), ("adapted", "transformer"), ("ensemble", "better"))
"""The comparisons the targets are about; "better" is whichever of baseline and transformer has the higher mean."""


def paired_difference(first: dict[int, float], second: dict[int, float]) -> tuple[float, float, int, int] | None:
    """Mean of first - second over the seeds both ran (points), the half-width of its 95% interval (Student's t
    over the paired seeds; nan with one seed) and how many seeds first was ahead on, of how many.

    Paired, because every family of a seed sees the same split: the spread of one family across seeds is mostly
    the split's luck, which a paired difference cancels. Without the interval a -0.3 reads as a loss where the
    seeds disagree on its sign.
    """
    from scipy import stats

    seeds = sorted(set(first) & set(second))
    if not seeds:
        return None
    diffs = 100.0 * np.array([first[s] - second[s] for s in seeds])
    half = (float(stats.t.ppf(0.975, len(seeds) - 1) * diffs.std(ddof=1) / np.sqrt(len(seeds)))
            if len(seeds) > 1 else float("nan"))
    return float(diffs.mean()), half, int((diffs > 0).sum()), len(seeds)


def _paired_cell(result: tuple[float, float, int, int] | None) -> str:
    if result is None:
        return "-"
    mean, half, ahead, n = result
    interval = f" ({mean - half:+.1f} to {mean + half:+.1f})" if np.isfinite(half) else ""
    return f"{mean:+.1f}{interval}, {ahead}/{n}"


def paired_table(by: dict[tuple[str, str, str], dict[int, float]], corpora: Sequence[tuple[str, str]]) -> list[str]:
    """Differences in macro-F1 points between families on the same seeds, per corpus and task."""
    lines = ["", "Paired differences in test macro-F1 points, same seeds: the mean, its 95% interval over seeds "
             "(Student's t) and on how many seeds the first family was ahead. \"better\" is whichever of baseline "
             "and transformer has the higher mean on that row. An interval that holds 0 is a tie at this many seeds.",
             "", "| corpus / task | " + " | ".join(f"{a} - {b}" for a, b in PAIRED) + " |",
             "|---|" + "---|" * len(PAIRED)]
    totals: dict[tuple[str, str], list[float]] = {pair: [] for pair in PAIRED}
    for corpus, task in corpora:
        cells = []
        for first, second in PAIRED:
            if second == "better":
                members = [by.get((corpus, task, f), {}) for f in ("baseline", "transformer")]
                if not all(members):
                    cells.append("-")
                    continue
                second_seeds = max(members, key=lambda m: np.mean(list(m.values())))
            else:
                second_seeds = by.get((corpus, task, second), {})
            result = paired_difference(by.get((corpus, task, first), {}), second_seeds)
            if result is not None:
                totals[(first, second)].append(result[0])
            cells.append(_paired_cell(result))
        lines.append(f"| {corpus} / {task} | " + " | ".join(cells) + " |")
    lines.append("| **mean over rows** | " + " | ".join(
        f"{np.mean(v):+.1f} ({len(v)} rows)" if v else "-" for v in totals.values()) + " |")
    return lines


def table(runs: Sequence[dict[str, Any]], families: Sequence[str]) -> str:
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    corpora: list[tuple[str, str]] = []
    for run in runs:
        for task, row in run["tasks"].items():
            key = (run["corpus"], task)
            if key not in corpora:
                corpora.append(key)
            by.setdefault((run["corpus"], task, run["family"]), []).append({**row, "fit_s": run["fit_s"],
                                                                             "rate": run["posts_per_s"],
                                                                             "seed": run["seed"]})
    present = [f for f in families if any(k[2] == f for k in by)]
    lines = ["| corpus / task | " + " | ".join(present) + " | seeds |", "|---|" + "---|" * (len(present) + 1)]
    for corpus, task in corpora:
        seeds = max(len(by.get((corpus, task, f), [])) for f in present)
        cells = []
        for f in present:
            values = [r["macro_f1"] for r in by.get((corpus, task, f), [])]
            cells.append(_mean_sd(values) + (f" (n={len(values)})" if values and len(values) < seeds else ""))
        lines.append(f"| {corpus} / {task} | " + " | ".join(cells) + f" | {seeds} |")
    means = []
    for f in present:
        per_task = [np.mean([r["macro_f1"] for r in by[(c, t, f)]]) for c, t in corpora if (c, t, f) in by]
        means.append(f"{np.mean(per_task):.3f} ({len(per_task)} tasks)" if per_task else "-")
    lines.append("| **mean over tasks** | " + " | ".join(means) + " | |")

    per_seed = {key: {r["seed"]: r["macro_f1"] for r in rows} for key, rows in by.items()}
    lines += paired_table(per_seed, corpora)

    safety = ["", "Binary tasks (the safety shape): average precision, precision at recall 0.95 on test, and the "
              "recall / share of posts flagged at the safety threshold (recall target 0.95 on validation, flag "
              "cap; the reference decides at 0.5).", "",
              "| corpus / task | family | average precision | precision @ recall 0.95 | recall at threshold | flagged |",
              "|---|---|---|---|---|---|"]
    for corpus, task in corpora:
        for f in present:
            rows = by.get((corpus, task, f), [])
            if rows and "average_precision" in rows[0]:
                safety.append(f"| {corpus} / {task} | {f} | {_mean_sd([r['average_precision'] for r in rows])} | "
                              f"{_mean_sd([r['precision_at_recall_95'] for r in rows])} | "
                              f"{_mean_sd([r['recall_at_threshold'] for r in rows])} | "
                              f"{_mean_sd([r['flag_share'] for r in rows])} |")
    cost = ["", "Cost: training seconds (the whole recipe) and scoring rate (posts/s), mean over seeds.", "",
            "| corpus | " + " | ".join(f"{f} train s | {f} posts/s" for f in present) + " |",
            "|---|" + "---|---|" * len(present)]
    for corpus in dict.fromkeys(c for c, _ in corpora):
        cells = []
        for f in present:
            rows = [r for (c, _, ff), rs in by.items() if c == corpus and ff == f for r in rs]
            cells += [f"{np.mean([r['fit_s'] for r in rows]):.1f}" if rows else "-",
                      f"{np.mean([r['rate'] for r in rows]):,.0f}" if rows else "-"]
        cost.append(f"| {corpus} | " + " | ".join(cells) + " |")
    return "\n".join(lines + safety + cost)


def changed(settings: Settings, assignments: Sequence[str]) -> Settings:
    """`settings` with SECTION.KEY=VALUE changes, checked by the settings loader like a params file."""
    import yaml

    from common.settings import settings_from_mapping

    data = settings.to_dict()
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        section, _, name = key.partition(".")
        data[section] = {**data[section], name: yaml.safe_load(value)}
    return settings_from_mapping(data, "--set")



def paired_setup(data_dir: Path, demo: Path | None, assignments: Sequence[str]) -> tuple[Settings, list[Corpus]]:
    """What a paired bench script (early stopping, refit, checkpoint averaging) compares on: params.yaml with
    `assignments`, no task given the safety recall target (their tables compare macro-F1, as this script's
    does), and the public corpora under `data_dir`, then the demo dataset if one is given."""
    settings = with_safety_task(changed(load_settings(ROOT / "params.yaml"), assignments), None)
    return settings, public_corpora(data_dir) + ([demo_corpus(demo)] if demo else [])

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--demo", type=Path, default=None, help="a dataset folder written by occ dataset")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds FIRST..FIRST+SEEDS-1 (add seeds to an earlier JSON with --merge)")
    parser.add_argument("--families", default="reference,baseline")
    parser.add_argument("--corpora", default=None, help="comma-separated corpus names (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "benchmarks.json")
    parser.add_argument("--merge", action="store_true", help="keep the runs already in --json (other families)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="change a setting for this run (YAML value), e.g. transformer.truncation=head")
    parser.add_argument("--tag", default="", help="suffix of the family names in the table, e.g. [head]")
    parser.add_argument("--probabilities", type=Path, default=None, metavar="DIR",
                        help="also write the baseline's and transformer's validation and test probabilities here")
    parser.add_argument("--unlabeled", action="append", default=[], metavar="CORPUS=FOLDER",
                        help="an ingested post folder (occ ingest --out) of unlabeled text of the same kind as CORPUS: "
                             "the adapted family adapts once on it instead of on each seed's training file")
    parser.add_argument("--render", action="store_true", help="only rewrite --out from the runs in --json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = changed(load_settings(ROOT / "params.yaml"), args.set)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise SystemExit(f"unknown families {sorted(unknown)}; choose from {FAMILIES}")
    corpora = [] if args.render else public_corpora(args.data_dir) + ([demo_corpus(args.demo)] if args.demo else [])
    if args.corpora:
        wanted = set(args.corpora.split(","))
        corpora = [c for c in corpora if c.name in wanted]
    for spec in args.unlabeled:
        name, _, folder = spec.partition("=")
        for corpus in corpora:
            if corpus.name == name:
                corpus.unlabeled.append(Path(folder))
    runs: list[dict[str, Any]] = []
    if args.render:
        runs = json.loads(args.json.read_text())["runs"]
        corpora = []
    elif args.merge and args.json.is_file():
        seeds = set(range(args.first_seed, args.first_seed + args.seeds))
        runs = [r for r in json.loads(args.json.read_text())["runs"]
                if not (r["family"] in {f + args.tag for f in families} and r["corpus"] in {c.name for c in corpora}
                        and r["seed"] in seeds)]
    for corpus in corpora:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for family in families:
                run = measure(corpus, family, seed, settings, args.probabilities)
                run["family"] += args.tag
                runs.append(run)
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps({"runs": runs}, indent=1))
    body = table(runs, list(dict.fromkeys([*FAMILIES, *(r["family"] for r in runs)])))
    print(body)
    header = (
        "# Benchmarks\n\n"
        "Regenerate with `python bench/benchmarks.py DATA_DIR --demo data/dataset --seeds 5 --families "
        "reference,baseline[,transformer]` (see its docstring). Test macro-F1, mean ± standard deviation over "
        "seeds; each seed draws a grouped 20% test set, and every family gets the same remaining 80% as its "
        "training file. `reference` is a plain scikit-learn pipeline (word 1-2 + char_wb 2-5 TF-IDF, "
        "LogisticRegression C=4 balanced); the other families are what `occ train` ships with params.yaml.\n\n"
        "The public corpora are patients' and consumers' text (drug reviews, forum questions, case reports), "
        "not clinicians' posts: read them as a check that the recipe holds up on text nobody tuned it on.\n\n")
    notes = ""
    if args.out.is_file() and NOTES_MARKER in args.out.read_text(encoding="utf-8"):
        notes = NOTES_MARKER + args.out.read_text(encoding="utf-8").split(NOTES_MARKER, 1)[1]
    args.out.write_text(header + body + "\n\n" + (notes or NOTES_MARKER + "\n"), encoding="utf-8")
    print(f"\nwrote {args.out} and {args.json}")


if __name__ == "__main__":
    main()
