"""The scored-output schema and the safety team's CSV export.

Per post: the input metadata, redacted text, product mentions, for every task `<task>` (the label, or the list
of labels of a multi-label task) and `<task>_scores` (a struct: label -> probability), and the model name,
version and run id with the time scored. Built from the artifact's taxonomy, so a user's own tasks work.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from labeling.atomic import AtomicTextWriter
from labeling.schema import INGESTED_SCHEMA
from models.tasks import TaskSpec, decide

PROVENANCE_FIELDS = [
    pa.field("model_name", pa.string()),
    pa.field("model_version", pa.string()),
    pa.field("model_run_id", pa.string()),
    pa.field("scored_at", pa.timestamp("us", tz="UTC")),
]


def scored_schema(specs: Sequence[TaskSpec]) -> pa.Schema:
    fields = list(INGESTED_SCHEMA)
    for spec in specs:
        label_type = pa.list_(pa.string()) if spec.kind == "multi" else pa.string()
        fields.append(pa.field(spec.name, label_type))
        fields.append(pa.field(f"{spec.name}_scores", pa.struct([pa.field(label, pa.float32()) for label in spec.labels])))
    return pa.schema(fields + PROVENANCE_FIELDS)


def add_predictions(rows: list[dict[str, Any]], specs: Sequence[TaskSpec], proba: Mapping[str, np.ndarray],
                    thresholds: Mapping[str, Sequence[float]], provenance: Mapping[str, Any]) -> None:
    """Write each task's decision and scores into the row dicts, in place."""
    for spec in specs:
        p = np.asarray(proba[spec.name], dtype=np.float64)
        decisions = decide(spec, p, thresholds.get(spec.name))
        for row, decision, scores in zip(rows, decisions, p):
            row[spec.name] = decision
            row[f"{spec.name}_scores"] = {label: float(round(v, 6)) for label, v in zip(spec.labels, scores)}
    for row in rows:
        row.update(provenance)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


def spreadsheet_safe(value: Any) -> str:
    """Prefix cells a spreadsheet would run as a formula (OWASP CSV injection guidance)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


AE_COLUMNS = ["post_id", "platform", "author_id", "created_at", "products", "probability", "text",
              "model_name", "model_version", "source_file"]


def write_adverse_events(parts: Iterable[Path], out_path: Path, spec: TaskSpec, threshold: float) -> int:
    """Every scored post whose flagged-label probability passes the threshold, for the safety team."""
    count = 0
    columns = ["post_id", "platform", "author_id", "created_at", "products", "text", "model_name", "model_version",
               "source_file", f"{spec.name}_scores"]
    with AtomicTextWriter(out_path) as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(AE_COLUMNS)
        for part in parts:
            count += _write_hits(writer, part, columns, spec, threshold)
    return count


def _write_hits(writer: Any, part: Path, columns: list[str], spec: TaskSpec, threshold: float) -> int:
    table = pq.read_table(part, columns=columns)
    scores = table.column(f"{spec.name}_scores").combine_chunks()
    probabilities = scores.field(spec.positive).to_numpy(zero_copy_only=False)
    hits = np.flatnonzero(probabilities >= threshold)
    for row, probability in zip(table.take(pa.array(hits)).to_pylist() if len(hits) else [], probabilities[hits]):
        row["products"] = "|".join(row["products"] or [])
        row["probability"] = f"{probability:.4f}"
        row["created_at"] = row["created_at"].isoformat() if row["created_at"] else ""
        writer.writerow([spreadsheet_safe(row[c]) for c in AE_COLUMNS])
    return int(len(hits))
