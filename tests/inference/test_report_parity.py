"""`occ report` on compact frames gives the numbers the previous implementation gave, on the same scored runs.

The reference is the implementation before compact frames, frozen in `report_reference/` (string ids in pandas
columns, the whole run read at once, networkx PageRank). Both build a report from the same scored directory;
the files a reviewer or a spreadsheet reads (gaps.csv/.parquet, leaders.csv, rising_voices.csv) and every value
of report_summary.json except the time it was made must be equal (floats to 1e-9; the CSVs byte for byte).

Runs: a real one (demo posts through ingest, training, registration and `occ score`, in several part files so
that replies cross parts), with clinicians only, with every voice, and with a suppression list; and the
hand-made run of test_report.py with typed authors and linked accounts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from common.settings import ReportSettings
from inference.insights.report import build_report
from labeling.ingest.suppression import load_suppression
from report_reference.report import build_report as reference_report

FILES = ("gaps.csv", "leaders.csv", "rising_voices.csv")


def _summary(path: Path) -> dict[str, Any]:
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary.pop("generated_at")
    summary.pop("seconds")
    return summary


def _close(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
    else:
        assert a == b, where


def assert_same_report(scored: Path, out: Path, config: ReportSettings, **options: Any) -> dict[str, Any]:
    """Build the report with both implementations and compare what they wrote; returns the new summary."""
    built: dict[str, Callable[..., dict[str, Any]]] = {"reference": reference_report, "compact": build_report}
    for name, build in built.items():
        build(scored, out / name, config, **options)
    for name in FILES:
        old, new = ((out / side / name).read_text(encoding="utf-8") for side in built)
        assert new == old, f"{name} differs"
    pd.testing.assert_frame_equal(pd.read_parquet(out / "compact" / "gaps.parquet"),
                                  pd.read_parquet(out / "reference" / "gaps.parquet"), rtol=1e-9, atol=1e-12)
    new_summary = _summary(out / "compact" / "report_summary.json")
    _close(new_summary, _summary(out / "reference" / "report_summary.json"))
    return new_summary


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo posts -> ingest -> dataset -> baseline (registered) -> `occ score` a fresh dump in parts of 400 rows."""
    import mlflow

    from helpers import local_mlflow, settings
    from inference.scoring.run import score
    from labeling.demo.generator import generate_demo
    from labeling.ingest.products import load_products
    from labeling.ingest.run import ingest
    from training.data import build_dataset_from
    from training.train import train_and_register

    home = tmp_path_factory.mktemp("parity_run")
    with local_mlflow(home):
        chosen = settings(baseline={"min_df": 1}, score={"chunk_rows": 400})
        generate_demo(home / "raw", posts=2000, seed=41, labeled_fraction=0.5)
        ingest([home / "raw" / "posts.jsonl"], home / "ingested", progress=False)
        build_dataset_from(home / "raw" / "annotations.csv", home / "ingested", None, home / "dataset",
                           home / "frozen.txt", chosen)
        mlflow.set_experiment("parity-tests")
        train_and_register("baseline", home / "dataset", chosen, registered_model="parity-tests",
                           products=load_products(home / "raw" / "products.yaml"))
        generate_demo(home / "new", posts=3000, seed=42, labeled_fraction=0.0)
        score([home / "new" / "posts.jsonl"], home / "scored", "models:/parity-tests/1", chosen, progress=False)
    return home / "scored"


@pytest.mark.slow
def test_same_numbers_on_a_real_scored_run(demo_run: Path, tmp_path: Path) -> None:
    assert len(list((demo_run / "scores").glob("part-*.parquet"))) > 1
    config = ReportSettings()
    summary = assert_same_report(demo_run, tmp_path / "clinicians", config, safety_task="adverse_event")
    assert summary["top_gaps"] and summary["dols"] and summary["interaction_edges"] > 0  # something to compare
    leaders = pd.read_csv(tmp_path / "clinicians" / "compact" / "leaders.csv")
    assert leaders["scope"].nunique() > 1
    assert_same_report(demo_run, tmp_path / "all", config, safety_task="adverse_event", voices="all")


@pytest.mark.slow
def test_same_numbers_with_a_suppression_list(demo_run: Path, tmp_path: Path) -> None:
    """Suppressed authors leave posts, mentions and replies in both implementations alike."""
    posts = pd.read_parquet(demo_run / "scores", columns=["author_id", "author_handle", "mentions"])
    mentioned = posts["mentions"].explode().dropna().value_counts()
    leader = str(mentioned.index[0])  # the most mentioned author: their leaving changes the graph
    handle = str(posts.loc[posts["author_id"] != leader, "author_handle"].dropna().iloc[0])
    listing = tmp_path / "optout.txt"
    listing.write_text(f"{leader}\n@{handle}\n", encoding="utf-8")
    suppression = load_suppression(listing, persons_file=demo_run / "authors.parquet")
    summary = assert_same_report(demo_run, tmp_path / "suppressed", ReportSettings(), safety_task="adverse_event",
                                 suppression=suppression, voices="all")
    assert summary["suppressed_posts"] > 0 and leader not in summary["dols"]


def test_same_numbers_on_the_hand_made_typed_run(tmp_path: Path) -> None:
    from test_report import config, known_rows, write_authors, write_scored

    scored = write_scored(tmp_path / "scored", known_rows())
    write_authors(scored, {"a3": "patient_caregiver", "a4": "patient_caregiver", "b1": "industry"},
                  {"c1": "p_c", "c2": "p_c"})
    for voices in ("clinicians", "all"):
        assert_same_report(scored, tmp_path / voices, config(), voices=voices)
    untyped = write_scored(tmp_path / "untyped", known_rows())
    assert_same_report(untyped, tmp_path / "untyped-report", config())


# ---- `occ report --engine spark` gives the local engine's report --------------------------------------------

def assert_same_files(left: Path, right: Path) -> None:
    for name in FILES:
        assert (left / name).read_text(encoding="utf-8") == (right / name).read_text(encoding="utf-8"), f"{name} differs"
    pd.testing.assert_frame_equal(pd.read_parquet(left / "gaps.parquet"), pd.read_parquet(right / "gaps.parquet"))
    assert _summary(left / "report_summary.json") == _summary(right / "report_summary.json")


@pytest.fixture(scope="module")
def spark_session():  # type: ignore[no-untyped-def]
    pytest.importorskip("pyspark")
    from inference.insights.gaps import ReportError
    from labeling.ingest.spark import start_spark

    spark, owned = start_spark("local[2]", "occ-report-tests", ReportError)
    yield spark
    if owned:
        spark.stop()


@pytest.mark.slow
def test_spark_engine_gives_the_local_report(demo_run: Path, tmp_path: Path, spark_session: Any) -> None:
    """Spark scans, numbers and resolves replies; the driver's frames and so every written number are equal."""
    config = ReportSettings()
    for voices in ("clinicians", "all"):
        build_report(demo_run, tmp_path / f"local-{voices}", config, safety_task="adverse_event", voices=voices)
        build_report(demo_run, tmp_path / f"spark-{voices}", config, safety_task="adverse_event", voices=voices,
                     spark=spark_session)
        assert_same_files(tmp_path / f"local-{voices}", tmp_path / f"spark-{voices}")
        assert not list((tmp_path / f"spark-{voices}").glob(".spark-posts-*")), "Spark's folder is left behind"
    summary = _summary(tmp_path / "spark-all" / "report_summary.json")
    assert summary["top_gaps"] and summary["interaction_edges"] > 0


@pytest.mark.slow
def test_spark_engine_with_a_suppression_list(demo_run: Path, tmp_path: Path, spark_session: Any) -> None:
    """Suppressed rows leave in Spark before numbering: rows, replies and post ids still match the local engine."""
    posts = pd.read_parquet(demo_run / "scores", columns=["author_id", "mentions"])
    leader = str(posts["mentions"].explode().dropna().value_counts().index[0])
    listing = tmp_path / "optout.txt"
    listing.write_text(f"{leader}\n{posts['author_id'].iloc[0]}\n", encoding="utf-8")
    suppression = load_suppression(listing, persons_file=demo_run / "authors.parquet")
    options: dict[str, Any] = {"safety_task": "adverse_event", "suppression": suppression, "voices": "all"}
    local = build_report(demo_run, tmp_path / "local", ReportSettings(), **options)
    build_report(demo_run, tmp_path / "spark", ReportSettings(), spark=spark_session, **options)
    assert local["suppressed_posts"] > 0
    assert_same_files(tmp_path / "local", tmp_path / "spark")
