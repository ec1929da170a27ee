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
label_app = typer.Typer(no_args_is_help=True)
"""Commands of the `occ label` group that need only labels; occ.py merges them with training's model-backed ones."""
logger = logging.getLogger(__name__)


@app.command("ingest")
def ingest_command(
    inputs: Annotated[list[Path], typer.Argument(help="Post dumps: .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for posts.parquet and quarantine.parquet.")],
    mapping: Annotated[Optional[str], typer.Option("--mapping", help="Column mapping: a YAML path or a built-in name (x_api_v2, listening_csv).")] = None,
    products: Annotated[Optional[Path], typer.Option("--products", help="Product dictionary YAML (default: the packaged one).")] = None,
    redaction: Annotated[Optional[str], typer.Option("--redaction", help="fast | ner (overrides params.yaml).")] = None,
    suppress: Annotated[Optional[Path], typer.Option("--suppress", help="Suppression (opt-out) list, .txt or .csv: these authors' posts are dropped before anything is stored (overrides ingest.suppress_file).")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Processes for the row pipeline (overrides ingest.workers; default one per CPU core; the output is the same for any number).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="local | spark (the same outputs; spark needs the [spark] extra and Java 17+).")] = "local",
    spark_master: Annotated[Optional[str], typer.Option("--spark-master", help="Spark master URL for --engine spark (default local[*]); inputs and --out must be at the same path on every executor.")] = None,
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
        if suppress is not None:
            settings = settings.replace("ingest", suppress_file=str(suppress))
        if workers is not None:
            settings = settings.replace("ingest", workers=workers)
        if engine == "local":
            stats = ingest(inputs, out, settings.ingest, load_mapping(mapping), load_products(products),
                           authors=settings.authors)
        elif engine == "spark":
            from labeling.ingest.spark_run import ingest_spark

            stats = ingest_spark(inputs, out, settings.ingest, load_mapping(mapping), load_products(products),
                                 authors=settings.authors, master=spark_master or "local[*]")
        else:
            raise fail(f"unknown --engine {engine!r}; use local or spark")
    summary = stats.to_dict()
    typer.echo(
        f"{summary['rows_read']} rows read: {summary['rows_written']} written, "
        f"{summary['rows_quarantined']} quarantined, {summary['duplicates_dropped']} duplicates dropped, "
        f"{summary['suppressed']} suppressed ({'counts reconcile' if stats.reconciled else 'COUNTS DO NOT RECONCILE'}) in {summary['seconds']:.1f}s"
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


# ---- occ label agreement | disagreements | export-ls | import-ls (the labeling loop, labels only) ------------------


@label_app.command("agreement")
def label_agreement_command(
    annotations: Annotated[Path, typer.Argument(help="Annotation rows: post_id, task, label, annotator (CSV or JSONL).")],
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
    min_agreement: Annotated[Optional[float], typer.Option("--min-agreement", help="Name annotators below this kappa with the others' consensus (default: label.min_agreement).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Inter-annotator agreement per task: pairwise Cohen's kappa, Fleiss' kappa, Krippendorff's alpha, each
    annotator against the others' consensus; annotators below the threshold are named."""
    from labeling.annotations import read_annotations
    from labeling.loop.agreement import agreement_report
    from labeling.taxonomy import load_taxonomy

    with user_errors():
        settings = load_settings(params_file)
        threshold = settings.label.min_agreement if min_agreement is None else min_agreement
        report = agreement_report(read_annotations(annotations), load_taxonomy(taxonomy), threshold)
    typer.echo(report.table())
    if as_json:
        typer.echo(json.dumps(report.to_dict(), sort_keys=True, default=str))


@label_app.command("disagreements")
def label_disagreements_command(
    annotations: Annotated[Path, typer.Argument(help="Annotation rows: post_id, task, label, annotator.")],
    out: Annotated[Path, typer.Option("--out", help="CSV of every (post, task) the annotators split on, with each vote.")],
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
) -> None:
    """List every item the annotators split on, for adjudication (decisions go back through `occ dataset --adjudications`)."""
    from common.atomic import write_bytes_atomic
    from common.spreadsheet import spreadsheet_safe
    from labeling.annotations import read_annotations
    from labeling.loop.adjudication import disagreements
    from labeling.taxonomy import load_taxonomy

    with user_errors():
        frame = disagreements(read_annotations(annotations), load_taxonomy(taxonomy))
        safe = frame.astype(object).map(lambda v: spreadsheet_safe(v) if isinstance(v, str) else v)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out, safe.to_csv(index=False).encode("utf-8"))
    ties = int(frame["tied"].sum()) if len(frame) else 0
    typer.echo(f"{len(frame)} split item(s) ({ties} tied, left out of gold until adjudicated) -> {out}; "
               "write decisions as post_id,task,label,adjudicator and pass them to `occ dataset --adjudications`")


@label_app.command("export-ls")
def label_export_ls_command(
    batch: Annotated[Path, typer.Argument(help="A batch from `occ label select` (JSONL).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for labeling_config.xml and tasks.json.")],
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
) -> None:
    """Write a Label Studio labeling config (from the taxonomy) and tasks with the model's predictions pre-filled."""
    from labeling.loop.studio import export_ls
    from labeling.taxonomy import load_taxonomy

    with user_errors():
        summary = export_ls(batch, load_taxonomy(taxonomy), out)
    typer.echo(f"{summary['posts']} task(s), {summary['with_predictions']} with predictions -> {out} "
               "(create a Label Studio project with labeling_config.xml, then import tasks.json)")


@label_app.command("import-ls")
def label_import_ls_command(
    export: Annotated[Path, typer.Argument(help="A Label Studio JSON export of the project.")],
    out: Annotated[Path, typer.Option("--out", help="The annotations CSV (post_id, task, label, annotator) for `occ dataset`.")],
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
) -> None:
    """Turn a Label Studio JSON export into the annotations CSV `occ dataset` reads (cancelled annotations dropped)."""
    from labeling.loop.studio import import_ls, write_annotations_csv
    from labeling.taxonomy import load_taxonomy

    with user_errors():
        frame, report = import_ls(export, load_taxonomy(taxonomy))
        write_annotations_csv(frame, out)
    counts = report.to_dict()
    typer.echo(f"{counts['rows']} annotation row(s) from {counts['annotations']} annotation(s) by {counts['annotators']} "
               f"annotator(s) on {counts['tasks']} task(s); {counts['cancelled_dropped']} cancelled and "
               f"{counts['superseded_dropped']} superseded annotation(s) dropped -> {out}")
