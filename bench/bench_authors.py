"""Who is speaking, measured on the demo's ground truth: author types, specialties, cross-platform links, and
how much the evidence-gap ranking moves once non-clinicians are left out.

    python bench/bench_authors.py [--posts 20000] [--seed 2027] [--scored data/scored] [--workdir DIR]

1. A demo dump (`occ demo-data`, whose authors.csv holds each author's true type, specialty and person) is
   ingested and the author pass runs on it (rules only). Figures: author-type macro-F1 and per-type F1,
   specialty accuracy over true clinicians, precision / recall of account links (pairs given one person).
2. The own-labels path: half of the authors (seeded, stratified by type) are "labeled", `occ authors
   training-file` + `occ train --taxonomy labeling/authors/taxonomy.yaml` fit and register an author-type model
   in a throwaway MLflow store, and the author pass asks it about the authors the rules are unsure of. Both
   variants are scored on the *other* half (named baseline: rules only, same authors).
3. With `--scored` (a scored run with authors.parquet, e.g. `make demo`'s data/scored): the report's ranking of
   the rank period with every voice against clinicians only; gaps whose rank moves by more than five places.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.settings import load_settings  # noqa: E402
from labeling.authors.evaluate import evaluate_authors  # noqa: E402
from labeling.authors.resolve import read_profiles, resolve_authors  # noqa: E402


def occ(*args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    """The CLI as a user runs it, in the work folder (MLflow's artifact folder lands there, not in the repo)."""
    subprocess.run([str(Path(sys.executable).with_name("occ")), *args], cwd=cwd, check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def truth_table(raw: Path) -> pd.DataFrame:
    return pd.read_csv(raw / "authors.csv", dtype=str, keep_default_na=False).replace({"": None})


def show(title: str, figures: dict) -> None:
    print(f"\n{title}")
    for key in ("authors", "type_macro_f1", "type_accuracy", "clinician_precision", "clinician_recall",
                "specialty_accuracy", "specialty_coverage", "link_pairs_predicted", "link_pairs_true",
                "link_precision", "link_recall"):
        if key in figures:
            print(f"  {key:22s} {figures[key]}")
    if "type_f1_by_type" in figures:
        print("  F1 by type:          " + ", ".join(f"{k} {v:.3f}" for k, v in figures["type_f1_by_type"].items()))


def rank_moves(scored: Path, work: Path) -> None:
    from inference.insights.report import build_report

    settings = load_settings(ROOT / "params.yaml")
    ranks = {}
    for voices in ("all", "clinicians"):
        summary = build_report(scored, work / f"report_{voices}", settings.report, None, settings.safety.task,
                               voices=voices)
        gaps = pd.read_parquet(work / f"report_{voices}" / "gaps.parquet")
        now = gaps[gaps["is_rank_period"]]
        ranks[voices] = now.set_index(["product", "topic"])["rank"]
        if voices == "clinicians":
            speakers = summary["speakers"]
    both = pd.concat(ranks, axis=1).dropna()
    moved = both[(both["all"] - both["clinicians"]).abs() > 5]
    top = both[both["all"] <= 10]
    print(f"\nRanking of {len(both)} gaps in the rank period, every voice vs clinicians only "
          f"({speakers['non_clinician_share']:.1%} of posts from non-clinicians, {speakers['posts_left_out']} left out):")
    print(f"  gaps moving more than 5 places: {len(moved)} of {len(both)}; of the top 10 (all voices) "
          f"{int(((top['all'] - top['clinicians']).abs() > 5).sum())} move > 5, "
          f"{int((top['clinicians'] > 10).sum())} leave the top 10")
    for (product, topic), row in moved.sort_values("all").head(10).iterrows():
        print(f"    {product} / {topic}: rank {int(row['all'])} with everyone -> {int(row['clinicians'])} clinicians only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--scored", type=Path, default=None, help="a scored run with authors.parquet (rank moves)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_authors_"))
    work.mkdir(parents=True, exist_ok=True)
    raw, ingested = work / "raw", work / "ingested"
    settings = load_settings(ROOT / "params.yaml").authors
    if not (raw / "authors.csv").is_file():
        occ("demo-data", "--out", str(raw), "--posts", str(args.posts), "--seed", str(args.seed), cwd=work)
    if not (ingested / "posts.parquet").is_file():
        occ("ingest", str(raw / "posts.jsonl"), "--out", str(ingested), "--products", str(raw / "products.yaml"),
            cwd=work)
    truth = truth_table(raw)
    profiles = read_profiles([ingested / "posts.parquet"], settings.texts_per_author)
    rules = resolve_authors(profiles, settings).authors.to_pandas()
    print(f"{args.posts} demo posts (seed {args.seed}), {len(profiles)} accounts; true types: "
          + ", ".join(f"{k} {v}" for k, v in truth["author_type"].value_counts().sort_index().items()))
    show("Rules only, every author:", evaluate_authors(rules, truth))

    # the own-labels path: half the authors labeled, the other half scored
    labeled = truth.groupby("author_type", group_keys=False).sample(frac=0.5, random_state=0)
    held_out = truth[~truth["author_id"].isin(labeled["author_id"])]
    labels_csv, docs_csv = work / "labeled_authors.csv", work / "author_docs.csv"
    labeled[["author_id", "author_type"]].to_csv(labels_csv, index=False)
    for stale in (work / "mlflow.db", work / "mlartifacts"):  # a rerun registers version 1 again
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    occ("authors", "training-file", str(ingested), "--labels", str(labels_csv), "--out", str(docs_csv), cwd=work,
        env=env)
    occ("train", "--model", "baseline", "--labels", str(docs_csv), "--taxonomy",
        str(ROOT / "labeling" / "authors" / "taxonomy.yaml"), "--registered-model", "bench-author-types", cwd=work,
        env=env)
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    from inference.scoring.authors import type_model_from_uri

    model = type_model_from_uri("models:/bench-author-types/1")
    with_model = resolve_authors(profiles, settings, type_model=model).authors.to_pandas()
    show(f"Rules only, {len(held_out)} held-out authors (baseline):", evaluate_authors(rules, held_out))
    show(f"Rules + author-type model trained on {len(labeled)} labeled authors, same held-out authors:",
         evaluate_authors(with_model, held_out))
    every = evaluate_authors(with_model, truth)
    print(f"  links over every account with the model's types: precision {every['link_precision']}, recall "
          f"{every['link_recall']} ({every['link_pairs_predicted']} predicted pairs, {every['link_pairs_true']} true)")
    if args.scored:
        rank_moves(args.scored, work)
    print(f"\nwork folder: {work}")


if __name__ == "__main__":
    main()
