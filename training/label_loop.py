"""The model-backed steps of the labeling loop: probabilities for a pool, label-definition similarities, and
out-of-fold probabilities for the label audit. The strategies themselves are pure functions in `labeling.loop`.

Why here: choosing what to label next and finding label errors need a model (a registered version's
predictions, the bundled sentence encoder, the baseline recipe fitted fold by fold); `labeling` must not import
`models`, and `training` is where the ML engineer's loop already composes the two.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from common.atomic import AtomicTextWriter, write_bytes_atomic
from common.errors import OccError
from common.settings import Settings
from labeling.loop.confident_learning import find_label_issues
from labeling.loop.selection import (MODEL_STRATEGIES, STRATEGIES, Selection, combined_uncertainty, select_coverage,
                                     select_diverse, select_random, select_uncertain, text_vectors)
from labeling.taxonomy import Taxonomy
from models.tasks import UNLABELED, TaskSpec, decide, specs_from_taxonomy_dict

logger = logging.getLogger(__name__)

POOL_COLUMNS = ["post_id", "text", "author_id", "platform"]


class LabelLoopError(OccError, ValueError):
    """A labeling-loop command cannot run on this input; the message says why and what to do."""


@dataclass
class Pool:
    """Posts that may be chosen for labeling, with what a scored run already knows about them."""

    posts: pd.DataFrame  # post_id, text, author_id, platform
    source: str
    stored_scores: dict[str, np.ndarray] = field(default_factory=dict)  # task -> (n, L), from a scored run
    thresholds: dict[str, list[float]] = field(default_factory=dict)
    model: str | None = None  # the model that produced stored_scores
    taxonomy: dict[str, Any] | None = None


def read_pool(directory: Path) -> Pool:
    """An ingested folder (`posts.parquet`) or a complete scored run (`scores/`, `_manifest.json`)."""
    directory = Path(directory)
    if (directory / "_manifest.json").is_file():
        manifest = json.loads((directory / "_manifest.json").read_text(encoding="utf-8"))
        parts = sorted((directory / "scores").glob("part-*.parquet"))
        if not parts:
            raise LabelLoopError(f"{directory} is a scored run without scored parts; nothing to choose from")
        tasks = (manifest.get("taxonomy") or {}).get("tasks", [])
        score_columns = [f"{t['name']}_scores" for t in tasks]
        table = pq.ParquetDataset([str(p) for p in parts]).read(columns=POOL_COLUMNS + score_columns)
        stored = {}
        for task in tasks:
            column = table.column(f"{task['name']}_scores").combine_chunks()
            labels = [l["name"] if isinstance(l, Mapping) else str(l) for l in task["labels"]]
            stored[task["name"]] = np.stack([column.field(label).to_numpy(zero_copy_only=False) for label in labels],
                                            axis=1).astype(np.float64)
        model = (manifest.get("model") or {}).get("uri")
        return Pool(table.select(POOL_COLUMNS).to_pandas(), str(directory), stored,
                    {k: list(v) for k, v in (manifest.get("thresholds") or {}).items()}, model, manifest.get("taxonomy"))
    posts = directory / "posts.parquet" if directory.is_dir() else directory
    if not posts.is_file():
        raise LabelLoopError(f"--pool {directory}: expected an `occ ingest` folder (posts.parquet) or a complete "
                             "`occ score` run (_manifest.json); found neither")
    return Pool(pq.read_table(posts, columns=POOL_COLUMNS).to_pandas(), str(directory))


def read_post_ids(paths: Iterable[Path]) -> set[str]:
    """Post ids already labeled (or frozen for testing): annotation files, own-labels tables, batches, id lists."""
    ids: set[str] = set()
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise LabelLoopError(f"{path}: no such file (pass files of already-labeled or test post ids)")
        suffix = path.suffix.lower()
        if suffix == ".txt":
            ids.update(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        elif suffix in (".jsonl", ".ndjson", ".json"):
            frame = pd.read_json(path, lines=True, dtype=False)
            if "post_id" not in frame.columns:
                raise LabelLoopError(f"{path}: no post_id field")
            ids.update(frame["post_id"].astype(str))
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            if "post_id" not in frame.columns:
                raise LabelLoopError(f"{path}: no post_id column (labeled posts must have ids to be left out)")
            ids.update(frame["post_id"].astype(str))
    return ids


def zero_shot_classifier(taxonomy: Taxonomy, settings: Settings) -> Any:
    from models.zero_shot import ZeroShotClassifier

    specs = specs_from_taxonomy_dict(taxonomy.to_dict())
    descriptions = {t.name: {l.name: l.description for l in t.labels} for t in taxonomy.tasks}
    return ZeroShotClassifier(specs, descriptions, temperature=settings.label.zero_shot_temperature,
                              multi_quantile=settings.label.zero_shot_multi_quantile)


@dataclass
class Batch:
    rows: list[dict[str, Any]]
    strategy: str
    pool_size: int
    excluded: int
    model: str | None


def select_batch(pool: Pool, n: int, taxonomy: Taxonomy, settings: Settings, *, strategy: str | None = None,
                 model_uri: str | None = None, exclude: set[str] | None = None) -> Batch:
    """Choose `n` posts of the pool to label next (never excluded ones: labeled, frozen test), with reasons.

    Probabilities come from `model_uri` (a registered version, pinned once) when given, else from the scores a
    scored pool already holds; `coverage` needs neither (label definitions only).
    """
    strategy = strategy or settings.label.strategy
    if strategy not in STRATEGIES:
        raise LabelLoopError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if n < 1:
        raise LabelLoopError(f"--n must be at least 1, got {n}")
    exclude = exclude or set()
    keep = ~pool.posts["post_id"].astype(str).isin(exclude).to_numpy()
    posts = pool.posts[keep].reset_index(drop=True)
    if len(posts) < n:
        raise LabelLoopError(f"the pool has {len(posts)} post(s) left after leaving out {int((~keep).sum())} labeled or "
                             f"test post(s); cannot choose {n}: lower --n or add posts to the pool")
    specs = specs_from_taxonomy_dict(taxonomy.to_dict())
    texts = posts["text"].fillna("").astype(str).tolist()
    proba: dict[str, np.ndarray] | None = None
    thresholds: dict[str, list[float]] = {}
    model_name = None
    if model_uri is not None:
        from models.registry import load_pinned, pin

        pinned = pin(model_uri)
        bundle = load_pinned(pinned)
        if bundle.taxonomy_version != taxonomy.version:
            raise LabelLoopError(f"model {pinned.uri} was trained on taxonomy {bundle.taxonomy_version!r}, not "
                                 f"{taxonomy.version!r}; pass the matching --taxonomy or another --model")
        logger.info("scoring %d pool posts with %s", len(texts), pinned.uri)
        proba = bundle.predict_proba(texts, batch_size=settings.score.batch_size, precision=settings.score.precision)
        thresholds, model_name = bundle.thresholds, pinned.uri
    elif pool.stored_scores:
        if pool.taxonomy and str(pool.taxonomy.get("version")) != taxonomy.version:
            raise LabelLoopError(f"the scored pool was scored with taxonomy {pool.taxonomy.get('version')!r}, not "
                                 f"{taxonomy.version!r}; pass the matching --taxonomy")
        proba = {k: v[keep] for k, v in pool.stored_scores.items()}
        thresholds, model_name = pool.thresholds, pool.model

    if strategy in MODEL_STRATEGIES and proba is None:
        raise LabelLoopError(f"--strategy {strategy} needs a model's probabilities: pass --model models:/NAME@ALIAS or a "
                             "scored pool (`occ score` output); with no model yet, use --strategy coverage")
    tasks = list(taxonomy.tasks)
    if strategy == "random":
        chosen = select_random(len(posts), n, settings.label.seed)
    elif strategy == "coverage":
        zero_shot = zero_shot_classifier(taxonomy, settings)
        chosen = select_coverage(tasks, zero_shot.similarities(texts), n)
        model_name = "zero-shot: label definitions"
    else:
        assert proba is not None
        uncertainty, reasons = combined_uncertainty(tasks, proba, thresholds, settings.label.uncertainty)
        if strategy == "uncertainty":
            chosen = select_uncertain(uncertainty, reasons, n)
        else:
            chosen = select_diverse(uncertainty, reasons, n, lambda rows: text_vectors([texts[i] for i in rows],
                                                                                     seed=settings.label.seed),
                                    settings.label.seed, settings.label.candidate_factor)
    rows = batch_rows(posts, chosen, strategy, model_name, specs, proba, thresholds)
    return Batch(rows, strategy, len(pool.posts), int((~keep).sum()), model_name)


def batch_rows(posts: pd.DataFrame, chosen: Selection, strategy: str, model: str | None, specs: Sequence[TaskSpec],
               proba: Mapping[str, np.ndarray] | None, thresholds: Mapping[str, Sequence[float]]) -> list[dict[str, Any]]:
    rows = []
    for rank, (index, score, reason) in enumerate(zip(chosen.indices, chosen.scores, chosen.reasons), 1):
        post = posts.iloc[int(index)]
        predictions = None
        if proba is not None:
            predictions = {}
            for spec in specs:
                if spec.name not in proba:
                    continue
                p = np.asarray(proba[spec.name][int(index)])[None, :]
                decided = decide(spec, p, thresholds.get(spec.name))[0]
                predictions[spec.name] = {"labels": decided if isinstance(decided, list) else [decided],
                                          "scores": {label: round(float(v), 6) for label, v in zip(spec.labels, p[0])}}
        rows.append({"post_id": str(post["post_id"]), "text": post["text"],
                     "author_id": None if pd.isna(post["author_id"]) else str(post["author_id"]),
                     "platform": None if pd.isna(post["platform"]) else str(post["platform"]),
                     "selection": {"strategy": strategy, "rank": rank, "score": round(float(score), 6),
                                   "model": model, "reason": reason},
                     "predictions": predictions})
    return rows


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    count = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with AtomicTextWriter(Path(path), newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def zero_shot_table(pool: Pool, taxonomy: Taxonomy, settings: Settings) -> pd.DataFrame:
    """Every pool post with each task's zero-shot label(s) and every label's score (a first ranking)."""
    zero_shot = zero_shot_classifier(taxonomy, settings)
    texts = pool.posts["text"].fillna("").astype(str).tolist()
    proba = zero_shot.predict_proba(texts)
    frame = pool.posts[["post_id", "author_id", "platform", "text"]].copy()
    for spec in zero_shot.tasks:
        decided = decide(spec, proba[spec.name])
        frame[spec.name] = ["|".join(d) if isinstance(d, list) else d for d in decided]
        for j, label in enumerate(spec.labels):
            frame[f"{spec.name}.{label}"] = np.round(proba[spec.name][:, j], 6)
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Parquet for `.parquet`, spreadsheet-safe CSV otherwise."""
    from common.spreadsheet import spreadsheet_safe

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa

        from common.atomic import write_table_atomic

        write_table_atomic(path, pa.Table.from_pandas(frame, preserve_index=False))
        return
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(lambda v: spreadsheet_safe(v) if isinstance(v, str) else v)
    write_bytes_atomic(path, safe.to_csv(index=False).encode("utf-8"))


# ---- label audit ---------------------------------------------------------------------------------------------


def out_of_fold_probabilities(texts: Sequence[str], targets: Mapping[str, np.ndarray], specs: Sequence[TaskSpec],
                              groups: Sequence[str], settings: Settings) -> dict[str, np.ndarray]:
    """Each post's probabilities from models fitted on the other folds (folds grouped by author), so that no
    probability comes from a model that saw the label it is judged against.

    `label.audit_model`: `baseline` (the TF-IDF recipe) or `baseline+embeddings`, the mean of the TF-IDF recipe
    and a logistic regression on the bundled encoder's sentence embeddings. Two different views of the text
    disagree less on what is true than on what is noise, so their mean ranks flipped labels higher
    (bench/labeling_loop.py label-errors measures both on the public corpora).
    """
    import warnings

    from sklearn.model_selection import GroupKFold

    from models.baseline import TfidfMultiTaskClassifier
    from training.recipe import estimator_options

    n = len(texts)
    folds = min(settings.label.audit_folds, len(set(groups)))
    if folds < 2:
        raise LabelLoopError("the audit needs posts from at least two authors (folds are grouped by author)")
    out = {s.name: np.zeros((n, len(s.labels))) for s in specs}
    options = estimator_options(settings.baseline)
    options["C"] = settings.label.audit_C
    texts = list(texts)
    embeddings = None
    if settings.label.audit_model == "baseline+embeddings":
        from models.zero_shot import SentenceEncoder

        logger.info("audit: embedding %d posts with the bundled sentence encoder", n)
        embeddings = SentenceEncoder().embed(texts)
    for number, (train, held) in enumerate(GroupKFold(n_splits=folds).split(np.zeros(n), groups=list(groups)), 1):
        logger.info("audit fold %d/%d: fitting on %d posts, predicting %d", number, folds, len(train), len(held))
        model = TfidfMultiTaskClassifier(tasks=list(specs), **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a class absent from one fold's training part
            model.fit([texts[i] for i in train], {k: v[train] for k, v in targets.items()})
        proba = model.predict_proba([texts[i] for i in held])
        for name, p in proba.items():
            out[name][held] = p
        if embeddings is not None:
            for spec in specs:
                dense = _embedding_probabilities(spec, embeddings[train], targets[spec.name][train], embeddings[held],
                                                 settings.label.audit_C)
                out[spec.name][held] = (out[spec.name][held] + dense) / 2.0
    return out


def _embedding_probabilities(spec: TaskSpec, train_x: np.ndarray, train_y: np.ndarray, held_x: np.ndarray,
                             C: float) -> np.ndarray:
    """Balanced logistic regression on sentence embeddings, per task (multi-label: per label)."""
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(held_x), len(spec.labels)))
    if spec.kind == "multi":
        for j in range(len(spec.labels)):
            keep = train_y[:, j] != UNLABELED
            y = train_y[keep, j]
            if len(np.unique(y)) < 2:
                out[:, j] = float(y.mean()) if len(y) else 0.0
                continue
            model = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(train_x[keep], y)
            out[:, j] = model.predict_proba(held_x)[:, 1]
        return out
    keep = train_y != UNLABELED
    classes = np.unique(train_y[keep])
    if len(classes) < 2:
        out[:, classes[0] if len(classes) else 0] = 1.0
        return out
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(train_x[keep], train_y[keep])
    out[:, model.classes_] = model.predict_proba(held_x)
    return out


def audit(texts: Sequence[str], post_ids: Sequence[str], targets: Mapping[str, np.ndarray], specs: Sequence[TaskSpec],
          groups: Sequence[str], settings: Settings) -> pd.DataFrame:
    """Suspected label errors over every task (multi-label tasks label by label), most likely first."""
    proba = out_of_fold_probabilities(texts, targets, specs, groups, settings)
    rank_by = settings.label.audit_rank_by
    found = []
    for spec in specs:
        y, p = np.asarray(targets[spec.name]), proba[spec.name]
        if spec.kind == "multi":
            for j, label in enumerate(spec.labels):
                rows = np.flatnonzero(y[:, j] != UNLABELED)
                binary = y[rows, j].astype(np.int64)
                probs = np.stack([1 - p[rows, j], p[rows, j]], axis=1)
                issues = find_label_issues(binary, probs, rank_by)
                names = ("absent", "present")
                for k, row in enumerate(issues.indices):
                    found.append(_issue(post_ids, texts, rows[row], spec.name, label, names[issues.given[k]],
                                        names[issues.suggested[k]], issues, k))
        else:
            rows = np.flatnonzero(y != UNLABELED)
            issues = find_label_issues(y[rows].astype(np.int64), p[rows], rank_by)
            for k, row in enumerate(issues.indices):
                found.append(_issue(post_ids, texts, rows[row], spec.name, spec.labels[issues.given[k]],
                                    spec.labels[issues.given[k]], spec.labels[issues.suggested[k]], issues, k))
    columns = ["rank", "post_id", "task", "label", "given", "suggested", "p_given", "p_suggested", "ranking_score",
               "evidence", "text"]
    frame = pd.DataFrame(found, columns=columns[1:])
    frame = frame.sort_values(["ranking_score", "post_id", "task", "label"], kind="stable").reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def _issue(post_ids: Sequence[str], texts: Sequence[str], row: int, task: str, label: str, given: str,
           suggested: str, issues: Any, k: int) -> dict[str, Any]:
    p_given, p_suggested = float(issues.self_confidence[k]), float(issues.suggested_probability[k])
    evidence = (f"out-of-fold p({given})={p_given:.3f} vs p({suggested})={p_suggested:.3f}; the model is confident "
                f"in {suggested} (threshold {issues.thresholds[issues.suggested[k]]:.3f})")
    return {"post_id": str(post_ids[row]), "task": task, "label": label, "given": given, "suggested": suggested,
            "p_given": round(p_given, 6), "p_suggested": round(p_suggested, 6),
            "ranking_score": round(float(issues.ranking_score[k]), 6), "evidence": evidence, "text": texts[row]}


def audit_labels(labels: Path, taxonomy: Taxonomy, settings: Settings, posts: Path | None = None) -> pd.DataFrame:
    """`occ label audit`: an own-labels table, or annotation rows (gold by vote) with their ingested posts."""
    from labeling.annotations import attach_to_kept_posts, own_labels_table, read_annotations, read_duplicate_map
    from labeling.dataset import read_posts
    from labeling.gold import adjudicate
    from labeling.ingest.redaction import Redactor
    from training.data import encode_targets

    if posts is not None:
        gold, _ = adjudicate(attach_to_kept_posts(read_annotations(labels), read_duplicate_map(posts)), taxonomy)
        post_table = read_posts(posts)
        unknown = sorted(set(gold["post_id"]) - set(post_table["post_id"]))
        if unknown:
            raise LabelLoopError(f"{len(unknown)} annotated post id(s) are not among the posts in {posts} "
                                 f"(e.g. {unknown[:3]}); pass the ingested folder the annotations refer to")
    else:
        header = pd.read_csv(labels, nrows=0).columns if Path(labels).suffix.lower() == ".csv" else []
        if {"task", "label", "annotator"} <= set(header):
            raise LabelLoopError(f"{labels} holds annotation rows (post_id, task, label, annotator): pass --posts "
                                 "with the ingested posts they refer to")
        post_table, gold = own_labels_table(labels, taxonomy)
        redactor = Redactor(settings.ingest.redaction)
        post_table["text"] = [redactor.redact(t)[0] for t in post_table["text"]]  # never ingested: redact now
    joined = gold.merge(post_table[["post_id", "text", "author_id"]], on="post_id", how="inner")
    if joined.empty:
        raise LabelLoopError(f"{labels}: no labeled post to audit")
    specs = specs_from_taxonomy_dict(taxonomy.to_dict())
    present = [s for s in specs if joined[s.name].notna().any()]
    records = {s.name: [None if _missing(v) else v for v in joined[s.name]] for s in present}
    targets = encode_targets(present, records)
    groups = [a if isinstance(a, str) and a else f"post:{pid}" for a, pid in zip(joined["author_id"], joined["post_id"])]
    return audit(joined["text"].astype(str).tolist(), joined["post_id"].astype(str).tolist(), targets, present, groups,
                 settings)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
