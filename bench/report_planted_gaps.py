"""Does the gap ranking find the demo's planted rising gaps? Checked on TRUE labels, so no model is needed.

Generates the demo corpus (`labeling.demo.generator.generate_demo`), turns posts.jsonl + true_labels.csv into a scored
directory exactly as `occ score` lays it out (scores/part-*.parquet with the scored schema, _manifest.json),
runs the report's aggregation and prints the ten top-ranked gaps next to the planted ones (ground_truth.json).
Confidences are synthetic (true labels get 0.6..1.0, others 0..0.4) only so that example picking has an order.

    python bench/report_planted_gaps.py --posts 20000 [--as-of-all] [--html]

`--as-of-all` also ranks as of every month from the first planted rise to the end: how early each planted gap
enters the top ten. `--html` writes the full report (REPORT_DIR/report.html) too.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from common.atomic import write_json_atomic  # noqa: E402
from labeling.demo.generator import generate_demo  # noqa: E402
from common.settings import load_settings  # noqa: E402
from labeling.taxonomy import load_taxonomy  # noqa: E402
from inference.insights.gaps import (choose_rank_period, gap_table, load_posts, open_scored_run,  # noqa: E402
                                ranked_gaps, select_products)
from inference.insights.network import analyze_leaders  # noqa: E402
from inference.scoring.outputs import scored_schema  # noqa: E402
from models.tasks import specs_from_taxonomy_dict  # noqa: E402


def scored_from_truth(demo: Path, out: Path, seed: int = 0) -> int:
    """Write `out` as a scored directory whose predictions are the generator's true labels."""
    taxonomy = load_taxonomy().to_dict()
    specs = specs_from_taxonomy_dict(taxonomy)
    truth = {}
    with open(demo / "true_labels.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            truth[row["post_id"]] = row
    rng = random.Random(seed)
    rows = []
    scored_at = datetime.now(timezone.utc)
    with open(demo / "posts.jsonl", encoding="utf-8") as handle:
        for line in handle:
            post = json.loads(line)
            t = truth[post["post_id"]]
            post["created_at"] = datetime.fromisoformat(post["created_at"].replace("Z", "+00:00"))
            post["products"] = [p for p in t["products"].split("|") if p]
            post["source_file"] = "posts.jsonl"
            for spec in specs:
                value = t.get(spec.name, "")
                chosen = [v for v in value.split("|") if v] if spec.kind == "multi" else [value]
                post[spec.name] = chosen if spec.kind == "multi" else value
                post[f"{spec.name}_scores"] = {l: round(rng.uniform(0.6, 1.0) if l in chosen else rng.uniform(0.0, 0.4), 4)
                                               for l in spec.labels}
            post.update(model_name="true-labels", model_version="0", model_run_id=None, scored_at=scored_at)
            rows.append(post)
    schema = scored_schema(specs)
    (out / "scores").mkdir(parents=True, exist_ok=True)
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=schema), out / "scores" / "part-000000.parquet")
    write_json_atomic(out / "_manifest.json", {
        "complete": True,
        "inputs": [{"path": "posts.jsonl", "sha256": "", "bytes": (demo / "posts.jsonl").stat().st_size}],
        "model": {"requested_uri": "true-labels", "uri": "true-labels", "name": "true-labels", "version": "0",
                  "run_id": None, "kind": "truth", "taxonomy_version": taxonomy["version"]},
        "taxonomy": taxonomy, "thresholds": {},
        "counts": {"rows_read": len(rows), "rows_scored": len(rows), "rows_quarantined": 0, "duplicates_dropped": 0,
                   "reconciled": True, "adverse_events_flagged": None},
        "parts": ["part-000000.parquet"],
        "finished_at": scored_at.isoformat(),
    })
    return len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--work", type=Path, default=None, help="folder to keep the demo and scored data in")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--as-of-all", action="store_true", help="also rank as of each month since the first rise")
    parser.add_argument("--html", action="store_true", help="also write the full HTML report")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    work = args.work or Path(tempfile.mkdtemp(prefix="report-bench-"))
    demo, scored = work / "demo", work / "scored"
    t0 = time.monotonic()
    if not (demo / "ground_truth.json").is_file():
        generate_demo(demo, args.posts, args.seed)
    if not (scored / "_manifest.json").is_file():
        scored_from_truth(demo, scored)
    t1 = time.monotonic()
    settings = load_settings(args.params)
    config = settings.report
    ground = json.loads((demo / "ground_truth.json").read_text(encoding="utf-8"))
    planted = [(g["product"], g["evidence_need"]) for g in ground["planted_gaps"]]
    decoys = [(d["product"], d["evidence_need"]) for d in ground.get("decoys", [])]

    run = open_scored_run(scored, settings.safety.task)
    frames = load_posts(run, config)
    products, _ = select_products(frames, None)
    leaders = analyze_leaders(frames.posts, frames.mentions, frames.products, frames.evidence, [], [],
                              config.dol_top_k, config.dol_min_inbound, config.leaders_per_scope, config.network_nodes)
    rank_period, _ = choose_rank_period(frames, config)
    gaps = gap_table(frames, config, products, leaders.dols, rank_period)
    top = ranked_gaps(gaps, 10)
    t2 = time.monotonic()
    print(f"{len(frames.posts)} posts, {len(products)} products, {len(gaps)} gap rows; ranked period {rank_period}; "
          f"{len(leaders.dols)} DOLs ({len(set(leaders.dols) & set(ground['counts']['opinion_leaders']))} of "
          f"{len(ground['counts']['opinion_leaders'])} planted opinion leaders among them)")
    print(f"weights {config.weights.normalized()}; growth baseline {config.growth_baseline_periods} period(s), "
          f"min_posts {config.min_posts}, cap x{config.growth_cap}")
    print(f"\nTop ten gaps for {rank_period}:")
    print(f"{'#':>2} {'product':<10} {'topic':<26} {'posts':>5} {'prev':>5} {'base':>5} {'growth':>6} "
          f"{'vol':>5} {'auth':>5} {'reach':>5} {'dol':>5} {'grow':>5} {'neg':>5} {'score':>6}  planted?")
    for r in top.itertuples(index=False):
        mark = "PLANTED" if (r.product, r.topic) in planted else ("decoy" if (r.product, r.topic) in decoys else "")
        print(f"{r.rank:>2} {r.product:<10} {r.topic:<26} {r.posts:>5} {r.posts_prev:>5.0f} {r.baseline_posts:>5.0f} "
              f"{r.growth:>6.2f} {r.part_volume:>5.2f} {r.part_authors:>5.2f} {r.part_reach:>5.2f} "
              f"{r.part_dol_share:>5.2f} {r.part_growth:>5.2f} {r.part_negativity:>5.2f} {r.score:>6.3f}  {mark}")
    current = gaps[gaps["is_rank_period"]].set_index(["product", "topic"])
    print("\nPlanted rising gaps:")
    for product, topic in planted:
        r = current.loc[(product, topic)]
        print(f"  {product:<10} {topic:<26} rank {int(r['rank']):>2}  posts {int(r['posts'])}  growth x{r['growth']:.2f}  "
              f"score {r['score']:.3f}")
    hits = sum((r.product, r.topic) in planted for r in top.itertuples(index=False))
    print(f"\n{hits} of {len(planted)} planted rising gaps are in the top ten "
          f"(data {t1 - t0:.1f}s, aggregation {t2 - t1:.1f}s)")

    if args.as_of_all:
        print("\nAs of each month (rank of each planted gap; top ten = found):")
        first_rise = min(g["rise_start"] for g in ground["planted_gaps"])[:7]
        months = [m for m in ground["period"]["months"] if m >= first_rise]
        print("  " + " ".join(f"{m:>8}" for m in months))
        for product, topic in planted + decoys:
            ranks = []
            for month in months:  # every period is ranked among its own gaps, so one table answers each month
                row = gaps[(gaps["period"] == month) & (gaps["product"] == product) & (gaps["topic"] == topic)]
                ranks.append(int(row["rank"].iloc[0]))
            label = "decoy " if (product, topic) in decoys else ""
            print("  " + " ".join(f"{r:>8}" for r in ranks) + f"   {label}{product} {topic}")
    if args.html:
        from inference.insights.report import build_report

        summary = build_report(scored, work / "report", config, safety_task=settings.safety.task)
        print(f"\nHTML report: {work / 'report' / 'report.html'} ({summary['seconds']}s)")
    return 0 if hits == len(planted) else 1


if __name__ == "__main__":
    raise SystemExit(main())
