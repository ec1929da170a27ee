"""`occ score` (and `occ report`): thin wrappers over the inference library."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from labeling.cli import fail as _fail
from labeling.params import load_params, section

app = typer.Typer(no_args_is_help=True)
logger = logging.getLogger(__name__)

ParamsOption = Annotated[Optional[Path], typer.Option("--params", help="params.yaml to read (default: ./params.yaml).")]



@app.command("score")
def score_command(
    inputs: Annotated[list[Path], typer.Argument(help="Post dumps: .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (scores/, quarantine.parquet, _manifest.json).")],
    model: Annotated[Optional[str], typer.Option("--model", help="Model URI, resolved once to a version (default models:/<name>@champion).")] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Posts per forward pass.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="local | spark")] = "local",
    spark_master: Annotated[Optional[str], typer.Option("--spark-master", help="Spark master URL (default local[*]).")] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="default | fp32 | bf16 | int8 (transformer models).")] = None,
    mapping: Annotated[Optional[str], typer.Option("--mapping", help="Column mapping: YAML path or built-in name.")] = None,
    products: Annotated[Optional[Path], typer.Option("--products", help="Product dictionary (default: the one inside the model).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a stopped run in --out from its last completed chunk.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a summary as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Score post dumps with one pinned model version; resumable; local or on Spark."""
    from labeling.ingest import IngestConfig
    from labeling.mapping import MappingError, load_mapping
    from labeling.products import ProductDictionaryError, load_products
    from labeling.readers import InputError
    from models.artifact import ArtifactError
    from models.registry import ModelRefError
    from models.tracking import TrackingError, check_reachable, configure_tracking
    from inference.score import ScoreConfig, ScoreError

    params = load_params(params_file)
    settings = dict(section(params, "score"))
    if batch_size is not None:
        settings["batch_size"] = batch_size
    if precision is not None:
        settings["precision"] = precision
    name = section(params, "registry").get("model_name", "occ-insights")
    uri = model or f"models:/{name}@champion"
    try:
        config = ScoreConfig.from_dict(settings)
        ingest_config = IngestConfig.from_dict(section(params, "ingest"))
        column_mapping = load_mapping(mapping)
        dictionary = load_products(products) if products else None
        configure_tracking()
        check_reachable()
        if engine == "local":
            from inference.score import score

            manifest = score(inputs, out, uri, config, ingest_config, column_mapping, dictionary, resume=resume)
        elif engine == "spark" and resume:
            raise ScoreError("--resume works with the local engine only; rerun a stopped Spark job into a new --out")
        elif engine == "spark":
            from inference.spark_engine import score_spark

            manifest = score_spark(inputs, out, uri, config, ingest_config, column_mapping, dictionary,
                                   master=spark_master or "local[*]")
        else:
            raise ScoreError(f"unknown --engine {engine!r}; use local or spark")
    except (InputError, MappingError, ProductDictionaryError, ArtifactError, ModelRefError, TrackingError, ScoreError,
            ValueError) as exc:
        raise _fail(str(exc))
    counts, timings = manifest["counts"], manifest["timings"]
    typer.echo(f"{counts['rows_read']} rows read: {counts['rows_scored']} scored, {counts['rows_quarantined']} quarantined, "
               f"{counts['duplicates_dropped']} duplicates dropped "
               f"({'counts reconcile' if counts['reconciled'] else 'COUNTS DO NOT RECONCILE'}) with "
               f"{manifest['model']['uri']} in {timings['seconds']:.1f}s")
    if counts.get("adverse_events_flagged") is not None:
        typer.echo(f"{counts['adverse_events_flagged']} possible adverse events -> {out / 'adverse_events.csv'}")
    if as_json:
        typer.echo(json.dumps({**counts, "seconds": timings["seconds"], "posts_per_second": timings["posts_per_second"],
                               "model_name": manifest["model"]["name"], "model_version": manifest["model"]["version"],
                               "engine": engine, "out": str(out)}, sort_keys=True))
    if not counts["reconciled"]:
        raise typer.Exit(3)


@app.command("report")
def report_command(
    scored_dir: Annotated[Path, typer.Argument(help="The --out folder of a complete `occ score` run.")],
    out: Annotated[Path, typer.Option("--out", help="Report folder: report.html, gaps.parquet/.csv, leaders.csv, report_summary.json.")],
    period: Annotated[Optional[str], typer.Option("--period", help="month | quarter (default: report.period in params).")] = None,
    products: Annotated[Optional[list[str]], typer.Option("--products", help="Only these products (repeat the option or separate with commas).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report summary as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Rank evidence gaps per product (Phase IV priorities), find opinion leaders, write a self-contained HTML report."""
    from inference.insights import ReportConfig, ReportError
    from inference.report import build_report

    params = load_params(params_file)
    settings = dict(section(params, "report"))
    if period is not None:
        settings["period"] = period
    wanted = [p.strip() for value in (products or []) for p in value.split(",") if p.strip()] or None
    try:
        config = ReportConfig.from_dict(settings, section(params, "score").get("safety_task", "adverse_event"))
        summary = build_report(scored_dir, out, config, wanted)
    except (ReportError, ValueError) as exc:
        raise _fail(str(exc))
    typer.echo(f"{summary['posts']} posts, {len(summary['products'])} products, ranked period "
               f"{summary['rank_period'] or 'none'}: {len(summary['top_gaps'])} gaps ranked -> {out / 'report.html'}")
    for gap in summary["top_gaps"][:5]:
        typer.echo(f"  #{gap['rank']} {gap['product']} · {gap['topic']}: score {gap['score']:.3f} "
                   f"({gap['posts']} posts, growth x{gap['growth']:.2f})")
    for note in summary["notes"]:
        typer.echo(f"note: {note}")
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True, default=str))
