"""The suppression (opt-out) list is honored everywhere: nothing of a suppressed person reaches any output.

End to end without mocks: a demo corpus -> `occ ingest --suppress` -> dataset -> a small baseline trained and
registered in MLflow -> `occ score --suppress` -> `occ report --suppress`, then every file of every output folder
(Parquet read value by value, everything else as bytes, compressed files opened) and the MLflow run's params and
tags are searched for the suppressed ids and handles. A report on a run scored *before* the opt-out must be clean
too. Positive controls (the same search finds the ids where they are expected) keep the search honest.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.errors import OccError
from common.settings import IngestSettings
from labeling.ingest.mapping import IDENTITY
from labeling.ingest.pipeline import PostPipeline
from labeling.ingest.suppression import EMPTY, SuppressionError, SuppressionList, load_suppression

ROOT = Path(__file__).resolve().parents[1]


# ---- the file format ---------------------------------------------------------------------------------------------

def test_txt_format_kinds_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "optout.txt"
    path.write_text("\ufeff# opted out 2026-11\n\nhcp001\n  @DrJane   # by handle\nperson:p_42\np_7\n"
                    "@Mixed_Case\n", encoding="utf-8")
    listed = load_suppression(path)
    assert listed.author_ids == {"hcp001"}
    assert listed.handles == {"hcp001", "drjane", "mixed_case"}  # a plain entry matches author_id or handle
    assert listed.person_ids == {"p_42", "p_7"}
    assert len(listed) == 6 and bool(listed)
    assert "hcp001" not in repr(listed) and "drjane" not in repr(listed).lower()  # counts only, never entries


def test_csv_format_with_kind_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "optout.csv"
    path.write_text("Id,Kind,requested_on\n"
                    "hcp001,author_id,2026-11-01\n"
                    "@DrJane,handle,2026-11-02\n"
                    "p_9,person_id,\n"
                    "plain,,\n"
                    "# a comment row,,\n"
                    ",,\n", encoding="utf-8")
    listed = load_suppression(path)
    assert listed.author_ids == {"hcp001", "plain"}
    assert listed.handles == {"drjane", "plain"}
    assert listed.person_ids == {"p_9"}
    only_ids = tmp_path / "ids.csv"
    only_ids.write_text("id\n@handle1\nx9\n", encoding="utf-8")
    assert load_suppression(only_ids).handles == {"handle1", "x9"}


@pytest.mark.parametrize("name, text, expected", [
    ("bad.txt", "hcp001\n\nhcp002 hcp003\n", "line 3: expected one entry per line"),
    ("bad.txt", "ok\n@\n", "line 2: expected a name after @"),
    ("bad.csv", "author,kind\nhcp001,author_id\n", "line 1: expected a header with an `id` column"),
    ("bad.csv", "id,kind\nhcp001,author_id\nhcp002,email\n", "line 3: expected `kind` to be one of author_id, handle, person_id"),
    ("bad.csv", "id,kind\nhcp001,author_id,extra\n", "line 2: expected 2 fields"),
    ("bad.csv", "id,kind\n ,handle\n", "line 2: expected an id"),
    ("bad.json", "[]", "expected a .txt file"),
])
def test_a_malformed_file_names_the_file_the_line_and_what_was_expected(tmp_path: Path, name: str, text: str,
                                                                        expected: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SuppressionError) as caught:
        load_suppression(path)
    message = str(caught.value)
    assert str(path) in message and expected in message, message
    assert isinstance(caught.value, OccError)
    assert "hcp002" not in message and "hcp003" not in message  # the entries themselves are not echoed


def test_missing_and_non_utf8_files_are_errors_and_no_file_is_a_no_op(tmp_path: Path) -> None:
    with pytest.raises(SuppressionError, match="no such file"):
        load_suppression(tmp_path / "missing.txt")
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"hcp001\ncaf\xe9\n")
    with pytest.raises(SuppressionError, match="line 2: expected UTF-8"):
        load_suppression(latin)
    assert load_suppression(None) is EMPTY and not EMPTY
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody yet\n", encoding="utf-8")
    listed = load_suppression(empty)
    assert not listed and listed.digest() is None
    assert PostPipeline(IngestSettings(), suppression=listed).suppression is None  # no per-row cost


def test_handles_match_case_insensitively_and_fall_back_to_the_author_id() -> None:
    listed = SuppressionList(author_ids=["Hcp001"], handles=["@DrJane"])
    assert listed.matches("Hcp001") and not listed.matches("hcp001")  # author ids: exact
    assert listed.matches("123456", "drjane") and listed.matches("123456", "@DRJANE")
    assert listed.matches("DrJANE")  # the author id as a handle (listening exports, id-style mentions)
    assert listed.matches("DrJane", "someone_else")  # ... also where the post carries another handle
    assert not listed.matches("123456", "drjane2") and not listed.matches(None)
    assert listed.matches(123, "@drjane") and SuppressionList(author_ids=["42"]).matches(42)  # numeric ids
    assert listed.matches_record({"author_id": "x", "author_handle": " @DrJane"})
    assert listed.matches_record({"author_id": "x"}, {"author_handle": "drjane"})  # unmapped source field


def test_person_ids_reach_accounts_through_the_persons_table(tmp_path: Path) -> None:
    persons = tmp_path / "authors.parquet"
    pq.write_table(pa.table({"author_id": ["a1", "a2", "a3"], "person_id": ["p_1", "p_1", "p_2"],
                             "author_handle": ["jane_x", "JaneOnLinkedIn", None]}), persons)
    optout = tmp_path / "optout.txt"
    optout.write_text("person:p_1\n", encoding="utf-8")
    listed = load_suppression(optout, persons_file=persons)
    assert listed.matches("a1") and listed.matches("a2") and not listed.matches("a3")
    row = {"text": "thanks @janeonlinkedin and @Jane_X", "mentions": ["a1", "a3"]}
    assert listed.scrub_mentions(row) == {"text": "thanks @[suppressed] and @[suppressed]", "mentions": ["a3"]}
    mapped = load_suppression(optout, person_of={"b7": "p_1"})
    assert mapped.matches("b7") and not mapped.matches("a1")
    assert load_suppression(optout).matches("x", person_id="p_1")  # a row that carries its person id
    by_handle = tmp_path / "by_handle.txt"
    by_handle.write_text("@JANE_X\n", encoding="utf-8")  # the table links the handle to its account's id
    linked = load_suppression(by_handle, persons_file=persons)
    assert linked.matches("a1") and linked.is_suppressed_name("a1") and not linked.matches("a2")
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"author_id": ["a1"]}), bad)
    with pytest.raises(SuppressionError, match="expected columns author_id and person_id, missing person_id"):
        load_suppression(optout, persons_file=bad)


def test_scrubbing_other_peoples_posts() -> None:
    listed = SuppressionList(author_ids=["hcp001"], handles=["DrJane"])
    row = {"text": "@DRJANE agreed, cc @hcp001 @hcp0012 @drjane.x me@drjane.com", "mentions": ["drjane", "hcp001", "bob"],
           "author_bio": "co-host with @drjane", "author_links": ["x:DrJane", "linkedin:bob"]}
    listed.scrub_mentions(row)
    assert row["text"] == "@[suppressed] agreed, cc @[suppressed] @hcp0012 @[suppressed].x me@drjane.com"
    assert row["mentions"] == ["bob"] and row["author_bio"] == "co-host with @[suppressed]"
    assert row["author_links"] == ["linkedin:bob"]
    raw = '{"author_id": "u1", "mentions": ["hcp001", "DRJANE"], "text": "@hcp001 hi"}'
    assert listed.scrub_raw(raw) == '{"author_id": "u1", "mentions": ["[suppressed]", "[suppressed]"], "text": "@[suppressed] hi"}'
    clone = pickle.loads(pickle.dumps(listed))  # Spark executors receive it pickled
    assert clone == listed and clone.matches("hcp001") and clone.digest() == listed.digest()


def test_a_malformed_row_of_a_suppressed_author_is_not_quarantined(tmp_path: Path) -> None:
    from labeling.ingest.run import ingest

    dump = tmp_path / "dump.jsonl"
    lines = [
        {"post_id": "1", "author_id": "hcp001", "text": "kept out entirely"},
        {"post_id": "2", "author_id": "hcp001", "text": "SECRET-A", "created_at": "not a date"},  # malformed
        {"post_id": "3", "author_id": "u9", "author_handle": "DrJane", "text": ""},  # malformed, by handle
        {"post_id": "4", "author_id": "u2", "text": "@hcp001 what do you think?", "mentions": ["hcp001"]},
        {"post_id": "5", "author_id": "u3", "text": "@DrJane SECRET-B", "created_at": "not a date"},  # another's, bad
        {"post_id": "1", "author_id": "hcp001", "text": "kept out entirely"},  # a repeat: still suppressed
        {"post_id": "6", "author_id": "u4", "text": "fine"},
    ]
    text = "\n".join(json.dumps(r) for r in lines) + '\n{"post_id": "7", "author_id": "hcp001", "text": "SECRET-C\n'
    dump.write_text(text, encoding="utf-8")
    optout = tmp_path / "optout.txt"
    optout.write_text("hcp001\n@drjane\n", encoding="utf-8")
    stats = ingest([dump], tmp_path / "out", IngestSettings(suppress_file=str(optout)), progress=False)
    assert (stats.rows_read, stats.rows_written, stats.rows_quarantined, stats.duplicates_dropped,
            stats.suppressed) == (8, 2, 2, 0, 4)
    assert stats.reconciled and stats.to_dict()["suppressed"] == 4
    quarantine = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    assert [q["line"] for q in quarantine] == [5, 8]
    assert "[suppressed]" in quarantine[0]["raw"] and "drjane" not in quarantine[0]["raw"].lower()
    assert quarantine[1]["raw"] is None  # unparseable and naming a suppressed account: could be theirs
    posts = pq.read_table(tmp_path / "out" / "posts.parquet").to_pylist()
    assert [p["post_id"] for p in posts] == ["4", "6"]
    assert posts[0]["text"] == "@[suppressed] what do you think?" and posts[0]["mentions"] == []
    assert pq.read_table(tmp_path / "out" / "duplicates.parquet").num_rows == 0
    summary = json.loads((tmp_path / "out" / "ingest_summary.json").read_text())
    assert summary["suppressed"] == 4 and summary["reconciled"]
    assert_absent(tmp_path / "out", ["hcp001", "drjane", "SECRET-A", "SECRET-C", "kept out entirely"])


def test_spark_executor_logic_keeps_nothing_of_a_suppressed_row(tmp_path: Path) -> None:
    """The mapInArrow function Spark runs on executors, called directly: a suppressed row is a bare status."""
    from inference.scoring.spark import IngestFiles, RowLogic

    dump = tmp_path / "dump.jsonl"
    dump.write_text(json.dumps({"post_id": "1", "author_id": "hcp001", "text": "no"}) + "\n"
                    + json.dumps({"post_id": "2", "author_id": "u1", "text": "@hcp001 yes", "mentions": ["hcp001"]})
                    + "\n", encoding="utf-8")
    logic = RowLogic(IngestSettings(), IDENTITY, None, (str(dump),), (str(dump),),
                     pickle.loads(pickle.dumps(SuppressionList(["hcp001"]))))
    units = pa.RecordBatch.from_pylist([{"file_index": 0, "kind": "file", "block": 0}])
    rows = [r for batch in IngestFiles(logic)(iter([units])) for r in batch.to_pylist()]
    by_status = Counter(r["status"] for r in rows)
    assert by_status == {"suppressed": 1, "clean": 1, "block": 1}
    gone = next(r for r in rows if r["status"] == "suppressed")
    assert all(v is None for k, v in gone.items() if k not in ("status", "file_index", "block", "rel_line"))
    kept = next(r for r in rows if r["status"] == "clean")
    assert kept["text"] == "@[suppressed] yes" and kept["mentions"] == []


# ---- searching outputs -----------------------------------------------------------------------------------------------

def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _blobs(path: Path) -> Iterator[tuple[str, bytes]]:
    """What a file says, in every form the search must see: raw bytes, and for Parquet every value (its pages are
    compressed), for gzip, zip and zlib streams (joblib) the decompressed bytes."""
    data = path.read_bytes()
    yield "bytes", data
    if data[:4] == b"PAR1":
        parquet = pq.ParquetFile(path)
        meta = parquet.schema_arrow.metadata or {}
        yield "parquet metadata", b" ".join(list(meta) + list(meta.values()))
        table = parquet.read()
        yield "parquet column names", " ".join(table.column_names).encode()
        yield "parquet values", "\n".join(_strings(table.to_pylist())).encode("utf-8")
    elif data[:2] == b"\x1f\x8b":
        yield "gunzipped", gzip.decompress(data)
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield f"zip member {name}", archive.read(name)
    elif data[:1] == b"\x78":
        try:
            yield "zlib", zlib.decompressobj().decompress(data)
        except zlib.error:
            pass


def find_needles(folder: Path, needles: list[str], skip: tuple[Path, ...] = ()) -> list[str]:
    """Every (file, form, needle) where a needle occurs, case-insensitively."""
    wanted = [n.lower().encode("utf-8") for n in needles]
    hits = []
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        if any(path == s or s in path.parents for s in skip):
            continue
        for form, blob in _blobs(path):
            lowered = blob.lower()
            hits += [f"{path} ({form}): {n.decode()}" for n in wanted if n in lowered]
    return hits


def assert_absent(folder: Path, needles: list[str], skip: tuple[Path, ...] = ()) -> None:
    hits = find_needles(folder, needles, skip)
    assert not hits, "suppressed names found in outputs:\n" + "\n".join(hits[:20])


# ---- end to end ------------------------------------------------------------------------------------------------------

def _handle(row: dict[str, Any]) -> str:
    return str(row.get("author_handle") or row.get("author_id") or "").lstrip("@").lower()


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Demo corpus -> ingest (suppressed) -> dataset -> baseline in MLflow -> score (suppressed and not) -> reports."""
    import mlflow

    from helpers import local_mlflow, settings, write_params
    from labeling.demo.generator import generate_demo
    from labeling.ingest.products import load_products
    from training.data import build_dataset_from
    from training.train import train_and_register

    home = tmp_path_factory.mktemp("suppression")
    with local_mlflow(home) as uri:
        generate_demo(home / "raw", posts=1500, seed=31, labeled_fraction=0.5)
        rows = [json.loads(line) for line in (home / "raw" / "posts.jsonl").read_text(encoding="utf-8").splitlines()]
        posts_by = Counter(r["author_id"] for r in rows)
        names: dict[str, set[str]] = {}
        for r in rows:
            names.setdefault(r["author_id"], {r["author_id"].lower()}).add(_handle(r))

        def unlinked(author: str) -> bool:
            # Not tied to another account of the same person (a second account whose bio names this one):
            # those are reached through person ids and a persons table, tested above.
            return not any(n in json.dumps({k: v for k, v in r.items() if k not in ("text", "mentions")}).lower()
                           for r in rows if r["author_id"] != author for n in names[author])

        received = Counter(m for r in rows for m in (r.get("mentions") or []) if m in posts_by)
        ranked = [a for a, _ in received.most_common() if unlinked(a)]
        leader = ranked[0]  # the most mentioned author: an opinion leader
        # by handle: the next one, listed as the handle other posts mention it by ("@hcp00123", written in
        # capitals: handles match case-insensitively, against author_handle and the author id)
        by_handle = ranked[1]
        third = next(a for a, n in posts_by.most_common() if a not in (leader, by_handle) and 3 <= n <= 40
                     and unlinked(a))
        handle = by_handle.lower()
        optout = home / "optout.txt"
        optout.write_text(f"# opt-outs\n{leader}\n@{by_handle.upper()}\n{third}   # asked on 2026-11-30\n",
                          encoding="utf-8")

        # The input: the corpus plus rows that must never reach quarantine or any output.
        other = next(a for a in posts_by if a not in (leader, by_handle, third))
        extra = [json.dumps({"post_id": "inj-1", "author_id": leader, "text": "zqsecretzq clinic note",
                             "created_at": "not a date"}),  # malformed, by a suppressed author
                 json.dumps({"post_id": "inj-2", "author_id": other, "text": f"@{leader} agree",
                             "mentions": [leader], "created_at": "not a date"}),  # malformed, another author's
                 '{"post_id": "inj-3", "author_id": "%s", "text": "zqsecretzq broken' % third]  # unparseable
        dump = home / "input.jsonl"
        dump.write_text((home / "raw" / "posts.jsonl").read_text(encoding="utf-8") + "\n".join(extra) + "\n",
                        encoding="utf-8")
        expected = 0
        for line in dump.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            expected += row.get("author_id") in (leader, third) or handle in (_handle(row), row["author_id"].lower())
        assert expected > 10

        params = write_params(home / "params.yaml", baseline={"min_df": 1})
        suppressed_names = sorted(names[leader] | names[by_handle] | names[third])
        logs = home / "logs"
        logs.mkdir()

        def occ(name: str, *args: str) -> dict[str, Any]:
            done = subprocess.run([sys.executable, "-m", "occ", *args, "--params", str(params), "--json"],
                                  env={**os.environ, "MLFLOW_TRACKING_URI": uri}, cwd=home, capture_output=True,
                                  text=True, timeout=600)
            (logs / f"{name}.log").write_text(done.stdout + "\n" + done.stderr, encoding="utf-8")
            assert done.returncode == 0, done.stderr[-3000:]
            return json.loads(done.stdout.strip().splitlines()[-1])

        ingested = occ("ingest", "ingest", str(dump), "--out", str(home / "ingested"), "--suppress", str(optout))
        # `occ dataset` refuses labels of posts that were not ingested (it cannot tell a suppressed post from one
        # never ingested, and keeps no record of suppressed ones): drop them first, as its message asks.
        kept_ids = set(pq.read_table(home / "ingested" / "posts.parquet", columns=["post_id"]).column(0).to_pylist())
        annotations = (home / "raw" / "annotations.csv").read_text(encoding="utf-8").splitlines()
        (home / "annotations.csv").write_text("\n".join([annotations[0]] + [a for a in annotations[1:]
                                                                         if a.split(",", 1)[0] in kept_ids]) + "\n",
                                             encoding="utf-8")
        chosen = settings(baseline={"min_df": 1})
        build_dataset_from(home / "annotations.csv", home / "ingested", None, home / "dataset", home / "frozen.txt",
                           chosen)
        mlflow.set_experiment("suppression")
        train_and_register("baseline", home / "dataset", chosen, registered_model="supp-test",
                           products=load_products(home / "raw" / "products.yaml"))
        model = "models:/supp-test/1"
        scored = occ("score", "score", str(dump), "--out", str(home / "scored"), "--model", model,
                     "--suppress", str(optout))
        report = occ("report", "report", str(home / "scored"), "--out", str(home / "report"), "--suppress", str(optout))
        # The same dump scored before the opt-out, then reported with the list (and, as a control, without).
        occ("score_before", "score", str(dump), "--out", str(home / "scored_before"), "--model", model)
        before = occ("report_before", "report", str(home / "scored_before"), "--out", str(home / "report_before"),
                     "--suppress", str(optout))
        occ("report_control", "report", str(home / "scored_before"), "--out", str(home / "report_control"))
        yield {"home": home, "uri": uri, "params": params, "optout": optout, "dump": dump, "model": model,
               "needles": suppressed_names, "leader": leader, "expected": expected,
               "ingested": ingested, "scored": scored, "report": report, "before": before}


def _inputs_and_controls(home: Path) -> tuple[Path, ...]:
    """What is not output of a suppressed flow: the inputs, the list, and the run scored before the opt-out."""
    return (home / "raw", home / "input.jsonl", home / "optout.txt", home / "scored_before",
            home / "report_control", home / "logs" / "score_before.log", home / "logs" / "report_control.log")


def test_counts_reconcile_with_a_suppressed_bucket(flow: dict[str, Any]) -> None:
    ingested, scored = flow["ingested"], flow["scored"]
    assert ingested["suppressed"] == flow["expected"] > 0
    assert ingested["rows_read"] == (ingested["rows_written"] + ingested["rows_quarantined"]
                                     + ingested["duplicates_dropped"] + ingested["suppressed"])
    assert ingested["reconciled"] and ingested["rows_quarantined"] == 2  # inj-2 and inj-3, never inj-1
    assert scored["suppressed"] == flow["expected"] and scored["reconciled"]
    assert scored["rows_read"] == (scored["rows_scored"] + scored["rows_quarantined"] + scored["duplicates_dropped"]
                                   + scored["suppressed"])
    manifest = json.loads((flow["home"] / "scored" / "_manifest.json").read_text())
    assert manifest["counts"]["suppressed"] == flow["expected"]
    summary = json.loads((flow["home"] / "report" / "report_summary.json").read_text())
    assert summary["scoring_counts"]["suppressed"] == flow["expected"] and summary["suppressed_posts"] == 0
    before = pq.read_table(flow["home"] / "scored_before" / "scores").to_pylist()  # scored before the opt-out
    theirs = sum(r["author_id"] in flow["needles"] or _handle(r) in flow["needles"] for r in before)
    assert flow["before"]["suppressed_posts"] == theirs > 0
    for name in ("ingest", "score"):
        log = (flow["home"] / "logs" / f"{name}.log").read_text()
        assert f"{flow['expected']} suppressed" in log
    html = (flow["home"] / "report" / "report.html").read_text(encoding="utf-8")
    assert f"{flow['expected']} suppressed" in html


def test_no_output_file_names_a_suppressed_author(flow: dict[str, Any]) -> None:
    home = flow["home"]
    skip = _inputs_and_controls(home)
    outputs = [p for p in sorted(home.iterdir()) if p not in skip]
    assert {p.name for p in outputs} >= {"ingested", "dataset", "scored", "report", "report_before", "logs",
                                         "mlflow.db", "frozen.txt"}
    names = {p.name for p in (home / "scored").iterdir()} | {p.name for p in (home / "ingested").iterdir()}
    assert {"quarantine.parquet", "duplicates.parquet", "ingest_summary.json", "adverse_events.csv",
            "_manifest.json", "scores"} <= names
    assert {p.name for p in (home / "report").iterdir()} >= {"report.html", "gaps.csv", "leaders.csv",
                                                           "report_summary.json"}
    assert_absent(home, flow["needles"] + ["zqsecretzq"], skip=skip)
    # Positive controls: the same search finds them where they must be, and reads inside the compressed model.
    assert find_needles(home / "scored_before", [flow["leader"]])
    model_file = next(home.rglob("baseline.joblib"))
    assert any(form == "zlib" and b"hcp" in blob.lower() for form, blob in _blobs(model_file))
    control = (home / "report_control" / "leaders.csv").read_text(encoding="utf-8")
    assert flow["leader"] in control  # without the list, the leader is an opinion leader in the same data
    quarantine = pq.read_table(home / "ingested" / "quarantine.parquet").to_pylist()
    assert [(q["post_id"], q["reason"]) for q in quarantine] == [("inj-2", "bad_timestamp"), (None, "invalid_json")]
    assert "[suppressed]" in quarantine[0]["raw"] and quarantine[1]["raw"] is None  # scrubbed; withheld


def test_the_mlflow_run_holds_no_suppressed_author(flow: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(flow["uri"])
    runs = [run for experiment in client.search_experiments() for run in client.search_runs([experiment.experiment_id])]
    assert runs
    values = []
    for run in runs:
        values += [*run.data.params.items(), *run.data.tags.items(), *run.data.metrics.items()]
        values += [a.path for a in client.list_artifacts(run.info.run_id)]
        for dataset in run.inputs.dataset_inputs:
            values += [dataset.dataset.name, dataset.dataset.source, dataset.dataset.schema or "",
                       dataset.dataset.profile or ""]
    text = json.dumps(values, default=str).lower()
    assert not [n for n in flow["needles"] if n.lower() in text]


def test_resume_refuses_a_different_list(flow: dict[str, Any], tmp_path: Path) -> None:
    from helpers import settings
    from inference.scoring.run import ScoreError, file_sha256, score
    from models.registry import pin

    out = tmp_path / "stopped"
    out.mkdir()
    dump = flow["dump"]
    (out / "_progress.json").write_text(json.dumps({
        "chunks_done": 0, "inputs": {str(dump): file_sha256(dump)}, "model": pin(flow["model"]).to_dict(),
        "chunk_rows": 10000, "suppression": None}), encoding="utf-8")
    chosen = settings(ingest={"suppress_file": str(flow["optout"])})
    with pytest.raises(ScoreError, match="suppression list differs"):
        score([dump], out, flow["model"], chosen, resume=True, progress=False)


@pytest.mark.slow
def test_spark_engine_suppresses_exactly_as_the_local_engine(flow: dict[str, Any]) -> None:
    home = flow["home"]
    out = home.parent / f"{home.name}-spark"
    done = subprocess.run([sys.executable, "-m", "occ", "score", str(flow["dump"]), "--out", str(out), "--model",
                           flow["model"], "--suppress", str(flow["optout"]), "--engine", "spark", "--spark-master",
                           "local[2]", "--params", str(flow["params"]), "--json"],
                          env={**os.environ, "MLFLOW_TRACKING_URI": flow["uri"]}, cwd=home, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    local, spark = (json.loads((d / "_manifest.json").read_text()) for d in (home / "scored", out))
    assert spark["counts"] == local["counts"] and spark["counts"]["suppressed"] == flow["expected"]
    ours = pq.read_table(out / "scores").drop_columns(["scored_at"])
    theirs = pq.read_table(home / "scored" / "scores").drop_columns(["scored_at"])
    assert ours.column("post_id").to_pylist() == theirs.column("post_id").to_pylist()
    assert ours.column("text").to_pylist() == theirs.column("text").to_pylist()
    assert ours.column("mentions").to_pylist() == theirs.column("mentions").to_pylist()
    assert pq.read_table(out / "quarantine.parquet").equals(pq.read_table(home / "scored" / "quarantine.parquet"))
    log = home.parent / f"{home.name}-spark.log"
    log.write_text(done.stdout + "\n" + done.stderr, encoding="utf-8")
    assert_absent(out, flow["needles"] + ["zqsecretzq"])
    assert_absent(log, flow["needles"] + ["zqsecretzq"])
