"""`occ score` (and `occ report`): thin wrappers over the inference library."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from common.cli import ParamsOption, user_errors
from common.settings import load_settings

app = typer.Typer(no_args_is_help=True)
logger = logging.getLogger(__name__)


@app.command("score")
def score_command(
    inputs: Annotated[list[Path], typer.Argument(help="Post dumps: .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (scores/, quarantine.parquet, _manifest.json).")],
    model: Annotated[Optional[str], typer.Option("--model", help="Model URI, resolved once to a version (default models:/<name>@champion).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Posts per forward pass.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="local | spark")] = "local",
    spark_master: Annotated[Optional[str], typer.Option("--spark-master", help="Spark master URL (default local[*]).")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="auto | fp32 | bf16 | int8 (transformer models; auto = bf16 where the CPU has it natively).")] = None,
    mapping: Annotated[Optional[str], typer.Option("--mapping", help="Column mapping: YAML path or built-in name.")] = None,
    products: Annotated[Optional[Path], typer.Option("--products", help="Product dictionary (default: the one inside the model).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a stopped run in --out from its last completed chunk.")] = False,
    suppress: Annotated[Optional[Path], typer.Option("--suppress", help="Suppression (opt-out) list, .txt or .csv: these authors' posts are dropped before scoring (overrides ingest.suppress_file).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Processes for the row pipeline (overrides ingest.workers; default one per CPU core; the output is the same for any number). A transformer or ensemble scores in a process of its own instead, while the main process judges the next chunk.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Score post dumps with one pinned model version; resumable; local or on Spark."""
    from labeling.ingest.mapping import load_mapping
    from labeling.ingest.products import load_products
    from models.tracking import check_reachable, configure_tracking
    from inference.scoring.run import ScoreError

    with user_errors():
        settings = load_settings(params_file)
        overrides = {k: v for k, v in (("batch_size", batch_size), ("precision", precision)) if v is not None}
        if overrides:
            settings = settings.replace("score", **overrides)
        if suppress is not None:
            settings = settings.replace("ingest", suppress_file=str(suppress))
        if workers is not None:
            settings = settings.replace("ingest", workers=workers)
        uri = model or f"models:/{settings.registry.model_name}@champion"
        column_mapping = load_mapping(mapping)
        dictionary = load_products(products) if products else None
        configure_tracking()
        check_reachable()
        if engine == "local":
            from inference.scoring.run import score

            manifest = score(inputs, out, uri, settings, mapping=column_mapping, products=dictionary, resume=resume)
        elif engine == "spark" and resume:
            raise ScoreError("--resume works with the local engine only; rerun a stopped Spark job into a new --out")
        elif engine == "spark":
            from inference.scoring.spark import score_spark

            manifest = score_spark(inputs, out, uri, settings, mapping=column_mapping, products=dictionary,
                                   master=spark_master or "local[*]")
        else:
            raise ScoreError(f"unknown --engine {engine!r}; use local or spark")
    counts, timings = manifest["counts"], manifest["timings"]
    typer.echo(f"{counts['rows_read']} rows read: {counts['rows_scored']} scored, {counts['rows_quarantined']} quarantined, "
               f"{counts['duplicates_dropped']} duplicates dropped, {counts.get('suppressed', 0)} suppressed "
               f"({'counts reconcile' if counts['reconciled'] else 'COUNTS DO NOT RECONCILE'}) with "
               f"{manifest['model']['uri']} in {timings['seconds']:.1f}s")
    if counts.get("adverse_events_flagged") is not None:
        typer.echo(f"{counts['adverse_events_flagged']} possible adverse events -> {out / 'adverse_events.csv'}")
    if as_json:
        typer.echo(json.dumps({**counts, "seconds": timings["seconds"], "posts_per_second": timings["posts_per_second"],
                               "model_name": manifest["model"]["name"], "model_version": manifest["model"]["version"],
                               "engine": engine, "out": str(out),
                               "model_processes": timings.get("model_processes")}, sort_keys=True))
    if not counts["reconciled"]:
        raise typer.Exit(3)


@app.command("report")
def report_command(
    scored_dir: Annotated[Path, typer.Argument(help="The --out folder of a complete `occ score` run.")],
    out: Annotated[Path, typer.Option("--out", help="Report folder: report.html, gaps.parquet/.csv, leaders.csv, report_summary.json.")],
    period: Annotated[Optional[str], typer.Option("--period", help="month | quarter (default: report.period in params).")] = None,
    products: Annotated[Optional[list[str]], typer.Option("--products", help="Only these products (repeat the option or separate with commas).")] = None,
    suppress: Annotated[Optional[Path], typer.Option("--suppress", help="Suppression (opt-out) list, .txt or .csv: leave these authors out of the report and scrub them from mentions (overrides ingest.suppress_file).")] = None,
    all_voices: Annotated[bool, typer.Option("--all-voices", help="Count patients', industry, media and unknown authors' posts too (default: report.voices, clinicians only).")] = False,
    engine: Annotated[str, typer.Option("--engine", help="local | spark (Spark scans the parts and resolves replies; same report).")] = "local",
    spark_master: Annotated[Optional[str], typer.Option("--spark-master", help="Spark master URL (default local[*]).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report summary as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Rank evidence gaps per product (Phase IV priorities), find opinion leaders, write a self-contained HTML report."""
    from inference.insights.gaps import ReportError
    from inference.insights.report import build_report
    from labeling.ingest.suppression import load_suppression

    wanted = [p.strip() for value in (products or []) for p in value.split(",") if p.strip()] or None
    with user_errors():
        settings = load_settings(params_file)
        if period is not None:
            settings = settings.replace("report", period=period)
        persons = scored_dir / "authors.parquet"  # the run's own person links: a person id reaches every account
        suppression = load_suppression(suppress if suppress is not None else settings.ingest.suppress_file,
                                       persons_file=persons if persons.is_file() else None)
        if engine not in ("local", "spark"):
            raise ReportError(f"unknown --engine {engine!r}; use local or spark")
        spark, owned = (None, False)
        if engine == "spark":
            from labeling.ingest.spark import start_spark

            spark, owned = start_spark(spark_master or "local[*]", "occ-report", ReportError)
        try:
            summary = build_report(scored_dir, out, settings.report, wanted, settings.safety.task,
                                   suppression=suppression, voices="all" if all_voices else None, spark=spark)
        finally:
            if owned and spark is not None:
                spark.stop()
    speakers = summary.get("speakers") or {}
    if speakers.get("typed"):
        typer.echo(f"voices: {speakers['voices']}; {speakers['accounts']} accounts = {speakers['persons']} persons; "
                   f"{speakers['non_clinician_share']:.0%} of posts from non-clinicians"
                   + (f" ({speakers['posts_left_out']} left out)" if speakers["posts_left_out"] else ""))
    typer.echo(f"{summary['posts']} posts, {len(summary['products'])} products, ranked period "
               f"{summary['rank_period'] or 'none'}: {len(summary['top_gaps'])} gaps ranked -> {out / 'report.html'}")
    for gap in summary["top_gaps"][:5]:
        typer.echo(f"  #{gap['rank']} {gap['product']} · {gap['topic']}: score {gap['score']:.3f} "
                   f"({gap['posts']} posts, growth x{gap['growth']:.2f})")
    for note in summary["notes"]:
        typer.echo(f"note: {note}")
    if summary.get("safety"):
        typer.echo(f"safety: {summary['safety']['sentence']}")
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True, default=str))
