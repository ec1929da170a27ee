"""Loading a scored run (`occ score` output) and its report (`occ report` output) into the workspace database.

Files are read as they are and never written. Loading is idempotent (a run already loaded, recognized by its
manifest's checksum, is not loaded twice) and additive: next month's run joins the earlier ones, and every
decision made on the earlier ones stays, because decisions are keyed by gap (product, topic) and post id.

At load time the annotation queue is ordered by the labeling loop's own strategy (`labeling.loop.selection`):
the first `review.queue_diverse` posts by uncertainty with diversity, the rest by uncertainty, from the
probabilities the scored run stores; a post goes to two annotators when a stable hash of its id falls in the
`review.double_annotation_share`.

A run folder may also hold the author pass's tables (`author_links.parquet`, `authors.parquet`, schemas in
`labeling.authors.resolve`): each candidate link is stored with both accounts' type, specialty and platforms for
the Accounts page (`review.account_links`). A run without them loads as before and has no links; a run loaded
before the workspace knew about links gets them when it is loaded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import insert, select

from common.checksums import sha256_file
from common.errors import OccError
from common.settings import Settings
from labeling.loop.selection import combined_uncertainty, select_diverse, text_vectors
from labeling.authors.resolve import AUTHORS_FILE, LINKS_FILE
from labeling.taxonomy import taxonomy_from_dict
from review.audit import record, utcnow
from review.db import Database
from review.schema import LINK_DECISIONS, AuthorLink, Gap, GapPost, Post, Run

logger = logging.getLogger(__name__)

MANIFEST = "_manifest.json"
INSERT_ROWS = 2000


class LoadError(OccError, ValueError):
    """A scored run or report cannot be loaded; the message names the file and the fix."""


@dataclass
class LoadResult:
    run_id: int
    posts: int
    gaps: int
    already_loaded: bool
    links: int = 0
    """Account links stored (on an already loaded run: links added now because it had none before)."""


def _period(created: pd.Series, period: str) -> pd.Series:
    ts = pd.to_datetime(created, utc=True)
    freq = "Q" if period == "quarter" else "M"
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(freq).astype(str).where(ts.notna(), None)


def double_annotated(post_id: str, share: float) -> bool:
    """Stable across processes and runs: the same post always needs the same number of annotators."""
    digest = hashlib.blake2b(post_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < share


def load_run(db: Database, scored_dir: Path, report_dir: Path | None, settings: Settings, actor: str = "system",
             frozen_test: Path | None = None) -> LoadResult:
    scored_dir = Path(scored_dir)
    manifest_path = scored_dir / MANIFEST
    if not manifest_path.is_file():
        raise LoadError(f"{scored_dir} is not a complete scoring run ({MANIFEST} is missing): pass the --out folder "
                        "of a finished `occ score`")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    digest = sha256_file(manifest_path)
    with db.transaction() as session:
        existing = session.execute(select(Run).where(Run.manifest_sha256 == digest)).scalar_one_or_none()
        if existing is not None:
            added = _backfill_links(session, existing, scored_dir, actor)
            return LoadResult(existing.id, existing.posts, 0, True, added)
    taxonomy_dict = manifest.get("taxonomy") or {}
    taxonomy = taxonomy_from_dict(taxonomy_dict, f"{manifest_path} taxonomy")
    summary = _report_summary(report_dir)
    period = (summary or {}).get("period") or settings.report.period
    parts = sorted((scored_dir / "scores").glob("part-*.parquet"))
    if not parts:
        raise LoadError(f"{scored_dir}/scores holds no part files")
    table = pq.ParquetDataset([str(p) for p in parts]).read().to_pandas()
    safety_task = (manifest.get("safety") or {}).get("task", settings.safety.task)
    thresholds = {k: list(v) for k, v in (manifest.get("thresholds") or {}).items()}
    frozen = _frozen_ids(frozen_test or Path(settings.dataset.frozen_test_file))
    dols = set((summary or {}).get("dols") or [])
    evidence_task = ((summary or {}).get("params") or {}).get("evidence_task", settings.report.evidence_task)

    proba = {task.name: _scores(table, task) for task in taxonomy.tasks if f"{task.name}_scores" in table.columns}
    queue = _queue_order(table, taxonomy, proba, thresholds, settings, frozen)
    table["period"] = _period(table["created_at"], period) if "created_at" in table.columns else None
    scored_at = pd.to_datetime(table["scored_at"]).max().to_pydatetime() if "scored_at" in table.columns and len(table) else None

    with db.transaction() as session:
        run = Run(scored_dir=str(scored_dir), report_dir=str(report_dir) if report_dir else None, manifest_sha256=digest,
                  model=(manifest.get("model") or {}).get("uri"), taxonomy=taxonomy_dict, thresholds=thresholds,
                  safety_task=safety_task, rank_period=(summary or {}).get("rank_period"), posts=len(table),
                  scored_at=scored_at, loaded_at=utcnow(), loaded_by=actor)
        session.add(run)
        session.flush()
        rows = _post_rows(run.id, table, taxonomy, proba, thresholds, safety_task, dols, frozen, queue, settings)
        post_ids = _insert(session, Post, rows, returning=True)
        gap_posts = _gap_post_rows(run.id, table, evidence_task, proba, taxonomy, post_ids)
        _insert(session, GapPost, gap_posts)
        gaps = _gap_rows(run.id, report_dir)
        _insert(session, Gap, gaps)
        links = _author_link_rows(run.id, scored_dir)
        _insert(session, AuthorLink, links)
        record(session, actor, "run.load", "run", run.id, None,
               {"scored_dir": str(scored_dir), "report_dir": str(report_dir) if report_dir else None,
                "posts": len(table), "gaps": len(gaps), "author_links": len(links), "model": run.model})
        logger.info("loaded %d posts, %d gap rows, %d gap-post links and %d account links from %s", len(rows),
                    len(gaps), len(gap_posts), len(links), scored_dir)
        return LoadResult(run.id, len(rows), len(gaps), False, len(links))


def _report_summary(report_dir: Path | None) -> dict[str, Any] | None:
    if report_dir is None:
        return None
    path = Path(report_dir) / "report_summary.json"
    if not path.is_file():
        raise LoadError(f"{report_dir} is not an `occ report` folder (report_summary.json is missing)")
    return json.loads(path.read_text(encoding="utf-8"))


def _frozen_ids(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def _scores(table: pd.DataFrame, task: Any) -> np.ndarray:
    column = table[f"{task.name}_scores"]
    return np.array([[float((row or {}).get(label) or 0.0) for label in task.label_names] for row in column])


def _queue_order(table: pd.DataFrame, taxonomy: Any, proba: Mapping[str, np.ndarray],
                 thresholds: Mapping[str, list[float]], settings: Settings, frozen: set[str]) -> dict[int, tuple[int, str]]:
    """Row index -> (queue rank, why): most informative first, as `occ label select` would choose."""
    if not proba or table.empty:
        return {}
    eligible = np.array([settings.review.allow_test_labels or pid not in frozen for pid in table["post_id"]])
    rows = np.flatnonzero(eligible)
    if rows.size == 0:
        return {}
    uncertainty, reasons = combined_uncertainty(list(taxonomy.tasks), {k: v[rows] for k, v in proba.items()},
                                                thresholds, settings.label.uncertainty)
    texts = table["text"].fillna("").astype(str).to_numpy()
    head = select_diverse(uncertainty, reasons, min(settings.review.queue_diverse, rows.size),
                          lambda idx: text_vectors([texts[rows[i]] for i in idx], seed=settings.label.seed),
                          settings.label.seed, settings.label.candidate_factor)
    order: dict[int, tuple[int, str]] = {}
    for rank, (i, reason) in enumerate(zip(head.indices, head.reasons), 1):
        order[int(rows[i])] = (rank, reason)
    rest = [i for i in np.argsort(-uncertainty, kind="stable") if int(rows[i]) not in order]
    for rank, i in enumerate(rest, len(order) + 1):
        order[int(rows[i])] = (rank, reasons[i])
    return order


def _aware(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value):
        return None
    moment = pd.Timestamp(value).to_pydatetime()
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _post_rows(run_id: int, table: pd.DataFrame, taxonomy: Any, proba: Mapping[str, np.ndarray],
               thresholds: Mapping[str, list[float]], safety_task: str | None, dols: set[str], frozen: set[str],
               queue: Mapping[int, tuple[int, str]], settings: Settings) -> list[dict[str, Any]]:
    rows = []
    safety = next((t for t in taxonomy.tasks if t.name == safety_task and t.kind == "binary"), None)
    for i, post in enumerate(table.itertuples(index=False)):
        record_ = post._asdict()
        predictions = {}
        for task in taxonomy.tasks:
            if task.name not in proba:
                continue
            decided = record_.get(task.name)
            labels = list(decided) if task.is_multi and decided is not None else ([decided] if decided else [])
            predictions[task.name] = {"labels": [str(l) for l in labels],
                                      "scores": {label: round(float(v), 6) for label, v in zip(task.label_names, proba[task.name][i])}}
        ae_prob = None
        flagged = False
        if safety is not None and safety.name in proba:
            ae_prob = float(proba[safety.name][i][safety.label_names.index(safety.positive)])
            flagged = record_.get(safety.name) == safety.positive
        rank, reason = queue.get(i, (None, None))
        post_id = str(record_["post_id"])
        rows.append({"run_id": run_id, "post_id": post_id, "text": str(record_.get("text") or ""),
                     "author_id": _text(record_.get("author_id")), "specialty": _text(record_.get("author_specialty")),
                     "platform": _text(record_.get("platform")), "created_at": _aware(record_.get("created_at")),
                     "period": record_.get("period"),
                     "products": [str(p) for p in (record_.get("products") if record_.get("products") is not None else [])],
                     "predictions": predictions, "is_dol": _text(record_.get("author_id")) in dols,
                     "ae_flagged": bool(flagged), "ae_probability": ae_prob, "in_test_split": post_id in frozen,
                     "queue_rank": rank, "queue_reason": reason,
                     "needs_annotators": 2 if double_annotated(post_id, settings.review.double_annotation_share) else 1})
    return rows


def _gap_post_rows(run_id: int, table: pd.DataFrame, evidence_task: str, proba: Mapping[str, np.ndarray],
                   taxonomy: Any, post_ids: list[int]) -> list[dict[str, Any]]:
    if evidence_task not in table.columns or "products" not in table.columns:
        return []
    labels = next((t.label_names for t in taxonomy.tasks if t.name == evidence_task), [])
    rows = []
    for i, (products, topics, period) in enumerate(zip(table["products"], table[evidence_task], table["period"])):
        if products is None or topics is None:
            continue
        for product in products:
            for topic in topics:
                confidence = float(proba[evidence_task][i][labels.index(topic)]) if topic in labels else 0.0
                rows.append({"run_id": run_id, "product": str(product), "topic": str(topic), "period": period,
                             "post_row": post_ids[i], "confidence": confidence})
    return rows


def _gap_rows(run_id: int, report_dir: Path | None) -> list[dict[str, Any]]:
    if report_dir is None:
        return []
    path = Path(report_dir) / "gaps.parquet"
    if not path.is_file():
        raise LoadError(f"{report_dir}/gaps.parquet is missing: pass a complete `occ report` folder")
    gaps = pd.read_parquet(path)
    part_columns = [c for c in gaps.columns if c.startswith("part_")]
    rows = []
    for gap in gaps.to_dict("records"):
        rank = gap.get("rank")
        rows.append({"run_id": run_id, "product": str(gap["product"]), "topic": str(gap["topic"]),
                     "period": str(gap["period"]), "rank": None if rank is None or pd.isna(rank) else int(rank),
                     "score": float(gap["score"]), "posts": int(gap["posts"]), "authors": int(gap["authors"]),
                     "growth": float(gap.get("growth") or 1.0),
                     "parts": {c[len("part_"):]: round(float(gap[c]), 4) for c in part_columns}})
    return rows


def _backfill_links(session: Any, run: Run, scored_dir: Path, actor: str) -> int:
    """An already loaded run without stored links (loaded before links existed, or before the author pass ran
    on its folder) gets the folder's links now; one with links keeps them as they are."""
    if session.execute(select(AuthorLink.id).where(AuthorLink.run_id == run.id).limit(1)).first() is not None:
        return 0
    links = _author_link_rows(run.id, scored_dir)
    if links:
        _insert(session, AuthorLink, links)
        record(session, actor, "run.load_links", "run", run.id, None,
               {"scored_dir": str(scored_dir), "author_links": len(links)})
    return len(links)


def _read_parquet(path: Path, wanted: tuple[str, ...], required: tuple[str, ...]) -> dict[str, list[Any]]:
    """The `wanted` columns a file has (missing optional ones: all None), as Python lists."""
    try:
        names = pq.ParquetFile(path).schema_arrow.names
        missing = [c for c in required if c not in names]
        if missing:
            raise LoadError(f"{path} lacks the column(s) {', '.join(missing)}: expected the author pass's table "
                            "(labeling.authors.resolve); rerun `occ authors resolve` on the run folder")
        table = pq.read_table(path, columns=[c for c in wanted if c in names])
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise LoadError(f"{path} cannot be read as Parquet ({exc}); rerun `occ authors resolve` on the run "
                        "folder") from exc
    return {c: table.column(c).to_pylist() if c in table.column_names else [None] * table.num_rows for c in wanted}


def _author_link_rows(run_id: int, scored_dir: Path) -> list[dict[str, Any]]:
    """`author_links.parquet` as rows of `author_links`, each with both accounts' type, specialty, platforms and
    post count from `authors.parquet` (absent: unknown). No links file: no rows."""
    links_path, authors_path = Path(scored_dir) / LINKS_FILE, Path(scored_dir) / AUTHORS_FILE
    if not links_path.is_file():
        return []
    links = _read_parquet(links_path, ("author_a", "author_b", "confidence", "reason", "linked", "decision"),
                          ("author_a", "author_b"))
    wanted = {a for a in links["author_a"] + links["author_b"] if a}
    accounts: dict[str, dict[str, Any]] = {}
    if authors_path.is_file() and wanted:
        authors = _read_parquet(authors_path, ("author_id", "author_type", "specialty", "platforms", "posts"),
                                ("author_id",))
        for i, author_id in enumerate(authors["author_id"]):
            if author_id in wanted:
                accounts[author_id] = {"type": authors["author_type"][i], "specialty": authors["specialty"][i],
                                       "platforms": [str(p) for p in (authors["platforms"][i] or [])],
                                       "posts": authors["posts"][i]}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for i, (a, b) in enumerate(zip(links["author_a"], links["author_b"])):
        if not a or not b or a == b:
            continue
        a, b = (str(a), str(b)) if str(a) < str(b) else (str(b), str(a))
        confidence = links["confidence"][i]
        decision = links["decision"][i]
        row = {"run_id": run_id, "author_a": a, "author_b": b,
               "confidence": None if confidence is None or np.isnan(confidence) else round(float(confidence), 4),
               "reason": _text(links["reason"][i]), "linked": bool(links["linked"][i]),
               "prior_decision": decision if decision in LINK_DECISIONS else None}
        for side, author in (("a", a), ("b", b)):
            info = accounts.get(author, {})
            row.update({f"{side}_type": info.get("type"), f"{side}_specialty": info.get("specialty"),
                        f"{side}_platforms": info.get("platforms", []), f"{side}_posts": info.get("posts")})
        rows[(a, b)] = row  # one row per pair (the file has one; a repeated pair keeps its last row)
    return list(rows.values())


def _insert(session: Any, model: type, rows: list[dict[str, Any]], returning: bool = False) -> list[int]:
    """Bulk insert in chunks; with `returning`, the new primary keys in row order."""
    ids: list[int] = []
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start : start + INSERT_ROWS]
        if returning:
            result = session.execute(insert(model).returning(model.id, sort_by_parameter_order=True), chunk)
            ids.extend(r[0] for r in result)
        else:
            session.execute(insert(model), chunk)
    return ids
