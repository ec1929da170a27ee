"""The column-wise scored table must say exactly what the per-row `models.tasks.decide` says."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from inference.scoring.outputs import scored_schema, scored_table
from labeling.ingest.schema import INGESTED_SCHEMA
from models.tasks import TaskSpec, decide

SPECS = [
    TaskSpec("tone", "single", ("neg", "neu", "pos")),
    TaskSpec("topics", "multi", ("cost", "dosing", "safety")),
    TaskSpec("ae", "binary", ("no", "yes"), positive="yes"),
]
THRESHOLDS = {"topics": [0.5, 0.3, 0.7], "ae": [0.2]}


def _rows(n: int) -> list[dict]:
    base = {field.name: None for field in INGESTED_SCHEMA}
    return [{**base, "post_id": f"p{i}", "text": f"post {i}", "products": []} for i in range(n)]


def test_scored_table_matches_per_row_decisions_and_scores() -> None:
    rng = np.random.default_rng(0)
    n = 257
    single = rng.dirichlet(np.ones(3), n)
    multi = rng.random((n, 3))
    multi[:40] = 0.01  # rows with no label at all, first and ...
    multi[-3:] = 0.01  # ... last: list offsets must still line up
    ae = rng.dirichlet(np.ones(2), n)
    proba = {"tone": single, "topics": multi, "ae": ae}
    provenance = {"model_name": "m", "model_version": "7", "model_run_id": "r",
                  "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    table = scored_table(_rows(n), SPECS, proba, THRESHOLDS, provenance)
    assert table.schema.equals(scored_schema(SPECS))
    assert table.num_rows == n
    for spec in SPECS:
        assert table.column(spec.name).to_pylist() == decide(spec, proba[spec.name], THRESHOLDS.get(spec.name))
        scores = table.column(f"{spec.name}_scores").to_pylist()
        expected = np.asarray(proba[spec.name]).astype(np.float32)
        for got, want in zip(scores, expected):
            assert list(got) == list(spec.labels)
            assert np.array_equal(np.array(list(got.values()), dtype=np.float32), want)
    assert table.column("topics").to_pylist()[:40] == [[]] * 40
    assert set(table.column("model_version").to_pylist()) == {"7"}
    assert table.column("post_id").to_pylist() == [f"p{i}" for i in range(n)]


def test_scored_table_of_no_rows_is_empty_but_typed() -> None:
    proba = {"tone": np.zeros((0, 3)), "topics": np.zeros((0, 3)), "ae": np.zeros((0, 2))}
    table = scored_table([], SPECS, proba, THRESHOLDS, {"model_name": "m"})
    assert table.num_rows == 0 and table.schema.equals(scored_schema(SPECS))
    assert isinstance(table.column("topics").type, pa.ListType)


def test_adverse_event_export_follows_the_decision_column_at_the_rounding_edge(tmp_path) -> None:
    """A probability just under the threshold rounds *up to* it when stored (float32); one just over could
    round down. The export must list exactly the posts whose decision column says "yes" (one decision, written once)."""
    import csv

    import pyarrow.parquet as pq

    from inference.scoring.outputs import write_adverse_events

    threshold = 0.3
    p_yes = np.array([threshold - 1e-9, threshold + 1e-9, 0.31, 0.29, threshold])  # below (stored as 0.3), above, ...
    ae = np.stack([1 - p_yes, p_yes], axis=1)
    n = len(p_yes)
    proba = {"tone": np.full((n, 3), 1 / 3), "topics": np.zeros((n, 3)), "ae": ae}
    provenance = {"model_name": "m", "model_version": "1", "model_run_id": "r",
                  "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    table = scored_table(_rows(n), SPECS, proba, {**THRESHOLDS, "ae": [threshold]}, provenance)
    decided = table.column("ae").to_pylist()
    assert decided == ["no", "yes", "yes", "no", "yes"]
    stored = [row["yes"] for row in table.column("ae_scores").to_pylist()]
    assert stored[0] >= np.float32(threshold)  # the stored score alone would flag post p0
    part = tmp_path / "part-000000.parquet"
    pq.write_table(table, part)
    count = write_adverse_events([part], tmp_path / "adverse_events.csv", SPECS[2])
    with open(tmp_path / "adverse_events.csv", encoding="utf-8", newline="") as handle:
        exported = [row["post_id"] for row in csv.DictReader(handle)]
    assert exported == [f"p{i}" for i, label in enumerate(decided) if label == "yes"] and count == 3


def test_adverse_event_export_names_the_reporters_qualification(tmp_path) -> None:
    """The safety team records whether the reporter is a health care professional: from the author pass's
    authors.parquet, looked up part by part from an on-disk table (no dict of every author)."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    from inference.scoring.authors import AuthorTypes
    from inference.scoring.outputs import write_adverse_events

    n = 4
    rows = [{**row, "author_id": author} for row, author in zip(_rows(n), ["doc", "pat", "bot", None])]
    ae = np.tile([[0.1, 0.9]], (n, 1))
    proba = {"tone": np.full((n, 3), 1 / 3), "topics": np.zeros((n, 3)), "ae": ae}
    provenance = {"model_name": "m", "model_version": "1", "model_run_id": "r",
                  "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    part = tmp_path / "part-000000.parquet"
    pq.write_table(scored_table(rows, SPECS, proba, {**THRESHOLDS, "ae": [0.5]}, provenance), part)
    types = {"doc": "physician", "pat": "patient_caregiver", "bot": "unknown", "other": "physician"}
    pq.write_table(pa.table({"author_id": list(types), "author_type": list(types.values())}), tmp_path / "authors.parquet")
    with AuthorTypes(tmp_path) as lookup:
        assert lookup.count == 4 and lookup(["pat", "nobody", None, "pat"]) == {"pat": "patient_caregiver"}
        assert write_adverse_events([part], tmp_path / "ae.csv", SPECS[2], lookup) == n
    with open(tmp_path / "ae.csv", encoding="utf-8", newline="") as handle:
        exported = {row["post_id"]: (row["reporter_type"], row["reporter_is_hcp"]) for row in csv.DictReader(handle)}
    assert exported == {"p0": ("physician", "yes"), "p1": ("patient_caregiver", "no"), "p2": ("unknown", "unknown"),
                        "p3": ("", "unknown")}


def test_adverse_event_export_cells_are_spreadsheet_safe_and_complete(tmp_path) -> None:
    """Every cell of a flagged post as the safety team opens it: a formula-like text, product or id is
    prefixed with ', the products joined, the time in ISO form, nothing missing for a post without them."""
    import csv

    import pyarrow.parquet as pq

    from inference.scoring.outputs import AE_COLUMNS, write_adverse_events

    rows = _rows(3)
    rows[0].update(text='=HYPERLINK("http://evil.example")', products=["+drug", "renaflo"], post_id="@p0",
                   platform="x", created_at=datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc), source_file="a.jsonl")
    rows[1].update(text="-5 mg and it stopped", products=None, author_id="-doc")
    rows[2].update(text="fine")
    proba = {"tone": np.full((3, 3), 1 / 3), "topics": np.zeros((3, 3)),
             "ae": np.array([[0.1, 0.9], [0.2, 0.8], [0.95, 0.05]])}
    provenance = {"model_name": "=m", "model_version": "7", "model_run_id": "r",
                  "scored_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}
    part = tmp_path / "part-000000.parquet"
    pq.write_table(scored_table(rows, SPECS, proba, {**THRESHOLDS, "ae": [0.5]}, provenance), part)
    assert write_adverse_events([part], tmp_path / "ae.csv", SPECS[2]) == 2
    with open(tmp_path / "ae.csv", encoding="utf-8", newline="") as handle:
        exported = list(csv.reader(handle))
    assert exported[0] == AE_COLUMNS
    first, second = (dict(zip(AE_COLUMNS, row)) for row in exported[1:])
    assert first == {"post_id": "'@p0", "platform": "x", "author_id": "", "reporter_type": "",
                     "reporter_is_hcp": "unknown", "created_at": "2026-03-01T12:30:00+00:00",
                     "products": "'+drug|renaflo", "probability": "0.9000",
                     "text": "'=HYPERLINK(\"http://evil.example\")", "model_name": "'=m", "model_version": "7",
                     "source_file": "a.jsonl"}
    assert second["text"] == "'-5 mg and it stopped" and second["products"] == "" and second["author_id"] == "'-doc"
    assert second["probability"] == "0.8000" and second["created_at"] == ""
