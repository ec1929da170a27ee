"""`occ authors resolve | evaluate | decide | training-file` on a small demo dump, as a user runs them."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from occ import app


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from labeling.demo.generator import generate_demo
    from labeling.ingest.products import load_products
    from labeling.ingest.run import ingest

    home = tmp_path_factory.mktemp("authors_cli")
    generate_demo(home / "raw", posts=3000, seed=7, labeled_fraction=0.3)
    ingest([home / "raw" / "posts.jsonl"], home / "ingested", products=load_products(home / "raw" / "products.yaml"),
           progress=False)
    return home


def invoke(*args: str) -> dict:
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, done.output
    return json.loads(done.output.strip().splitlines()[-1]) if done.output.strip().startswith("{") else {}


def test_resolve_evaluate_and_a_split_decision(run: Path) -> None:
    ingested, truth = run / "ingested", run / "raw" / "authors.csv"
    summary = invoke("authors", "resolve", str(ingested))
    assert summary["authors"] == pq.read_metadata(ingested / "authors.parquet").num_rows > 0
    assert summary["persons"] < summary["authors"]  # some second accounts were linked
    figures = invoke("authors", "evaluate", str(ingested), "--truth", str(truth))
    assert figures["link_precision"] == 1.0 and figures["clinician_precision"] >= 0.95
    assert 0.0 < figures["type_macro_f1"] <= 1.0

    links = pd.read_parquet(ingested / "author_links.parquet")
    linked = links[links["linked"]].iloc[0]
    decisions = run / "link_decisions.csv"
    done = CliRunner().invoke(app, ["authors", "decide", linked["author_a"], linked["author_b"], "split",
                                    "--reviewer", "rita", "--decisions", str(decisions)])
    assert done.exit_code == 0, done.output
    invoke("authors", "resolve", str(ingested), "--decisions", str(decisions))
    authors = pd.read_parquet(ingested / "authors.parquet").set_index("author_id")["person_id"]
    assert authors[linked["author_a"]] != authors[linked["author_b"]]  # the reviewer's split holds
    after = pd.read_parquet(ingested / "author_links.parquet")
    row = after[(after["author_a"] == linked["author_a"]) & (after["author_b"] == linked["author_b"])].iloc[0]
    assert row["decision"] == "split" and not row["linked"]


def test_training_file_and_bad_input(run: Path) -> None:
    truth = pd.read_csv(run / "raw" / "authors.csv", dtype=str)
    labeled = run / "labeled.csv"
    truth[["author_id", "author_type"]].head(60).to_csv(labeled, index=False)
    out = run / "author_docs.csv"
    done = CliRunner().invoke(app, ["authors", "training-file", str(run / "ingested"), "--labels", str(labeled),
                                    "--out", str(out)])
    assert done.exit_code == 0, done.output
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) == {"post_id", "author_id", "text", "author_type"}
    assert all(r["post_id"] == r["author_id"] and r["text"] for r in rows)
    with open(run / "raw" / "posts.jsonl", encoding="utf-8") as handle:  # display names are never stored
        names = {json.loads(line).get("author_display_name") or "" for line in handle}
    documents = "\n".join(r["text"] for r in rows)
    people = {m.group(0) for n in names if (m := re.match(r"(?:Dr\.? )?[A-Z][a-z]+ [A-Z][a-z]+", n))}
    assert people and not [n for n in people if n in documents]  # person names, not "psoriatic arthritis warrior"
    bad = run / "bad_labels.csv"
    bad.write_text("author_id,author_type\nhcp00001,surgeon\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["authors", "training-file", str(run / "ingested"), "--labels", str(bad),
                                       "--out", str(run / "x.csv")])
    assert refused.exit_code == 2 and "line 2" in refused.output and "surgeon" in refused.output
    missing = CliRunner().invoke(app, ["authors", "resolve", str(run / "nowhere")])
    assert missing.exit_code == 2 and "neither posts.parquet" in missing.output


def _in_memory_tables(parts: list[Path], out: Path, settings) -> None:
    """The reference: every profile at once (`resolve.resolve_authors`), as the author pass did before buckets."""
    from common.atomic import write_table_atomic
    from labeling.authors import resolve

    out.mkdir()
    profiles = resolve.read_profiles(parts, settings.texts_per_author)
    decisions = Path(settings.link_decisions) if settings.link_decisions else None
    tables = resolve.resolve_authors(profiles, settings, decisions)
    write_table_atomic(out / resolve.AUTHORS_FILE, tables.authors)
    write_table_atomic(out / resolve.LINKS_FILE, tables.links)
    (out / "summary.json").write_text(json.dumps(tables.summary(), sort_keys=True))


@pytest.mark.parametrize("workers, linking_process", [(1, False), (2, False), (2, True)])
def test_author_pass_in_buckets_gives_the_in_memory_tables(run: Path, tmp_path: Path, workers: int,
                                                           linking_process: bool,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with more authors than `AUTHORS_PER_BUCKET` is partitioned into author-id ranges, typed bucket by
    bucket (in worker processes with 2 workers) and linked from compact columns, in this process or (a large
    run) in one of its own: the tables and the summary must be those of every profile at once, crowded handles
    and reviewers' decisions included. A spawned linking process sees the modules' own limits, not this test's,
    so crowding at 2 accounts is checked with linking in this process."""
    import pyarrow as pa

    from common.settings import AuthorSettings
    from labeling.authors import author_pass, linking

    crowd = tmp_path / "crowd.parquet"  # a handle three accounts share (crowded), two of them also a name key
    pq.write_table(pa.table({  # and a profile that links an account nothing else ties it to
        "author_id": ["zz-a1", "zz-a2", "zz-a3", "zz-b1", "zz-b2"],
        "platform": ["x", "linkedin", "doximity", "x", "linkedin"],
        "author_handle": ["drcrowd", "drcrowd", "drcrowd", "drbio1", "drbio2"],
        "author_name_key": ["nk-crowd", "nk-crowd", None, None, None],
        "author_links": [[], [], [], ["linkedin:drbio2"], []],
        "text": ["Long-term data on this drug are missing."] * 5}), crowd)
    parts = [run / "ingested" / "posts.parquet", crowd]
    ids = sorted(pq.read_table(parts[0], columns=["author_id"]).column(0).unique().to_pylist())
    if not linking_process:
        monkeypatch.setattr(linking, "MAX_BUCKET", 2)  # some handles / name keys are crowded at this size
        monkeypatch.setattr(author_pass, "MAX_BUCKET", 2)
    decisions = tmp_path / "decisions.csv"
    decisions.write_text("author_a,author_b,decision,reviewer,decided_at\n"
                         f"{ids[0]},{ids[-1]},confirm,rita,2026-05-01T09:30:00Z\n"
                         f"{ids[1]},nobody-here,confirm,rita,2026-05-01T09:31:00Z\n", encoding="utf-8")
    settings = AuthorSettings(link_decisions=str(decisions))
    whole, buckets = tmp_path / "whole", tmp_path / "buckets"
    _in_memory_tables(parts, whole, settings)
    monkeypatch.setattr(author_pass, "AUTHORS_PER_BUCKET", 11)  # not a divisor: ranges of uneven sizes
    monkeypatch.setattr(author_pass, "POOL_MIN_AUTHORS", 10)
    monkeypatch.setattr(author_pass, "LINK_BATCH", 3)  # whole blocking components, a few at a time
    monkeypatch.setattr(author_pass, "EDGE_ROWS", 4)  # profile links read a few accounts at a time
    monkeypatch.setattr(author_pass, "SAMPLE_CAP", 64)  # the sample halves: the estimate is a real estimate
    monkeypatch.setattr(author_pass, "LINK_PROCESS_MIN_AUTHORS", 0 if linking_process else 10**9)
    buckets.mkdir()
    summary = author_pass.write_author_tables(parts, buckets, settings, workers=workers)
    cuts, estimated = author_pass.bucket_boundaries(parts, 11, workers)
    assert len(cuts) >= 8 and 0.5 * len(ids) < estimated < 2 * len(ids)
    assert not (buckets / author_pass.SCRATCH_DIR).exists()
    reference = pq.read_table(whole / "author_links.parquet")
    assert reference.num_rows > 0 and pc_any(reference.column("linked"))
    crowded = reference.filter(pa.compute.equal(reference.column("author_a"), "zz-a1")).to_pylist()
    if not linking_process:
        assert [(r["author_b"], r["reason"]) for r in crowded] == [("zz-a2", "same name key only")]
    assert reference.filter(pa.compute.equal(reference.column("author_a"), "zz-b1")).column("author_b").to_pylist() \
        == ["zz-b2"]
    for name in ("authors.parquet", "author_links.parquet"):
        assert pq.read_table(buckets / name).equals(pq.read_table(whole / name)), name
    assert summary == json.loads((whole / "summary.json").read_text())


def pc_any(column) -> bool:
    return bool(any(column.to_pylist()))

def test_author_pass_without_handles_or_name_keys(tmp_path: Path) -> None:
    """A run whose rows carry no handle, name key or profile link (a minimal export): everyone is a person of
    their own, as with every profile at once."""
    import pyarrow as pa

    from common.settings import AuthorSettings
    from labeling.authors import author_pass

    part = tmp_path / "part.parquet"
    pq.write_table(pa.table({"author_id": ["a1", "a2", "a1"], "platform": ["x", "linkedin", "x"],
                             "text": ["Cardiologist here: the trial data look strong."] * 3}), part)
    whole, buckets = tmp_path / "whole", tmp_path / "buckets"
    _in_memory_tables([part], whole, AuthorSettings())
    buckets.mkdir()
    summary = author_pass.write_author_tables([part], buckets, AuthorSettings())
    for name in ("authors.parquet", "author_links.parquet"):
        assert pq.read_table(buckets / name).equals(pq.read_table(whole / name)), name
    assert summary == json.loads((whole / "summary.json").read_text()) and summary["persons"] == 2
