"""De-duplication on disk and the row pipeline in worker processes: same rows, same order, same files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.settings import IngestSettings
from labeling.ingest.dedup import DedupIndex
from labeling.ingest.pipeline import text_fingerprint
from labeling.ingest.run import ingest
from helpers import write_dump


def reference_decisions(rows: list[tuple[str, str | None, str]]) -> list[tuple[str, str] | None]:
    """First occurrence wins, the plain in-memory way the index replaced."""
    ids: set[str] = set()
    texts: dict[int, str] = {}
    out: list[tuple[str, str] | None] = []
    for post_id, author, text in rows:
        if post_id in ids:
            out.append(("same_post_id", post_id))
            continue
        ids.add(post_id)
        fp = text_fingerprint(author, text)
        if author is not None and fp in texts:
            out.append(("same_author_same_text", texts[fp]))
            continue
        texts.setdefault(fp, post_id)
        out.append(None)
    return out


row_strategy = st.tuples(st.sampled_from([f"p{i}" for i in range(12)]), st.sampled_from([None, "a", "b"]),
                         st.sampled_from(["x", "X ", "y", "z z", "Z  z"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, max_size=40), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_index_decides_like_the_in_memory_sets_whatever_the_batches(tmp_path: Path, rows, cuts) -> None:
    expected = reference_decisions(rows)
    path = tmp_path / "index.sqlite"
    path.unlink(missing_ok=True)
    bounds = sorted({0, len(rows), *[min(c, len(rows)) for c in cuts]})
    got: list = []
    with DedupIndex(path, cache_mb=1) as index:
        for chunk, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            batch = rows[lo:hi]
            got += index.admit([r[0] for r in batch], [text_fingerprint(r[1], r[2]) for r in batch],
                               [r[1] is not None for r in batch], chunk)
    assert got == expected


def test_rewind_forgets_exactly_the_unfinished_chunks(tmp_path: Path) -> None:
    with DedupIndex(tmp_path / "i.sqlite", durable=True) as index:
        index.admit(["1", "2"], [text_fingerprint("a", "t1"), text_fingerprint("a", "t2")], [True, True], 0)
        index.admit(["3"], [text_fingerprint("a", "t3")], [True], 1)
        assert index.rewind(1) == 2  # post 3's id and text
        again = index.admit(["3", "1", "4"], [text_fingerprint("a", "t3"), text_fingerprint("b", "t"),
                                              text_fingerprint("a", "t2")], [True, True, True], 1)
    assert again == [None, ("same_post_id", "1"), ("same_author_same_text", "2")]


def _tables(out: Path) -> dict:
    summary = json.loads((out / "ingest_summary.json").read_text())
    summary.pop("seconds"), summary.pop("rows_per_second")
    return {"summary": summary, **{name: pq.read_table(out / name).to_pylist()
                                   for name in ("posts.parquet", "quarantine.parquet", "duplicates.parquet")}}


def test_ingest_gives_the_same_files_with_one_or_two_workers(tmp_path: Path) -> None:
    dump = write_dump(tmp_path / "dump.jsonl", 1500, seed=3)
    with open(dump, "a", encoding="utf-8") as handle:  # same author, same text again: a text duplicate
        handle.write(json.dumps({"post_id": "again", "text": json.loads(dump.read_text().splitlines()[0])["text"],
                                 "author_id": json.loads(dump.read_text().splitlines()[0])["author_id"]}) + "\n")
    outs = {}
    for workers in (1, 2):
        stats = ingest([dump], tmp_path / f"w{workers}", IngestSettings(batch_rows=97, workers=workers), progress=False)
        assert stats.reconciled and stats.duplicates_dropped > 10 and stats.rows_quarantined > 10
        outs[workers] = _tables(tmp_path / f"w{workers}")
        assert not (tmp_path / f"w{workers}" / ".dedup-index.sqlite").exists()
    assert outs[1] == outs[2]
    kinds = {d["kind"] for d in outs[2]["duplicates.parquet"]}
    assert kinds == {"same_post_id", "same_author_same_text"}
