"""The scored-output schema and the safety team's CSV export.

Per post: the input metadata, redacted text, product mentions, for every task `<task>` (the label, or the list
of labels of a multi-label task) and `<task>_scores` (a struct: label -> probability), and the model name,
version and run id with the time scored. Built from the artifact's taxonomy, so a user's own tasks work.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.atomic import AtomicTextWriter
from common.spreadsheet import spreadsheet_safe_column
from labeling.ingest.schema import INGESTED_SCHEMA
from models.tasks import TaskSpec, decide_indices

HCP_TYPES = ("physician", "other_clinician")

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


def decision_array(spec: TaskSpec, proba: np.ndarray, thresholds: Sequence[float] | None) -> pa.Array:
    """The task's decisions as an Arrow column, built from index arrays (no per-row Python objects)."""
    names = np.asarray(spec.labels, dtype=object)
    hits = decide_indices(spec, proba, thresholds)
    if spec.kind == "multi":
        rows, cols = np.nonzero(hits)  # row-major: each row's labels in taxonomy order
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=hits.shape[0]))]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(names[cols], pa.string()))
    return pa.array(names[hits], pa.string())


def scores_array(spec: TaskSpec, proba: np.ndarray) -> pa.StructArray:
    """Every label's probability as one struct column, in float32 (the schema's precision).

    No fixed-decimal rounding: it tied confident posts (a safety queue sorted by score could not order its top);
    float32 alone is what the pyfunc output carries too (models.artifact), so the local and the Spark engine
    write the very same numbers.
    """
    p = np.asarray(proba, dtype=np.float64).astype(np.float32)
    return pa.StructArray.from_arrays([pa.array(p[:, j]) for j in range(len(spec.labels))],
                                      fields=[pa.field(label, pa.float32()) for label in spec.labels])


def scored_table(rows: list[dict[str, Any]] | pa.Table, specs: Sequence[TaskSpec], proba: Mapping[str, np.ndarray],
                 thresholds: Mapping[str, Sequence[float]], provenance: Mapping[str, Any]) -> pa.Table:
    """The ingested rows plus, per task, the decision and scores columns and the provenance, in `scored_schema`.

    Why columnar: building a dict per post and label cost more than the baseline model itself (about 40 us
    per post); Arrow arrays made from the probability matrix cost about 1 us.
    """
    schema = scored_schema(specs)
    base = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=INGESTED_SCHEMA)
    columns: dict[str, pa.Array] = {name: base.column(name) for name in base.column_names}
    for spec in specs:
        p = np.asarray(proba[spec.name])
        columns[spec.name] = decision_array(spec, p, thresholds.get(spec.name))
        columns[f"{spec.name}_scores"] = scores_array(spec, p)
    n = base.num_rows
    for field in PROVENANCE_FIELDS:
        columns[field.name] = pa.array([provenance.get(field.name)] * n, field.type)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


AE_COLUMNS = ["post_id", "platform", "author_id", "reporter_type", "reporter_is_hcp", "created_at", "products",
              "probability", "text", "model_name", "model_version", "source_file"]
"""`reporter_type` is the author type of the author pass; `reporter_is_hcp` (yes / no / unknown) is what a case
report records as the reporter's qualification (health care professional or consumer)."""


TypesOf = Callable[[Sequence[str]], Mapping[str, str]]
"""The author types of a batch of author ids (`inference.scoring.authors.AuthorTypes`)."""


def write_adverse_events(parts: Iterable[Path], out_path: Path, spec: TaskSpec,
                         author_types: TypesOf | None = None) -> int:
    """Every scored post whose decision on the safety task is its flagged label, for the safety team.

    Built from the decision column itself, never by re-applying the threshold to the stored scores: the
    decision was made once, on the full-precision probability, and a post whose probability sits within
    rounding of the threshold must not be flagged in one output and not in the other. The `probability`
    column is informational (the stored score).
    """
    count = 0
    columns = ["post_id", "platform", "author_id", "created_at", "products", "text", "model_name", "model_version",
               "source_file", spec.name, f"{spec.name}_scores"]
    with AtomicTextWriter(out_path) as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(AE_COLUMNS)
        for part in parts:
            count += _write_flagged(writer, part, columns, spec, author_types)
    return count


def _write_flagged(writer: Any, part: Path, columns: list[str], spec: TaskSpec,
                   types_of: TypesOf | None) -> int:
    table = pq.read_table(part, columns=columns)
    flagged = pc.equal(table.column(spec.name), pa.scalar(spec.positive, pa.string())).fill_null(False)
    hits = table.filter(flagged)
    if hits.num_rows == 0:
        return 0
    # column by column (the same cells as a row at a time, at a fraction of the cost on 10^5 flagged posts)
    author_ids = hits.column("author_id").to_pylist()
    author_types = types_of(author_ids) if types_of is not None else {}
    kinds = [author_types.get(a or "") for a in author_ids]
    probabilities = hits.column(f"{spec.name}_scores").combine_chunks().field(spec.positive).to_numpy(zero_copy_only=False)
    cells: dict[str, list[Any]] = {name: hits.column(name).to_pylist() for name in AE_COLUMNS if name in hits.column_names}
    cells["products"] = ["|".join(p or []) for p in cells["products"]]
    cells["probability"] = [f"{p:.4f}" for p in probabilities.tolist()]
    cells["created_at"] = [t.isoformat() if t else "" for t in cells["created_at"]]
    cells["reporter_type"] = [kind or "" for kind in kinds]
    cells["reporter_is_hcp"] = ["unknown" if kind in (None, "unknown") else ("yes" if kind in HCP_TYPES else "no")
                                for kind in kinds]
    writer.writerows(zip(*(spreadsheet_safe_column(cells[name]) for name in AE_COLUMNS)))
    return hits.num_rows
