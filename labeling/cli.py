"""`occ ingest`, `occ demo-data`, `occ taxonomy`: thin wrappers over the labeling library."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Optional

import typer

from common.cli import ParamsOption, fail, user_errors
from common.settings import load_settings

app = typer.Typer(no_args_is_help=True)
logger = logging.getLogger(__name__)


@app.command("ingest")
def ingest_command(
    inputs: Annotated[list[Path], typer.Argument(help="Post dumps: .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for posts.parquet and quarantine.parquet.")],
    mapping: Annotated[Optional[str], typer.Option("--mapping", help="Column mapping: a YAML path or a built-in name (x_api_v2, listening_csv).")] = None,
    products: Annotated[Optional[Path], typer.Option("--products", help="Product dictionary YAML (default: the packaged one).")] = None,
    redaction: Annotated[Optional[str], typer.Option("--redaction", help="fast | ner (overrides params.yaml).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object on the last line.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Validate, quarantine, de-duplicate, redact and tag product mentions in post dumps."""
    from labeling.ingest.mapping import load_mapping
    from labeling.ingest.products import load_products
    from labeling.ingest.run import ingest

    with user_errors():
        settings = load_settings(params_file)
        if redaction:
            settings = settings.replace("ingest", redaction=redaction)
        stats = ingest(inputs, out, settings.ingest, load_mapping(mapping), load_products(products))
    summary = stats.to_dict()
    typer.echo(
        f"{summary['rows_read']} rows read: {summary['rows_written']} written, "
        f"{summary['rows_quarantined']} quarantined, {summary['duplicates_dropped']} duplicates dropped "
        f"({'counts reconcile' if stats.reconciled else 'COUNTS DO NOT RECONCILE'}) in {summary['seconds']:.1f}s"
    )
    if summary["quarantine_reasons"]:
        typer.echo("quarantine reasons: " + ", ".join(f"{k}={v}" for k, v in summary["quarantine_reasons"].items()))
    if summary["redactions"]:
        typer.echo("redactions: " + ", ".join(f"{k}={v}" for k, v in summary["redactions"].items()))
    typer.echo(f"wrote {out / 'posts.parquet'} and {out / 'quarantine.parquet'}")
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
    if not stats.reconciled:
        raise typer.Exit(3)


@app.command("demo-data")
def demo_data_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for posts.jsonl, annotations.csv, products.yaml, ground_truth.json.")],
    posts: Annotated[Optional[int], typer.Option("--posts", help="Number of posts (default from params.yaml demo.posts).")] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Random seed (default from params.yaml demo.seed).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Write a realistic synthetic post dump with annotations, for running the product end to end offline."""
    from labeling.demo.generator import generate_demo

    with user_errors():
        settings = load_settings(params_file).demo
    n_posts = posts if posts is not None else settings.posts
    if n_posts < 1:
        raise fail("--posts must be at least 1")
    with user_errors():
        summary = generate_demo(out, posts=n_posts, seed=seed if seed is not None else settings.seed,
                                labeled_fraction=settings.labeled_fraction)
    typer.echo(f"wrote {summary.posts} posts by {summary.authors} authors, {summary.annotations} annotations "
               f"on {summary.labeled_posts} posts into {out}")


@app.command("taxonomy")
def taxonomy_command(
    path: Annotated[Optional[Path], typer.Argument(help="Taxonomy YAML to validate (default: the packaged one).")] = None,
) -> None:
    """Validate a taxonomy file and print its tasks and labels."""
    from labeling.taxonomy import load_taxonomy

    with user_errors():
        taxonomy = load_taxonomy(path)
    typer.echo(f"taxonomy version {taxonomy.version}")
    for task in taxonomy.tasks:
        typer.echo(f"  {task.name} ({task.kind}): {', '.join(task.label_names)}")
