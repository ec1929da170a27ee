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


def test_typing_in_passes_over_author_ranges_gives_the_same_tables(run: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with more authors than `AUTHORS_PER_PASS` holds the sampled posts of one range at a time: the
    tables must be those of the single pass."""
    import labeling.authors.resolve as resolve
    from common.settings import AuthorSettings

    parts = [run / "ingested" / "posts.parquet"]
    whole, passes = tmp_path / "whole", tmp_path / "passes"
    whole.mkdir(), passes.mkdir()
    resolve.write_author_tables(parts, whole, AuthorSettings())
    authors = pq.read_metadata(whole / "authors.parquet").num_rows
    monkeypatch.setattr(resolve, "AUTHORS_PER_PASS", 17)  # not a divisor: the last range is short
    assert authors > 5 * 17 and authors % 17
    resolve.write_author_tables(parts, passes, AuthorSettings())
    for name in ("authors.parquet", "author_links.parquet"):
        assert pq.read_table(passes / name).equals(pq.read_table(whole / name)), name
