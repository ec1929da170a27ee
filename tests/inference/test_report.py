"""`occ report`: gap aggregation with known answers, opinion leaders, bad input, escaping, the CLI.

The scored directory is hand-made (no model): months 2026-01 .. 2026-04, the last post on 2026-04-30 so April is
complete.
- Alpha: every month 8 posts without evidence need (authors c1..c8); `long_term` 2 posts a month (a1, a2) in
  January to March, then 12 in April (a1..a4 three each, every other one negative). Alpha has 10 posts a month
  in January to March and 20 in April.
- Beta: 5 posts a month (b2) without evidence need; `dosing` 2 posts in April (b1): too few for growth.
- In April c1..c8 mention a4 (8 inbound) and a1 replies to a2 (1 inbound): a4 is the one opinion leader.
- One post names a product and carries text built to break CSV and HTML; its author id starts with `@`.
Followers: a1 100, a2 200, a3 unknown, a4 1000, b1 50.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.errors import SettingsError
from common.settings import ReportSettings, from_mapping
from inference.insights.gaps import (ReportError, guarded_growth, load_posts, needed_columns,
                                open_scored_run, pick_examples, read_post_fields, wilson_lower)
from inference.scoring.outputs import scored_schema
from inference.insights.report import build_report
from models.tasks import specs_from_taxonomy_dict

ROOT = Path(__file__).resolve().parents[2]

TAXONOMY = {
    "version": "report-test-1",
    "tasks": [
        {"name": "sentiment", "kind": "single", "description": "Attitude.", "labels": [
            {"name": "negative", "description": "Bad."}, {"name": "neutral", "description": "Meh."},
            {"name": "positive", "description": "Good."}]},
        {"name": "perception", "kind": "multi", "description": "Aspects.", "labels": [
            {"name": "efficacy", "description": "Works."}, {"name": "safety", "description": "Side effects."}]},
        {"name": "evidence_need", "kind": "multi", "description": "Missing evidence.", "labels": [
            {"name": "long_term", "description": "Long-term data are lacking."},
            {"name": "dosing", "description": "Dosing is unclear."}]},
        {"name": "adverse_event", "kind": "binary", "positive": "yes", "description": "AE.", "labels": [
            {"name": "no", "description": "No."}, {"name": "yes", "description": "Yes."}]},
    ],
}
FOLLOWERS = {"a1": 100, "a2": 200, "a3": None, "a4": 1000, "b1": 50, "b2": 10}
SPECIALTY = {"a1": "cardiology", "a2": "oncology", "a3": "cardiology", "a4": "oncology", "b1": "nephrology"}
EVIL_PRODUCT = '=HYPERLINK("http://evil.example")<b>'
EVIL_TEXT = "<script>alert('x')</script> long-term data? </script><img src=x onerror=alert(1)>"
EVIL_AUTHOR = "@evil"


def post(pid: str, day: str, author: str | None, products: Sequence[str] = ("Alpha",), evidence: Sequence[str] = (),
         sentiment: str = "neutral", perception: Sequence[str] = ("efficacy",), confidence: float = 0.9,
         reply_to: str | None = None, mentions: Sequence[str] = (), text: str | None = None, ae: str = "no",
         hashtags: Sequence[str] = (), platform: str = "x", followers: Any = "default",
         specialties: dict[str, str] | None = None) -> dict[str, Any]:
    """One scored row in the layout of `occ score` (labels plus a score struct per task)."""
    ev_scores = {"long_term": 0.1, "dosing": 0.1}
    for label in evidence:
        ev_scores[label] = confidence
    return {
        "post_id": pid, "text": text or f"post {pid} about {' and '.join(products)}", "platform": platform,
        "author_id": author, "author_specialty": (specialties or SPECIALTY).get(author or ""),
        "author_followers": FOLLOWERS.get(author or "") if followers == "default" else followers,
        "created_at": datetime.fromisoformat(day).replace(tzinfo=timezone.utc), "hashtags": list(hashtags),
        "in_reply_to": reply_to, "mentions": list(mentions), "likes": 2, "shares": 1, "replies": 0,
        "products": list(products), "source_file": "dump.jsonl",
        "sentiment": sentiment, "sentiment_scores": {"negative": 0.2, "neutral": 0.6, "positive": 0.2},
        "perception": list(perception), "perception_scores": {"efficacy": 0.7, "safety": 0.2},
        "evidence_need": list(evidence), "evidence_need_scores": ev_scores,
        "adverse_event": ae, "adverse_event_scores": {"no": 0.9, "yes": 0.1} if ae == "no" else {"no": 0.1, "yes": 0.9},
        "model_name": "test-model", "model_version": "7", "model_run_id": "run-1",
        "scored_at": datetime(2026, 5, 1, tzinfo=timezone.utc),
    }


def known_rows() -> list[dict[str, Any]]:
    rows = []
    for month in (1, 2, 3, 4):
        for i in range(8):
            mentions = ["a4"] if month == 4 else []
            rows.append(post(f"m{month}-c{i}", f"2026-0{month}-{i + 2:02d}T10:00:00", f"c{i + 1}",
                             hashtags=["#T2D", "pharma"] if i % 2 else ["t2d"], mentions=mentions,
                             platform="x" if i < 6 else "linkedin"))
        for i in range(5):
            rows.append(post(f"m{month}-b{i}", f"2026-0{month}-{i + 10:02d}T10:00:00", "b2", products=("Beta",),
                             sentiment="positive", platform="reddit"))
        if month < 4:
            for i, author in enumerate(("a1", "a2")):
                rows.append(post(f"m{month}-lt{i}", f"2026-0{month}-{i + 20:02d}T10:00:00", author,
                                 evidence=("long_term",)))
    for i in range(12):
        author = ("a1", "a2", "a3", "a4")[i % 4]
        rows.append(post(f"apr-lt{i:02d}", f"2026-04-{i + 12:02d}T09:00:00", author, evidence=("long_term",),
                         sentiment="negative" if i % 2 == 0 else "neutral", confidence=round(0.5 + 0.03 * i, 2),
                         text=EVIL_TEXT if i == 11 else None, ae="yes" if i < 2 else "no",
                         perception=("safety",) if i < 6 else ("efficacy",)))
    rows.append(post("apr-reply", "2026-04-25T09:00:00", "a1", products=(), reply_to="apr-lt01"))
    for i in range(2):
        rows.append(post(f"apr-beta-d{i}", f"2026-04-2{i + 6}T09:00:00", "b1", products=("Beta",), evidence=("dosing",)))
    rows.append(post("apr-evil", "2026-04-30T23:00:00", EVIL_AUTHOR, products=(EVIL_PRODUCT,), evidence=("dosing",),
                     text=EVIL_TEXT, hashtags=["=cmd|' /C calc'!A0"]))
    return rows


def write_scored(directory: Path, rows: list[dict[str, Any]], taxonomy: dict[str, Any] = TAXONOMY,
                 manifest: bool = True, drop_columns: Sequence[str] = ()) -> Path:
    """Write `rows` as `occ score` would: scores/part-000000.parquet and (unless told not to) _manifest.json."""
    schema = scored_schema(specs_from_taxonomy_dict(taxonomy))
    table = pa.Table.from_pylist(rows, schema=schema)
    for name in drop_columns:
        table = table.drop_columns([name])
    (directory / "scores").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / "scores" / "part-000000.parquet")
    if manifest:
        (directory / "_manifest.json").write_text(json.dumps({
            "complete": True,
            "inputs": [{"path": "dump.jsonl", "sha256": "0" * 64, "bytes": 1234}],
            "model": {"requested_uri": "models:/m@champion", "uri": "models:/m/7", "name": "test-model",
                      "version": "7", "run_id": "run-1", "kind": "baseline", "taxonomy_version": taxonomy["version"]},
            "taxonomy": taxonomy, "thresholds": {},
            "counts": {"rows_read": len(rows) + 3, "rows_scored": len(rows), "rows_quarantined": 2,
                       "duplicates_dropped": 1, "reconciled": True, "adverse_events_flagged": 2},
            "parts": ["part-000000.parquet"], "finished_at": "2026-05-01T00:00:00+00:00",
        }), encoding="utf-8")
    return directory


# ---- fixtures ----------------------------------------------------------------------------------------------------

def config(**overrides: Any) -> ReportSettings:
    """Equal weights (score = mean of the parts), one DOL with >= 2 inbound, baseline of 3 months."""
    values: dict[str, Any] = {"weights": {p: 1.0 for p in ("volume", "authors", "reach", "dol_share", "growth", "negativity")},
                              "dol_top_k": 1, "dol_min_inbound": 2, "min_posts": 10, "growth_baseline_periods": 3}
    values.update(overrides)
    return from_mapping(ReportSettings, values, "test", "report")


@pytest.fixture(scope="module")
def known_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("known")
    scored = write_scored(home / "scored", known_rows())
    summary = build_report(scored, home / "report", config())
    gaps = pd.read_parquet(home / "report" / "gaps.parquet")
    return {"home": home, "scored": scored, "out": home / "report", "summary": summary, "gaps": gaps}


def aggregate(scored: Path, cfg: ReportSettings) -> tuple[pd.DataFrame, Any]:
    """The gap table and ranked period without rendering (the parts of build_report these tests need)."""
    from inference.insights.gaps import choose_rank_period, gap_table, select_products
    from inference.insights.network import analyze_leaders

    frames = load_posts(open_scored_run(scored), cfg)
    products, _ = select_products(frames, None)
    period, notes = choose_rank_period(frames, cfg)
    leaders = analyze_leaders(frames.posts, frames.mentions, frames.products, frames.evidence, [], [],
                              cfg.dol_top_k, cfg.dol_min_inbound, cfg.leaders_per_scope, cfg.network_nodes)
    return gap_table(frames, cfg, products, leaders.dols, period), (period, notes)


def gap(gaps: pd.DataFrame, product: str, topic: str, period: str) -> pd.Series:
    rows = gaps[(gaps["product"] == product) & (gaps["topic"] == topic) & (gaps["period"] == period)]
    assert len(rows) == 1, f"expected one row for {product}/{topic}/{period}, found {len(rows)}"
    return rows.iloc[0]


# ---- the aggregation, with known answers ---------------------------------------------------------------------------

def test_gap_counts_reach_and_shares(known_report: dict[str, Any]) -> None:
    row = gap(known_report["gaps"], "Alpha", "long_term", "2026-04")
    assert row["posts"] == 12
    assert row["authors"] == 4
    assert row["specialties"] == 2
    assert row["follower_reach"] == 1300          # a1 100 + a2 200 + a4 1000 (a3 unknown), each author once
    assert row["engagement"] == 36                # 12 posts x (2 likes + 1 share + 0 replies)
    assert row["reach"] == 1336
    assert row["product_posts"] == 20
    assert row["topic_share"] == pytest.approx(12 / 20)
    assert row["negative_share"] == pytest.approx(0.5)
    assert row["dol_posts"] == 3 and row["dol_share"] == pytest.approx(0.25)   # a4 wrote 3 of the 12
    assert row["posts_prev"] == 2 and row["baseline_posts"] == 6 and row["baseline_periods"] == 3
    assert row["baseline_product_posts"] == 30


def test_growth_is_a_guarded_lower_bound(known_report: dict[str, Any]) -> None:
    row = gap(known_report["gaps"], "Alpha", "long_term", "2026-04")
    # 12 of 18 posts fall in April: Wilson lower bound (z = 1.645) of 12/18 is 0.47308 (worked by hand),
    # odds 0.89782, times the exposure ratio 30 / 20 -> 1.3467; the point estimate is (12.5/20) / (6.5/30).
    assert row["growth"] == pytest.approx(1.3467, abs=2e-3)
    assert row["growth_point"] == pytest.approx((12.5 / 20) / (6.5 / 30))
    assert not row["growth_guarded"]
    assert 1.0 < row["growth"] < row["growth_point"]
    tiny = gap(known_report["gaps"], "Beta", "dosing", "2026-04")     # 2 posts after none: no evidence of a trend
    assert tiny["posts"] == 2 and tiny["growth_guarded"] and tiny["growth"] == 1.0 and tiny["part_growth"] == 0.0
    first = gap(known_report["gaps"], "Alpha", "long_term", "2026-01")  # no baseline at all
    assert first["growth_guarded"] and first["growth"] == 1.0 and first["baseline_periods"] == 0


def test_score_parts_and_score(known_report: dict[str, Any]) -> None:
    gaps = known_report["gaps"]
    top = gap(gaps, "Alpha", "long_term", "2026-04")
    assert (top["part_volume"], top["part_authors"], top["part_reach"]) == (1.0, 1.0, 1.0)  # the largest gap
    assert top["part_dol_share"] == pytest.approx(0.25)
    assert top["part_negativity"] == pytest.approx(0.5)
    assert top["part_growth"] == pytest.approx(math.log(top["growth"]) / math.log(4.0))
    parts = [1.0, 1.0, 1.0, 0.25, top["part_growth"], 0.5]
    assert top["score"] == pytest.approx(sum(parts) / 6)
    beta = gap(gaps, "Beta", "dosing", "2026-04")
    assert beta["part_volume"] == pytest.approx(math.log(3) / math.log(13))
    assert beta["part_authors"] == pytest.approx(math.log(2) / math.log(5))
    assert beta["part_reach"] == pytest.approx(math.log(1 + 56) / math.log(1 + 1336))   # 50 followers + 6
    assert top["rank"] == 1 and top["is_rank_period"]
    assert not gap(gaps, "Alpha", "long_term", "2026-03")["is_rank_period"]


def test_weights_change_the_score(known_report: dict[str, Any]) -> None:
    growth_only = config(weights={"volume": 0, "authors": 0, "reach": 0, "dol_share": 0, "growth": 1, "negativity": 0})
    gaps, _ = aggregate(known_report["scored"], growth_only)
    row = gap(gaps, "Alpha", "long_term", "2026-04")
    assert row["score"] == pytest.approx(row["part_growth"])
    volume_heavy = config(weights={"volume": 3, "growth": 1, "authors": 0, "reach": 0, "dol_share": 0, "negativity": 0})
    row = gap(aggregate(known_report["scored"], volume_heavy)[0], "Alpha", "long_term", "2026-04")
    assert row["score"] == pytest.approx(0.75 * row["part_volume"] + 0.25 * row["part_growth"])  # weights normalized


def test_summary_ranks_the_latest_complete_month_with_diverse_examples(known_report: dict[str, Any]) -> None:
    summary = known_report["summary"]
    assert summary["rank_period"] == "2026-04"
    first = summary["top_gaps"][0]
    assert (first["product"], first["topic"], first["rank"]) == ("Alpha", "long_term", 1)
    # highest confidence first, one post per author: a4 (0.83), a3 (0.80), a2 (0.77), a1 (0.74)
    assert first["examples"] == ["apr-lt11", "apr-lt10", "apr-lt09", "apr-lt08"]
    assert [g["posts"] for g in summary["top_gaps"]] == sorted((g["posts"] for g in summary["top_gaps"]), reverse=True)
    assert all(g["posts"] > 0 for g in summary["top_gaps"])
    assert summary["dols"] == ["a4"]
    # c1..c8, a3 and the odd author have no follower count: said, not hidden
    assert summary["notes"] == ["follower counts are missing for 36 of 74 posts (49%): reach counts followers only "
                                "where known", "this run has no authors.parquet (scored before author typing): every "
                                "author counts as a clinician voice"], summary["notes"]
    assert summary["model"]["version"] == "7" and summary["scoring_counts"]["rows_quarantined"] == 2


def test_pick_examples_prefers_confidence_and_distinct_authors() -> None:
    frame = pd.DataFrame({
        "product": ["P"] * 5, "topic": ["t"] * 5, "period": ["2026-01"] * 5,
        "post_id": ["x1", "x2", "x3", "x4", "x5"], "author_id": ["u1", "u1", "u2", None, None],
        "confidence": [0.9, 0.95, 0.5, 0.7, 0.6], "engagement": [0, 0, 0, 0, 0]})
    picked = pick_examples(frame, 3)
    assert picked["post_id"].tolist() == ["x2", "x4", "x5"]   # u1's best only; unknown authors count separately
    assert pick_examples(frame, 0).empty


def test_wilson_and_growth_guard_by_hand() -> None:
    assert wilson_lower(np.array([5]), np.array([5]), 1.645)[0] == pytest.approx(5 / (5 + 1.645 ** 2))
    assert wilson_lower(np.array([0]), np.array([0]), 1.645)[0] == 0.0
    lower, point, guarded = guarded_growth(np.array([40, 3, 0]), np.array([100, 100, 0]), np.array([10, 1, 5]),
                                           np.array([100, 100, 100]), 1.645, 10)
    assert lower[0] > 2.0 and point[0] == pytest.approx(40.5 / 10.5)
    assert guarded.tolist() == [False, True, True] and lower[1] == 1.0 and lower[2] == 1.0


def test_only_needed_columns_are_read_and_text_only_for_chosen_posts(known_report: dict[str, Any]) -> None:
    run = open_scored_run(known_report["scored"])
    columns = needed_columns(run, config())
    assert "text" not in columns and not any(c.endswith("_scores") for c in columns)
    assert {"evidence_need", "sentiment", "products", "author_followers"} <= set(columns)
    texts = read_post_fields(run, ["apr-lt00", "apr-evil"], ["text"])
    assert sorted(texts["post_id"]) == ["apr-evil", "apr-lt00"]


def test_leaders_graph_and_listener_views(known_report: dict[str, Any]) -> None:
    with open(known_report["out"] / "leaders.csv", encoding="utf-8", newline="") as handle:
        leaders = list(csv.DictReader(handle))
    overall = [r for r in leaders if r["scope"] == "all"]
    assert overall[0]["author_id"] == "a4" and overall[0]["inbound"] == "8" and overall[0]["is_dol"] == "true"
    assert {r["scope"] for r in leaders} >= {"all", "product:Alpha", "topic:long_term"}
    html = (known_report["out"] / "report.html").read_text(encoding="utf-8")
    assert "#t2d" in html                                   # hashtags are lower-cased and counted per product
    assert "reddit" in html and "linkedin" in html          # platform share figure


# ---- output safety -------------------------------------------------------------------------------------------------

def test_csv_cells_are_guarded_against_formulas(known_report: dict[str, Any]) -> None:
    with open(known_report["out"] / "gaps.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    products = {r["product"] for r in rows}
    assert "'" + EVIL_PRODUCT in products and EVIL_PRODUCT not in products
    with open(known_report["out"] / "leaders.csv", encoding="utf-8", newline="") as handle:
        authors = {r["author_id"] for r in csv.DictReader(handle)}
    assert "'" + EVIL_AUTHOR in authors and EVIL_AUTHOR not in authors
    numbers = [float(r["score"]) for r in rows]               # numbers stay numbers
    assert all(0.0 <= n <= 1.0 for n in numbers)


def test_html_escapes_every_value(known_report: dict[str, Any]) -> None:
    html = (known_report["out"] / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html and EVIL_PRODUCT not in html
    assert "=HYPERLINK(&#34;http://evil.example&#34;)&lt;b&gt;" in html     # the product name in the gap table
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html        # the example post, escaped
    # inside figure JSON: entity-escaped for plotly.js (which renders <b>, <a href>), then JSON-escaped for HTML
    assert "\\u0026lt;b\\u0026gt;" in html and "\\u003cb\\u003e" not in html
    import plotly.offline

    ours = html.replace(plotly.offline.get_plotlyjs(), "")                   # everything but the inlined library
    assert "http://" not in ours.replace("http://evil.example", "") and "https://" not in ours  # nothing to fetch
    assert html.count("<script") == html.count("</script>")


# ---- bad input -----------------------------------------------------------------------------------------------------

def test_missing_manifest_is_not_a_complete_run(tmp_path: Path) -> None:
    scored = write_scored(tmp_path / "scored", known_rows(), manifest=False)
    with pytest.raises(ReportError, match="not a complete scoring run.*_manifest.json"):
        build_report(scored, tmp_path / "out", config())
    assert not (tmp_path / "out").exists()
    with pytest.raises(ReportError, match="does not exist"):
        build_report(tmp_path / "nowhere", tmp_path / "out", config())


def test_other_taxonomy_still_builds_and_says_what_is_missing(tmp_path: Path) -> None:
    from helpers import TAXONOMY as OTHER

    rows = []
    for i in range(6):
        rows.append({"post_id": f"o{i}", "text": f"other {i}", "author_id": f"u{i % 2}", "products": ["Alpha"],
                     "created_at": datetime(2026, 1, 1 + i, tzinfo=timezone.utc), "urgency": "low",
                     "urgency_scores": {"low": 0.8, "high": 0.2}, "topics": ["cost"],
                     "topics_scores": {"cost": 0.9, "dosing": 0.1, "safety": 0.1}, "flag": "no",
                     "flag_scores": {"no": 0.9, "yes": 0.1}})
    scored = write_scored(tmp_path / "scored", rows, taxonomy=OTHER)
    summary = build_report(scored, tmp_path / "out", config())
    notes = " | ".join(summary["notes"])
    assert "evidence_need" in notes and "gap table cannot be computed" in notes
    assert "sentiment" in notes and "adverse_event" in notes and "perception" in notes
    gaps = pd.read_parquet(tmp_path / "out" / "gaps.parquet")
    assert gaps.empty and "score" in gaps.columns and "part_growth" in gaps.columns
    assert summary["top_gaps"] == []
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "What this report could not compute" in html and "evidence_need" in html


def test_empty_period_and_unknown_product(tmp_path: Path) -> None:
    rows = [r for r in known_rows() if not r["created_at"].strftime("%Y-%m") == "2026-02"]
    scored = write_scored(tmp_path / "scored", rows)
    summary = build_report(scored, tmp_path / "out", config(), products=["alpha", "Gamma"])
    gaps = pd.read_parquet(tmp_path / "out" / "gaps.parquet")
    feb = gap(gaps, "Alpha", "long_term", "2026-02")
    assert feb["posts"] == 0 and feb["product_posts"] == 0 and feb["score"] == 0.0
    assert gap(gaps, "Alpha", "long_term", "2026-04")["baseline_posts"] == 4      # January and March
    assert set(gaps["product"]) == {"Alpha", "Gamma"}                                # Beta filtered out
    assert (gaps.loc[gaps["product"] == "Gamma", "posts"] == 0).all()
    assert any("'Gamma' has no posts" in n for n in summary["notes"])
    assert summary["top_gaps"][0]["product"] == "Alpha"


def test_missing_followers_and_columns(tmp_path: Path) -> None:
    rows = known_rows()
    for row in rows:
        row["author_followers"] = None
    scored = write_scored(tmp_path / "scored", rows, drop_columns=["likes", "evidence_need_scores"])
    summary = build_report(scored, tmp_path / "out", config())
    notes = " | ".join(summary["notes"])
    assert "follower counts are missing for every post" in notes
    assert "likes" in notes and "evidence_need_scores" in notes
    row = gap(pd.read_parquet(tmp_path / "out" / "gaps.parquet"), "Alpha", "long_term", "2026-04")
    assert np.isnan(row["follower_reach"]) and row["reach"] == 12          # 12 posts x 1 share, no likes column
    assert row["posts"] == 12


def test_incomplete_last_month_ranks_the_month_before(tmp_path: Path) -> None:
    rows = [r for r in known_rows() if r["created_at"] < datetime(2026, 4, 20, tzinfo=timezone.utc)]
    scored = write_scored(tmp_path / "scored", rows)
    gaps, (period, notes) = aggregate(scored, config())
    assert str(period) == "2026-03" and any("2026-04 is incomplete" in n for n in notes)
    assert gaps.loc[gaps["is_rank_period"], "period"].unique().tolist() == ["2026-03"]
    by_quarter, (period, _) = aggregate(scored, config(period="quarter", rank_period="2026Q1"))
    assert str(period) == "2026Q1" and set(by_quarter["period"]) == {"2026Q1", "2026Q2"}
    alpha = gap(by_quarter, "Alpha", "long_term", "2026Q1")
    assert alpha["posts"] == 6 and alpha["product_posts"] == 30
    with pytest.raises(ReportError, match="outside the data"):
        aggregate(scored, config(rank_period="2027-01"))


def test_empty_scored_directory(tmp_path: Path) -> None:
    summary = build_report(write_scored(tmp_path / "scored", []), tmp_path / "out", config())
    assert summary["posts"] == 0 and summary["top_gaps"] == []
    assert "no scored posts" in summary["notes"][0]
    assert (tmp_path / "out" / "report.html").is_file()


def test_config_refuses_bad_values() -> None:
    with pytest.raises(SettingsError, match="unknown setting `report.weights.virality`"):
        config(weights={"virality": 1.0})
    with pytest.raises(SettingsError, match="period"):
        config(period="week")
    with pytest.raises(SettingsError, match="unknown setting `report.top_gap`"):
        config(top_gap=3)
    with pytest.raises(SettingsError, match="non-negative"):
        config(weights={"growth": -1})


def test_params_yaml_report_section_is_valid() -> None:
    from common.settings import load_settings

    cfg = load_settings(ROOT / "params.yaml").report
    assert cfg.examples_per_gap == 5 and cfg.top_gaps == 20 and cfg.period == "month"
    assert sum(cfg.weights.normalized().values()) == pytest.approx(1.0)


# ---- the command -----------------------------------------------------------------------------------------------------

def test_cli_report_and_its_errors(known_report: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from inference.cli import app

    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["report", str(known_report["scored"]), "--out", str(out), "--json",
                                 "--products", "Alpha,Beta", "--params", str(ROOT / "params.yaml")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["rank_period"] == "2026-04" and summary["products"] == ["Alpha", "Beta"]
    assert {p.name for p in out.iterdir()} >= {"report.html", "gaps.parquet", "gaps.csv", "leaders.csv",
                                               "report_summary.json"}
    bad = write_scored(tmp_path / "partial", known_rows()[:3], manifest=False)
    result = runner.invoke(app, ["report", str(bad), "--out", str(tmp_path / "x"), "--params", str(ROOT / "params.yaml")])
    assert result.exit_code == 2 and "not a complete scoring run" in result.output
    result = runner.invoke(app, ["report", str(known_report["scored"]), "--out", str(tmp_path / "y"),
                                 "--period", "week", "--params", str(ROOT / "params.yaml")])
    assert result.exit_code == 2 and "report.period" in result.output


# ---- who is speaking: author types, persons, the clinician filter ---------------------------------------------

def write_authors(scored: Path, types: dict[str, str], persons: dict[str, str] | None = None) -> None:
    """authors.parquet as the author pass writes it: every author of the known rows, clinicians unless told."""
    from labeling.authors.resolve import AUTHORS_FILE, AUTHORS_SCHEMA

    counts = pd.Series([r["author_id"] for r in known_rows() if r["author_id"]]).value_counts()
    rows = []
    for author, n in sorted(counts.items()):
        kind = types.get(author, "physician")
        clinician = kind in ("physician", "other_clinician")
        rows.append({"author_id": author, "person_id": (persons or {}).get(author, f"p_{author}"), "author_type": kind,
                     "type_confidence": 0.9, "type_evidence": "test", "specialty": SPECIALTY.get(author) if clinician else None,
                     "specialty_confidence": 0.9 if clinician else 0.0, "specialty_evidence": "", "is_clinician": clinician,
                     "platforms": ["x"], "posts": int(n)})
    pq.write_table(pa.Table.from_pylist(rows, schema=AUTHORS_SCHEMA), scored / AUTHORS_FILE)


@pytest.fixture(scope="module")
def typed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """a3 and a4 (the opinion leader) are patients, b1 an industry account; c1 and c2 are one person."""
    scored = write_scored(tmp_path_factory.mktemp("typed") / "scored", known_rows())
    write_authors(scored, {"a3": "patient_caregiver", "a4": "patient_caregiver", "b1": "industry"},
                  {"c1": "p_c", "c2": "p_c"})
    return scored


def test_clinician_voices_only_by_default(typed_run: Path, tmp_path: Path) -> None:
    summary = build_report(typed_run, tmp_path / "report", config())
    first = summary["top_gaps"][0]
    assert (first["product"], first["topic"]) == ("Alpha", "long_term")
    assert first["posts"] == 6 and first["authors"] == 2  # a1 and a2 only: a3's and a4's April posts left out
    assert summary["dols"] == []  # a4 was the one leader, and is a patient
    assert all(g["product"] != "Beta" for g in summary["top_gaps"])  # b1's dosing posts were the Beta gap
    speakers = summary["speakers"]
    assert speakers["voices"] == "clinicians" and speakers["persons"] == speakers["accounts"] - 1
    assert speakers["posts_by_type"] == {"industry": 2, "patient_caregiver": 6, "physician": 66}
    assert speakers["posts_left_out"] == 8 and speakers["non_clinician_share"] == round(8 / 74, 4)
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert "clinician voices only" in html and "11%</strong> of the posts came from non-clinicians" in html
    gaps = pd.read_parquet(tmp_path / "report" / "gaps.parquet")
    april = gaps[(gaps["product"] == "Alpha") & (gaps["topic"] == "long_term") & (gaps["period"] == "2026-04")].iloc[0]
    assert april["specialty_mix"] == "cardiology 50%, oncology 50%"


def test_all_voices_and_persons_counted_once(typed_run: Path, tmp_path: Path, known_report: dict[str, Any]) -> None:
    summary = build_report(typed_run, tmp_path / "report", config(), voices="all")
    first = summary["top_gaps"][0]
    assert first["posts"] == 12 and first["authors"] == 4 and summary["dols"] == ["a4"]
    assert summary["speakers"]["voices"] == "all" and summary["speakers"]["posts_left_out"] == 0
    assert summary["authors"] == known_report["summary"]["authors"] - 1  # c1 and c2 are one person
    leaders = pd.read_csv(tmp_path / "report" / "leaders.csv")
    assert "c2" not in set(leaders["author_id"])  # the person shows under its main account (c1: same posts, smaller id)
