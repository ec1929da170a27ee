"""`occ authors ...`: who is speaking. Thin wrappers over labeling.authors."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from common.cli import ParamsOption, user_errors
from common.errors import OccError
from common.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Who is speaking: author types, specialties, accounts linked into "
                  "persons, reviewers' link decisions.")


class AuthorsInputError(OccError, ValueError):
    """An input the authors commands cannot use: a folder that is not a run, a bad decision, a bad truth file."""


def run_parts(run_dir: Path) -> list[Path]:
    """The Parquet files of an ingest run (`posts.parquet`) or a scoring run (`scores/part-*.parquet`)."""
    if (run_dir / "posts.parquet").is_file():
        return [run_dir / "posts.parquet"]
    parts = sorted((run_dir / "scores").glob("part-*.parquet"))
    if parts:
        return parts
    raise AuthorsInputError(f"{run_dir} holds neither posts.parquet (occ ingest) nor scores/part-*.parquet (occ score); "
                         "pass the folder an ingest or scoring run wrote")


@app.command("resolve")
def resolve_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by occ ingest or occ score.")],
    decisions: Annotated[Optional[Path], typer.Option("--decisions", help="Reviewers' link decisions CSV (default: authors.link_decisions).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Redo the author pass of a run (after new link decisions): rewrites authors.parquet and author_links.parquet."""
    from common.processes import cpu_workers
    from labeling.authors.author_pass import write_author_tables

    with user_errors():
        settings = load_settings(params_file)
        if decisions is not None:
            settings = settings.replace("authors", link_decisions=str(decisions))
        summary = write_author_tables(run_parts(run_dir), run_dir, settings.authors,
                                      workers=cpu_workers(settings.ingest.workers), progress=True)
    typer.echo(json.dumps(summary, sort_keys=True))


@app.command("decide")
def decide_command(
    author_a: Annotated[str, typer.Argument(help="One account (author_id).")],
    author_b: Annotated[str, typer.Argument(help="The other account (author_id).")],
    decision: Annotated[str, typer.Argument(help="confirm (one person) | split (two people).")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who decided (kept with the decision).")],
    decisions: Annotated[Optional[Path], typer.Option("--decisions", help="The decisions CSV (default: authors.link_decisions).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Record a reviewer's decision on a link; the next ingest / score / `occ authors resolve` applies it."""
    from labeling.authors.linking import LinkDecision, write_link_decision

    with user_errors():
        path = decisions or Path(load_settings(params_file).authors.link_decisions or "")
        if not str(path):
            raise AuthorsInputError("no decisions file: pass --decisions FILE or set authors.link_decisions")
        if decision not in ("confirm", "split"):
            raise AuthorsInputError(f"decision must be confirm or split, got {decision!r}")
        a, b = sorted((author_a, author_b))
        write_link_decision(path, LinkDecision(a, b, decision, reviewer, datetime.now(timezone.utc).isoformat()))
    typer.echo(f"recorded {decision} of {a} ~ {b} in {path}")


@app.command("evaluate")
def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder holding authors.parquet (an ingest or scoring run).")],
    truth: Annotated[Path, typer.Option("--truth", help="CSV: author_id, author_type[, specialty][, person_id].")],
) -> None:
    """Author-type macro-F1, specialty accuracy and link precision/recall against a labeled author file."""
    import pandas as pd

    from labeling.authors.evaluate import evaluate_authors
    from labeling.authors.resolve import AUTHORS_FILE

    with user_errors():
        if not (run_dir / AUTHORS_FILE).is_file():
            raise AuthorsInputError(f"{run_dir / AUTHORS_FILE} is missing: run occ authors resolve {run_dir} first")
        predicted = pd.read_parquet(run_dir / AUTHORS_FILE)
        labeled = pd.read_csv(truth, dtype=str, keep_default_na=False).replace({"": None})
        if not {"author_id", "author_type"} <= set(labeled.columns):
            raise AuthorsInputError(f"{truth} needs columns author_id and author_type; found {list(labeled.columns)}")
        figures = evaluate_authors(predicted, labeled)
    typer.echo(json.dumps(figures, sort_keys=True))


@app.command("training-file")
def training_file_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by occ ingest or occ score (the labeled authors' posts).")],
    labels: Annotated[Path, typer.Option("--labels", help="CSV of labeled authors: author_id, author_type.")],
    out: Annotated[Path, typer.Option("--out", help="The own-labels CSV to write (for occ train --labels).")],
    params_file: ParamsOption = None,
) -> None:
    """Write the own-labels table of an author-type model: one author document per labeled author."""
    import csv

    from common.atomic import AtomicTextWriter
    from labeling.authors.documents import AUTHOR_TASK, AUTHOR_TAXONOMY, training_rows
    from labeling.authors.resolve import read_profiles

    with user_errors():
        settings = load_settings(params_file).authors
        with open(labels, newline="", encoding="utf-8") as handle:
            labeled = list(csv.DictReader(handle))
        rows = training_rows(read_profiles(run_parts(run_dir), settings.texts_per_author), labeled)
        if not rows:
            raise AuthorsInputError(f"none of the {len(labeled)} labeled authors in {labels} posted in {run_dir}")
        with AtomicTextWriter(out) as handle:
            writer = csv.DictWriter(handle, fieldnames=["post_id", "author_id", "text", AUTHOR_TASK])
            writer.writeheader()
            writer.writerows(rows)
    taxonomy = AUTHOR_TAXONOMY.relative_to(Path.cwd()) if AUTHOR_TAXONOMY.is_relative_to(Path.cwd()) else AUTHOR_TAXONOMY
    typer.echo(f"wrote {len(rows)} author documents to {out} ({len(labeled) - len(rows)} labeled authors without "
               f"posts in the run); train with: occ train --labels {out} --taxonomy {taxonomy} "
               "--registered-model occ-author-types")
