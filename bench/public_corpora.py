"""Generalization check of a model family on real, public, labeled text (run by hand; no test depends on it).

    python bench/public_corpora.py evaluate DATA_DIR            # the default recipe on every corpus
    python bench/public_corpora.py grid DATA_DIR                # threshold policies x class_weight x C x n-grams
                                                                # on full and 600 / 300-row label sets, 5 seeds
    python bench/public_corpora.py speed DATA_DIR               # throughput / fit time on ~200-char posts

DATA_DIR holds the corpora described in its README.md (one folder each, `posts.jsonl`). They are patient or
consumer text, not clinicians' posts, so they check robustness under a change of register; defaults are picked
by what is best *across* them, never by one. Nothing is copied into the project.

Reusable by later model families: `load_public_tasks` gives (name, TaskSpec, texts, targets, groups) in the
`models.tasks` encoding, and `evaluate(model_factory, tasks)` fits whatever `model_factory([spec])` returns
(anything with `fit(texts, Y)` and `predict_proba(texts) -> {task: (n, L)}`), tunes thresholds with the
model-agnostic `models.thresholds`, and scores the test split.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, NamedTuple, Optional, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from common.settings import ThresholdSettings  # noqa: E402
from models import thresholds as thr  # noqa: E402
from models.tasks import UNLABELED, TaskSpec, decide_indices  # noqa: E402

logger = logging.getLogger(__name__)


class PublicTask(NamedTuple):
    """One public corpus mapped onto a task shape; `groups` keeps related rows (one post's sentences,
    duplicate questions) in the same split."""

    name: str
    spec: TaskSpec
    texts: list[str]
    y: np.ndarray
    groups: np.ndarray


ModelFactory = Callable[[list[TaskSpec]], Any]
"""Builds an unfitted model for the given tasks: `fit(texts, {task: y})`, `predict_proba(texts)`."""

# ----------------------------------------------------------------------------------------------------------
# Corpora -> task shapes
# ----------------------------------------------------------------------------------------------------------

PSYTAR_FACETS = ("ADR", "WD", "EF", "INF", "SSI", "DI")
CADEC_NEEDS = ("Uncertainity of Post_Diagnosis", "Medical Assistance", "Diet and Maintenance", "Information Source")
"""CADEC information needs; "Results and Side-Effects Observed" (99 % positive) is left out, as its authors did."""
MEDQA_MIN_ROWS = 25
"""MedicationQA question types with fewer rows are dropped (too few to split 60/20/20 and score)."""
LIVEQA_MIN_ROWS = 15
"""LiveQA question types (case-folded) on fewer questions are dropped, for the same reason."""


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_public_tasks(data_dir: str | Path) -> list[PublicTask]:
    """Map the public corpora in `data_dir` onto the project's task shapes.

    - drugscom_sentiment (single): Drugs.com review rating -> negative / neutral / positive (sentiment).
    - psytar_review_sentiment (single): PsyTAR post rating 1-2 / 3 / 4-5 -> negative / neutral / positive.
    - psytar_facets (multi): PsyTAR sentence labels ADR, WD, EF, INF, SSI, DI (perception analogue).
    - psytar_adr (binary): PsyTAR sentence mentions an ADR, yes / no (adverse-event analogue).
    - cadec_needs (multi): CADEC information-need labels (evidence-need analogue).
    - drugscom_negative (binary): Drugs.com review is negative, yes / no (a second binary shape).
    - medqa_type (single): MedicationQA question type, types with >= MEDQA_MIN_ROWS rows.
    - liveqa_types (multi): LiveQA question types (a question may have several), >= LIVEQA_MIN_ROWS each.

    Corpora missing from `data_dir` are skipped with a warning, so a partial copy still runs.
    """
    data_dir = Path(data_dir)
    tasks: list[PublicTask] = []
    sentiment = ("negative", "neutral", "positive")

    path = data_dir / "drugscom_subset" / "posts.jsonl"
    if path.is_file():
        rows = _read_jsonl(path)
        tasks.append(PublicTask(
            "drugscom_sentiment", TaskSpec("sentiment", "single", sentiment),
            [r["text"] for r in rows], np.array([sentiment.index(r["labels"]["rating"]) for r in rows]),
            np.array([r["id"] for r in rows]),
        ))
        tasks.append(PublicTask(
            "drugscom_negative", TaskSpec("negative", "binary", ("no", "yes"), "yes"),
            [r["text"] for r in rows], np.array([int(r["labels"]["rating"] == "negative") for r in rows]),
            np.array([r["id"] for r in rows]),
        ))
    else:
        logger.warning("skipping drugscom_subset: %s not found", path)

    path = data_dir / "psytar" / "posts_reviews.jsonl"
    if path.is_file():
        rows = [r for r in _read_jsonl(path) if r["text"].strip()]
        rating = np.array([int(r["labels"]["rating"]) for r in rows])
        tasks.append(PublicTask(
            "psytar_review_sentiment", TaskSpec("sentiment", "single", sentiment),
            [r["text"] for r in rows], np.where(rating <= 2, 0, np.where(rating == 3, 1, 2)),
            np.array([r["id"] for r in rows]),
        ))

    path = data_dir / "psytar" / "posts.jsonl"
    if path.is_file():
        rows = [r for r in _read_jsonl(path) if r["text"].strip()]
        texts = [r["text"] for r in rows]
        groups = np.array([str(r["meta"]["drug_id"]) for r in rows])  # one post's sentences stay together
        facets = np.array([[int(r["labels"][k]) for k in PSYTAR_FACETS] for r in rows], dtype=np.int8)
        tasks.append(PublicTask("psytar_facets", TaskSpec("facets", "multi", PSYTAR_FACETS), texts, facets, groups))
        tasks.append(PublicTask(
            "psytar_adr", TaskSpec("adverse_event", "binary", ("no", "yes"), "yes"), texts,
            facets[:, 0].astype(np.int64), groups,
        ))
    else:
        logger.warning("skipping psytar: %s not found", path)

    path = data_dir / "cadec_mfqc" / "posts.jsonl"
    if path.is_file():
        rows = _read_jsonl(path)
        tasks.append(PublicTask(
            "cadec_needs", TaskSpec("info_need", "multi", CADEC_NEEDS), [r["text"] for r in rows],
            np.array([[int(r["labels"][k]) for k in CADEC_NEEDS] for r in rows], dtype=np.int8),
            np.array([r["id"] for r in rows]),
        ))
    else:
        logger.warning("skipping cadec_mfqc: %s not found", path)

    path = data_dir / "medication_qa" / "posts.jsonl"
    if path.is_file():
        rows = _read_jsonl(path)
        types = [r["labels"]["Question Type"] for r in rows]
        keep = sorted({t for t in types if types.count(t) >= MEDQA_MIN_ROWS})
        rows = [r for r, t in zip(rows, types) if t in keep]
        tasks.append(PublicTask(
            "medqa_type", TaskSpec("question_type", "single", tuple(keep)), [r["text"] for r in rows],
            np.array([keep.index(r["labels"]["Question Type"]) for r in rows]),
            np.array([" ".join(r["text"].lower().split()) for r in rows]),  # repeated questions stay together
        ))
    else:
        logger.warning("skipping medication_qa: %s not found", path)
    path = data_dir / "liveqa_med" / "posts.jsonl"
    if path.is_file():
        rows = _read_jsonl(path)
        types = [{t.strip().lower().replace("_", " ") for t in r["labels"]["TYPE"]} for r in rows]
        counts: dict[str, int] = {}
        for ts in types:
            for t in ts:
                counts[t] = counts.get(t, 0) + 1
        keep = tuple(sorted(t for t, c in counts.items() if c >= LIVEQA_MIN_ROWS))
        tasks.append(PublicTask(
            "liveqa_types", TaskSpec("question_types", "multi", keep), [r["text"] for r in rows],
            np.array([[int(t in ts) for t in keep] for ts in types], dtype=np.int8), np.array([r["id"] for r in rows]),
        ))
    else:
        logger.warning("skipping liveqa_med: %s not found", path)
    return tasks


def split_indices(
    groups: np.ndarray, seed: int, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded grouped split into train / validation / test row indices (whole groups, ~`fractions` of rows)."""
    distinct, inverse = np.unique(groups, return_inverse=True)
    order = np.random.default_rng(seed).permutation(distinct.size)
    sizes = np.bincount(inverse, minlength=distinct.size)[order]
    cut = np.cumsum(sizes) / sizes.sum()
    part = np.searchsorted([fractions[0], fractions[0] + fractions[1]], cut, side="left")
    group_part = np.empty(distinct.size, dtype=np.int64)
    group_part[order] = part
    row_part = group_part[inverse]
    return tuple(np.flatnonzero(row_part == k) for k in range(3))  # type: ignore[return-value]


def subsample(task: PublicTask, max_rows: int | None, seed: int) -> PublicTask:
    """At most `max_rows` rows (whole groups), to see how a recipe behaves with few labels."""
    if max_rows is None or len(task.texts) <= max_rows:
        return task
    distinct, inverse = np.unique(task.groups, return_inverse=True)
    order = np.random.default_rng(10_000 + seed).permutation(distinct.size)
    sizes = np.bincount(inverse, minlength=distinct.size)[order]
    chosen = order[: max(1, int(np.searchsorted(np.cumsum(sizes), max_rows, side="right")))]
    rows = np.flatnonzero(np.isin(inverse, chosen))
    return task._replace(texts=[task.texts[i] for i in rows], y=task.y[rows], groups=task.groups[rows])


# ----------------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdPolicy:
    """A named way of choosing thresholds on validation data (arguments of `models.thresholds.tune_thresholds`)."""

    name: str
    strategy: str
    min_positives: int = ThresholdSettings().min_positives
    clip: tuple[float, float] = ThresholdSettings().clip
    shrink: float = ThresholdSettings().shrink
    min_recall: float | None = None
    anchor: str = "prevalence"

    def thresholds(self, spec: TaskSpec, proba_val: np.ndarray, y_val: np.ndarray) -> list[float] | None:
        if spec.kind == "single":
            return None
        policy = ThresholdSettings(strategy=self.strategy, min_positives=self.min_positives, clip=self.clip,
                                   shrink=self.shrink)
        return thr.tune_thresholds(spec, proba_val, y_val, policy, self.min_recall if spec.kind == "binary" else None,
                                   anchor=self.anchor)


DEFAULT_POLICIES: tuple[ThresholdPolicy, ...] = (
    ThresholdPolicy("fixed0.5", "fixed"),
    ThresholdPolicy("tuned_raw", "tuned"),
    ThresholdPolicy("shrunk_to_0.5", "shrunk", min_positives=10, clip=(0.1, 0.9), shrink=20.0, anchor="half"),
    ThresholdPolicy("shrunk_default", "shrunk"),
    ThresholdPolicy("recall95", "shrunk", min_recall=0.95),
)
"""fixed 0.5; the raw F1 optimum; the naive safeguards (>= 10 positives, clip [0.1, 0.9], shrink toward 0.5
with 20 pseudo-positives); the project default (`models.thresholds`); and the 0.95 recall target."""


def score(spec: TaskSpec, proba: np.ndarray, y: np.ndarray, thresholds: Sequence[float] | None) -> dict[str, float]:
    """Macro- and micro-F1 (and, for binary tasks, precision / recall / F1 of the positive label) on the
    labeled rows. Single: micro-F1 = accuracy. Multi: macro over labels, micro over all label decisions."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    keep = y != UNLABELED if spec.kind != "multi" else ~(y == UNLABELED).all(axis=1)
    pred = decide_indices(spec, proba[keep], thresholds)
    gold = y[keep]
    if spec.kind == "multi":
        return {
            "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
        }
    labels = list(range(len(spec.labels)))
    out = {
        "macro_f1": float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(gold, pred, labels=labels, average="micro", zero_division=0)),
    }
    if spec.kind == "binary":
        pos = spec.positive_index
        out["f1_pos"] = float(f1_score(gold, pred, pos_label=pos, zero_division=0))
        out["precision"] = float(precision_score(gold, pred, pos_label=pos, zero_division=0))
        out["recall"] = float(recall_score(gold, pred, pos_label=pos, zero_division=0))
    return out


def headline(spec: TaskSpec, metrics: dict[str, float]) -> float:
    """The one number compared across recipes: F1 of the positive label for binary tasks, else macro-F1."""
    return metrics["f1_pos"] if spec.kind == "binary" else metrics["macro_f1"]


@dataclass
class Result:
    task: str
    kind: str
    seed: int
    config: str
    policy: str
    n_train: int
    n_val: int
    n_test: int
    fit_s: float
    metrics: dict[str, float]
    thresholds: list[float] | None = field(default=None)


@dataclass
class Fitted:
    """Validation and test probabilities of one fit: every threshold policy is scored from these."""

    task: str
    spec: TaskSpec
    seed: int
    config: str
    n_train: int
    fit_s: float
    p_val: np.ndarray
    y_val: np.ndarray
    p_test: np.ndarray
    y_test: np.ndarray


def collect(
    model_factory: ModelFactory,
    tasks: Iterable[PublicTask],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    max_rows: int | None = None,
    config: str = "default",
) -> list[Fitted]:
    """Fit `model_factory([spec])` per task and seed on a grouped 60/20/20 split; keep the validation and
    test probabilities."""
    fitted = []
    for task in tasks:
        for seed in seeds:
            part = subsample(task, max_rows, seed)
            train, val, test = split_indices(part.groups, seed)
            texts = part.texts
            model = model_factory([part.spec])
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                model.fit([texts[i] for i in train], {part.spec.name: part.y[train]})
            fit_s = time.perf_counter() - start
            fitted.append(Fitted(
                task.name, part.spec, seed, config, len(train), fit_s,
                model.predict_proba([texts[i] for i in val])[part.spec.name], part.y[val],
                model.predict_proba([texts[i] for i in test])[part.spec.name], part.y[test],
            ))
            logger.info("%s seed %d %s: fit %.1fs", task.name, seed, config, fit_s)
    return fitted


def score_policies(fitted: Iterable[Fitted], policies: Sequence[ThresholdPolicy] = DEFAULT_POLICIES) -> list[Result]:
    """Choose thresholds on each fit's validation probabilities with every policy; score the test part.

    Thresholds are tuned outside the model so that every policy is compared on the same fit, and so that
    any model family is tuned the same way. Single-label tasks (argmax) give one row per fit.
    """
    results = []
    for f in fitted:
        for policy in policies:
            if policy.min_recall is not None and f.spec.kind != "binary":
                continue
            cuts = policy.thresholds(f.spec, f.p_val, f.y_val)
            results.append(Result(
                f.task, f.spec.kind, f.seed, f.config, policy.name if f.spec.kind != "single" else "argmax",
                f.n_train, len(f.y_val), len(f.y_test), f.fit_s, score(f.spec, f.p_test, f.y_test, cuts), cuts,
            ))
            if f.spec.kind == "single":
                break
    return results


def evaluate(
    model_factory: ModelFactory,
    tasks: Iterable[PublicTask],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    policies: Sequence[ThresholdPolicy] = DEFAULT_POLICIES,
    max_rows: int | None = None,
    config: str = "default",
) -> list[Result]:
    """`collect` then `score_policies`: test scores of `model_factory`'s models per task, seed and policy."""
    return score_policies(collect(model_factory, tasks, seeds=seeds, max_rows=max_rows, config=config), policies)


def summarize(results: Sequence[Result], keys: Sequence[str] = ("macro_f1", "micro_f1")) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per (task, config, policy)."""
    table: dict[tuple[str, str, str], list[Result]] = {}
    for r in results:
        table.setdefault((r.task, r.config, r.policy), []).append(r)
    rows = []
    for (task, config, policy), rs in table.items():
        row: dict[str, Any] = {"task": task, "config": config, "policy": policy, "seeds": len(rs),
                               "n_train": int(np.mean([r.n_train for r in rs])), "n_test": int(np.mean([r.n_test for r in rs])),
                               "fit_s": float(np.mean([r.fit_s for r in rs]))}
        for k in sorted({k for r in rs for k in r.metrics}):
            values = [r.metrics[k] for r in rs if k in r.metrics]
            row[k] = float(np.mean(values))
            row[k + "_sd"] = float(np.std(values))
        rows.append(row)
    return rows


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    cols = ["task", "config", "policy", "n_train", "n_test", "macro_f1", "micro_f1", "f1_pos", "precision", "recall", "fit_s"]
    print(" | ".join(cols))
    for row in rows:
        cells = []
        for c in cols:
            v = row.get(c, "")
            if isinstance(v, float):
                sd = row.get(c + "_sd")
                cells.append(f"{v:.3f}" + (f"±{sd:.3f}" if sd is not None else ""))
            else:
                cells.append(str(v))
        print(" | ".join(cells))


def rank_across_tasks(rows: Sequence[dict[str, Any]], kinds: dict[str, str]) -> list[tuple[str, str, float]]:
    """Mean over tasks of the headline score per (config, policy), for tasks where thresholds apply
    (binary: F1 of the positive label; multi: macro-F1), best first. Each task weighs the same."""
    scores: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        kind = kinds[row["task"]]
        if kind == "single" or row["policy"] == "recall95":
            continue
        scores.setdefault((row["config"], row["policy"]), []).append(row["f1_pos"] if kind == "binary" else row["macro_f1"])
    n_tasks = max((len(v) for v in scores.values()), default=0)
    ranked = [(c, p, float(np.mean(v))) for (c, p), v in scores.items() if len(v) == n_tasks]
    return sorted(ranked, key=lambda t: -t[2])


# ----------------------------------------------------------------------------------------------------------
# The baseline family
# ----------------------------------------------------------------------------------------------------------


def baseline_factory(**params: Any) -> ModelFactory:
    """`TfidfMultiTaskClassifier` with the project defaults, overridden by `params`."""
    from models.baseline import TfidfMultiTaskClassifier

    def build(specs: list[TaskSpec]) -> Any:
        return TfidfMultiTaskClassifier(tasks=specs, **params)

    return build


def synthetic_posts(texts: Sequence[str], n: int, chars: int = 200, seed: int = 0) -> list[str]:
    """`n` posts of about `chars` characters cut at word boundaries from real texts (throughput runs)."""
    words = " ".join(texts).split()
    rng = np.random.default_rng(seed)
    posts = []
    for _ in range(n):
        i = int(rng.integers(0, max(1, len(words) - 100)))
        out, length = [], 0
        while length < chars and i < len(words):
            out.append(words[i])
            length += len(words[i]) + 1
            i += 1
        posts.append(" ".join(out))
    return posts


def measure_speed(data_dir: str | Path, n_fit: int = 6000, n_score: int = 20_000, **params: Any) -> dict[str, float]:
    """Fit time on `n_fit` posts and single-thread predict_proba throughput on `n_score` posts of ~200
    characters cut from the public corpora, with the default taxonomy's shape (3 + 5 + 7 labels + binary).

    Labels are random at realistic prevalences, which makes lbfgs work hardest (a pessimistic fit time).
    Throughput is posts per CPU-second of this process (`time.process_time`, BLAS limited to one thread), over
    all posts and the median / best of 2,048-post batches, so other jobs on a shared machine blur it less;
    wall-clock is also reported.
    """
    from threadpoolctl import threadpool_limits

    from models.baseline import TfidfMultiTaskClassifier

    source = [text for task in load_public_tasks(data_dir) for text in task.texts]
    posts = synthetic_posts(source, n_fit + n_score)
    fit_posts, score_posts = posts[:n_fit], posts[n_fit:]
    rng = np.random.default_rng(0)
    specs = [
        TaskSpec("sentiment", "single", ("negative", "neutral", "positive")),
        TaskSpec("perception", "multi", tuple(f"p{j}" for j in range(5))),
        TaskSpec("evidence_need", "multi", tuple(f"e{j}" for j in range(7))),
        TaskSpec("adverse_event", "binary", ("no", "yes"), "yes"),
    ]
    Y = {
        "sentiment": rng.choice(3, n_fit, p=[0.25, 0.5, 0.25]),
        "perception": (rng.random((n_fit, 5)) < 0.25).astype(np.int8),
        "evidence_need": (rng.random((n_fit, 7)) < 0.08).astype(np.int8),
        "adverse_event": (rng.random(n_fit) < 0.1).astype(np.int64),
    }
    with threadpool_limits(1):
        model = TfidfMultiTaskClassifier(tasks=specs, **params)
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(fit_posts, Y)
        fit_wall, fit_cpu = time.perf_counter() - start, time.process_time() - cpu
        model.predict_proba(score_posts[:2048])  # warm the word cache, as a long-running scorer would be
        start, cpu = time.perf_counter(), time.process_time()
        model.predict_proba(score_posts)
        wall, total_cpu = time.perf_counter() - start, time.process_time() - cpu
        batches = []
        for _ in range(3):
            for k in range(0, len(score_posts) - 2047, 2048):
                t = time.process_time()
                model.predict_proba(score_posts[k : k + 2048])
                batches.append(time.process_time() - t)
    return {
        "n_features": float(model.weights_.shape[0]),
        "mean_chars": float(np.mean([len(p) for p in score_posts])),
        "fit_wall_s": fit_wall,
        "fit_cpu_s": fit_cpu,
        "posts_per_s_wall": len(score_posts) / wall,
        "posts_per_cpu_s": len(score_posts) / total_cpu,
        "posts_per_cpu_s_median_batch": 2048 / float(np.median(batches)),
        "posts_per_cpu_s_best_batch": 2048 / min(batches),
    }


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------


try:  # typed CLI options; module level because annotations are resolved from the module's globals
    import typer

    DataDir = Annotated[Path, typer.Argument(help="folder holding the public corpora (one subfolder each)")]
    Seeds = Annotated[int, typer.Option(help="seeds (splits) per task")]
    MaxRows = Annotated[int, typer.Option(help="also run with at most this many rows per task (0: skip)")]
    Out = Annotated[Optional[Path], typer.Option(help="write every result row as JSON here")]
except ImportError:  # pragma: no cover - the library functions above work without typer
    typer = None


def main() -> None:
    if typer is None:
        raise SystemExit("the bench command line needs typer: pip install typer")

    app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])

    def _write(out: Path | None, results: Sequence[Result]) -> None:
        if out is not None:
            out.write_text(json.dumps([r.__dict__ for r in results], indent=1) + "\n", encoding="utf-8")

    @app.command("evaluate")
    def evaluate_cmd(data_dir: DataDir, seeds: Seeds = 3, out: Out = None) -> None:
        """The default recipe on every corpus: test scores per threshold policy."""
        tasks = load_public_tasks(data_dir)
        results = evaluate(baseline_factory(), tasks, seeds=range(seeds))
        print_table(summarize(results))
        _write(out, results)

    @app.command("grid")
    def grid_cmd(
        data_dir: DataDir,
        seeds: Seeds = 5,
        small: Annotated[str, typer.Option(help="also run with at most these many rows per task, comma-separated")] = "600,300",
        out: Out = None,
    ) -> None:
        """Threshold policies x class_weight x C x char n-gram range, on full and small label sets."""
        tasks = load_public_tasks(data_dir)
        kinds = {t.name: t.spec.kind for t in tasks}
        configs = {
            "default": {},
            "char2-5": dict(char_ngram_range=(2, 5)),
            "C4": dict(C=4.0),
            "C10": dict(C=10.0),
            "unweighted": dict(class_weight=None),
        }
        regimes: list[tuple[str, int | None]] = [("full", None)] + [(f"max{int(n)}", int(n)) for n in small.split(",") if n.strip()]
        all_results: list[Result] = []
        overall: dict[tuple[str, str], list[float]] = {}
        singles: dict[tuple[str, str], list[float]] = {}
        for regime, limit in regimes:
            results = []
            for name, params in configs.items():
                results += evaluate(baseline_factory(**params), tasks, seeds=range(seeds), max_rows=limit, config=name)
            rows = summarize(results)
            print(f"\n## regime {regime}")
            print_table(sorted(rows, key=lambda r: (r["task"], r["config"], r["policy"])))
            print(f"\n## regime {regime}: mean over threshold-tuned tasks of test F1 (binary: positive label, multi: macro)")
            for config, policy, value in rank_across_tasks(rows, kinds):
                print(f"{value:.4f}  {config:12s} {policy}")
                overall.setdefault((config, policy), []).append(value)
            for row in rows:
                if kinds[row["task"]] == "single":
                    singles.setdefault((row["config"], row["task"]), []).append(row["macro_f1"])
            for r in results:
                r.config = f"{regime}/{r.config}"
            all_results += results
        print("\n## all regimes: mean over regimes of the line above")
        for (config, policy), values in sorted(overall.items(), key=lambda kv: -np.mean(kv[1])):
            print(f"{np.mean(values):.4f}  {config:12s} {policy}")
        print("\n## single-label tasks: macro-F1, mean over regimes")
        for config in configs:
            cells = [f"{task} {np.mean(v):.3f}" for (c, task), v in sorted(singles.items()) if c == config]
            print(f"{config:12s} " + "  ".join(cells))
        _write(out, all_results)

    @app.command("speed")
    def speed_cmd(
        data_dir: DataDir,
        n_fit: int = 6000,
        n_score: int = 20_000,
        char_min_n: Annotated[int, typer.Option(help="smallest char n-gram (0: the model default, 3)")] = 0,
    ) -> None:
        """Fit time and single-thread scoring throughput of the default model on ~200-char posts."""
        params = {"char_ngram_range": (char_min_n, 5)} if char_min_n else {}
        print(json.dumps(measure_speed(data_dir, n_fit, n_score, **params), indent=2))

    app()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main()
