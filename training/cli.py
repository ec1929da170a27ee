"""`occ dataset`, `occ train`, `occ evaluate`, `occ promote`: thin wrappers over the training library."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from common.cli import ParamsOption, user_errors
from common.settings import load_settings
from training.data import build_dataset_from

app = typer.Typer(no_args_is_help=True)
logger = logging.getLogger(__name__)

DEFAULT_DATASET = Path("data/dataset")


@app.command("dataset")
def dataset_command(
    labels: Annotated[Path, typer.Option("--labels", help="Annotations (post_id, task, label, annotator) or your own labeled table (text + one column per task).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the DatasetDict.")] = DEFAULT_DATASET,
    posts: Annotated[Optional[Path], typer.Option("--posts", help="Ingested posts (folder or posts.parquet); omit for an own-labels table.")] = None,
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
    frozen_test: Annotated[Optional[Path], typer.Option("--frozen-test", help="File of frozen test post ids (created on first run, reused after).")] = None,
    adjudications: Annotated[Optional[Path], typer.Option("--adjudications", help="Adjudicated decisions (post_id, task, label, adjudicator); they outrank the votes.")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Adjudicate labels, split by author and save the dataset (the test split is frozen)."""
    with user_errors():
        settings = load_settings(params_file)
        frozen = frozen_test or Path(settings.dataset.frozen_test_file)
        meta = build_dataset_from(labels, posts, taxonomy, out, frozen, settings, adjudications)
    typer.echo(f"dataset saved to {out}: " + ", ".join(f"{k} {v}" for k, v in meta["sizes"].items())
               + (" (frozen test split reused)" if meta["frozen_test_reused"] else f" (test ids frozen in {frozen})"))
    for task, counts in (meta.get("gold_sources") or {}).items():
        typer.echo(f"  {task}: gold from " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


@app.command("train")
def train_command(
    model: Annotated[Optional[str], typer.Option("--model", help="baseline | transformer | ensemble (both, mixed per task; docs/BENCHMARKS.md says when). Default train.model in params.yaml.")] = None,
    dataset: Annotated[Optional[Path], typer.Option("--dataset", help="A dataset built by `occ dataset` (default data/dataset).")] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Build the dataset from these labels first (see `occ dataset`).")] = None,
    posts: Annotated[Optional[Path], typer.Option("--posts", help="Ingested posts the --labels annotations refer to.")] = None,
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML for --labels.")] = None,
    products: Annotated[Optional[Path], typer.Option("--products", help="Product dictionary to ship inside the model.")] = None,
    registered_model: Annotated[Optional[str], typer.Option("--registered-model", help="Registered model name (default from params.yaml).")] = None,
    metrics_out: Annotated[Optional[Path], typer.Option("--metrics-out", help="Also write test metrics as JSON (for DVC).")] = None,
    encoder: Annotated[Optional[str], typer.Option("--encoder", help="Transformer encoder: a local Hugging Face folder or an `occ adapt` run's runs:/<run_id>/encoder (default transformer.encoder).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Train, evaluate on the frozen test split, log to MLflow and register the version as `challenger`."""
    from labeling.ingest.products import load_products
    from labeling.lineage import labels_lineage
    from models.tracking import check_reachable, configure_tracking
    from training.metrics import metrics_table
    from training.train import train_and_register

    with user_errors():
        settings = load_settings(params_file)
        uri = configure_tracking()
        check_reachable()
        dictionary = load_products(products)
        with tempfile.TemporaryDirectory() as tmp:
            dataset_dir = dataset or DEFAULT_DATASET
            if labels is not None:
                dataset_dir = Path(tmp) / "dataset"
                frozen = labels.with_name(f"{labels.stem}.test_ids.txt")
                build_dataset_from(labels, posts, taxonomy, dataset_dir, frozen, settings)
            lineage = dict(labels_lineage(labels)) if labels is not None else {}
            if encoder is not None:
                from training.adapt import resolve_encoder

                settings = settings.replace("transformer", encoder=str(resolve_encoder(encoder, Path(tmp))))
                lineage["occ.encoder"] = encoder
            result = train_and_register(model or settings.train.model, dataset_dir, settings, products=dictionary,
                                        registered_model=registered_model, metrics_out=metrics_out,
                                        lineage=lineage or None)
    typer.echo(metrics_table(result.test_metrics))
    if result.safety is not None:
        typer.echo(f"safety: {result.safety.sentence()}")
    typer.echo(f"registered {result.model_name} version {result.version} ({', '.join(result.aliases)}) "
               f"from run {result.run_id} in {result.seconds:.0f}s; tracking: {uri}")
    if as_json:
        typer.echo(json.dumps(result.summary(), sort_keys=True))


@app.command("adapt")
def adapt_command(
    posts: Annotated[list[Path], typer.Option("--posts", help="Ingested post folders (repeat the option for several); their redacted text is the training text.")],
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Passes over the posts (default adapt.epochs).")] = None,
    encoder: Annotated[Optional[Path], typer.Option("--encoder", help="Encoder to adapt (default transformer.encoder, else the packaged MiniLM).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Continue the encoder's masked-LM pretraining on your unlabeled posts; log it to MLflow for `occ train --encoder`."""
    from models.tracking import check_reachable, configure_tracking
    from training.adapt import run_adaptation

    with user_errors():
        settings = load_settings(params_file)
        if epochs is not None:
            settings = settings.replace("adapt", epochs=epochs)
        configure_tracking()
        check_reachable()
        run_id, result = run_adaptation(posts, settings, encoder)
    typer.echo(f"adapted on {result.posts} posts in {result.seconds:.0f}s: held-out masked-LM loss "
               f"{result.loss_before:.3f} -> {result.loss_after:.3f} ({result.held_out} posts held out)")
    typer.echo(f"encoder: runs:/{run_id}/encoder  (occ train --model transformer --encoder runs:/{run_id}/encoder)")


@app.command("evaluate")
def evaluate_command(
    model: Annotated[Optional[str], typer.Option("--model", help="Model URI (default models:/<name>@champion).")] = None,
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset whose frozen test split to score.")] = DEFAULT_DATASET,
    metrics_out: Annotated[Optional[Path], typer.Option("--metrics-out", help="Also write the metrics as JSON (for DVC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Score the frozen test split with a registered model and print the metrics table."""
    from common.atomic import write_json_atomic
    from models.tracking import check_reachable, configure_tracking
    from training.metrics import mean_macro_f1, metrics_table
    from training.registry import evaluate_uri, safety_note

    with user_errors():
        settings = load_settings(params_file)
        uri = model or f"models:/{settings.registry.model_name}@champion"
        configure_tracking()
        check_reachable()
        metrics, info = evaluate_uri(uri, dataset)
    typer.echo(f"{info['model_uri']} ({info['kind']}) on the frozen test split of {dataset}:")
    typer.echo(metrics_table(metrics))
    note = safety_note(info)
    if note:
        typer.echo(f"safety: {note}")
    summary = {"model": info, "mean_macro_f1": round(mean_macro_f1(metrics), 4),
               "tasks": {t: {k: v for k, v in m.items() if k != "confusion"} for t, m in metrics.items()}}
    if metrics_out is not None:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(metrics_out, {"mean_macro_f1": summary["mean_macro_f1"],
                                        **{f"{t}_macro_f1": round(m.get("macro_f1", float("nan")), 4) for t, m in metrics.items()},
                                        "version": info["version"]})
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))


@app.command("promote")
def promote_command(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset whose frozen test split decides.")] = DEFAULT_DATASET,
    registered_model: Annotated[Optional[str], typer.Option("--registered-model", help="Registered model name (default from params.yaml).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Promote even if the gate fails (needs --reason).")] = False,
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why the gate is overridden (recorded on the version).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Move `champion` to the challenger if it is not worse than the champion on the frozen test split."""
    from models.tracking import check_reachable, configure_tracking
    from training.registry import comparison_table, promote

    with user_errors():
        settings = load_settings(params_file)
        name = registered_model or settings.registry.model_name
        configure_tracking()
        check_reachable()
        decision = promote(name, dataset, settings.promote, settings.safety, force=force, reason=reason)
    if decision.table:
        typer.echo(comparison_table(decision))
    for note in decision.notes:
        typer.echo(f"safety: {note}")
    verdict = "PROMOTED" if decision.promoted else "kept champion"
    typer.echo(f"{verdict}: challenger v{decision.challenger}, champion was v{decision.champion}: {decision.reason}")
    if as_json:
        typer.echo(json.dumps(decision.to_dict(), sort_keys=True))


# ---- occ label select | zero-shot | audit (the model-backed steps of the labeling loop) ---------------------------

label_app = typer.Typer(no_args_is_help=True)
"""Commands of the `occ label` group that need a model; occ.py merges them with labeling's own."""


@label_app.command("select")
def label_select_command(
    pool: Annotated[Path, typer.Option("--pool", help="An `occ ingest` folder or a complete `occ score` run to choose from.")],
    n: Annotated[int, typer.Option("--n", help="How many posts to choose.")],
    out: Annotated[Path, typer.Option("--out", help="The batch (JSONL): each post with why it was chosen and the model's predictions.")],
    model: Annotated[Optional[str], typer.Option("--model", help="Score the pool with this registered model (models:/NAME@ALIAS); default: the scores a scored pool holds.")] = None,
    strategy: Annotated[Optional[str], typer.Option("--strategy", help="random | uncertainty | diverse (default) | coverage (day one: label definitions, no model).")] = None,
    labeled: Annotated[Optional[list[Path]], typer.Option("--labeled", help="Files of already-labeled posts to leave out (annotations, own labels, earlier batches, id lists); repeatable.")] = None,
    frozen_test: Annotated[Optional[Path], typer.Option("--frozen-test", help="Frozen test ids to leave out (default: dataset.frozen_test_file if it exists).")] = None,
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Choose the posts to label next: most informative first, never labeled or frozen-test posts."""
    from labeling.taxonomy import load_taxonomy
    from models.tracking import check_reachable, configure_tracking
    from training.label_loop import read_pool, read_post_ids, select_batch, write_jsonl

    with user_errors():
        settings = load_settings(params_file)
        tax = load_taxonomy(taxonomy)
        frozen = frozen_test or Path(settings.dataset.frozen_test_file)
        exclude_files = list(labeled or []) + ([frozen] if frozen.is_file() else [])
        exclude = read_post_ids(exclude_files)
        if model is not None:
            configure_tracking()
            check_reachable()
        batch = select_batch(read_pool(pool), n, tax, settings, strategy=strategy, model_uri=model, exclude=exclude)
        written = write_jsonl(batch.rows, out)
    typer.echo(f"chose {written} of {batch.pool_size} posts ({batch.excluded} labeled or test posts left out) with "
               f"strategy {batch.strategy}{f' on {batch.model}' if batch.model else ''} -> {out}")


@label_app.command("zero-shot")
def label_zero_shot_command(
    pool: Annotated[Path, typer.Option("--pool", help="An `occ ingest` folder or a complete `occ score` run.")],
    out: Annotated[Path, typer.Option("--out", help="Predictions: .parquet, or a spreadsheet-safe .csv.")],
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML; every label needs a description.")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Score every post against the label definitions alone (no labels, no model): a first ranking on day one."""
    from labeling.taxonomy import load_taxonomy
    from training.label_loop import read_pool, write_table, zero_shot_table

    with user_errors():
        settings = load_settings(params_file)
        frame = zero_shot_table(read_pool(pool), load_taxonomy(taxonomy), settings)
        write_table(frame, out)
    typer.echo(f"zero-shot predictions for {len(frame)} posts -> {out}")


@label_app.command("audit")
def label_audit_command(
    labels: Annotated[Path, typer.Option("--labels", help="Your own labeled table, or annotation rows (with --posts).")],
    out: Annotated[Path, typer.Option("--out", help="Suspected label errors, most likely first (.csv or .parquet).")],
    posts: Annotated[Optional[Path], typer.Option("--posts", help="Ingested posts the annotation rows refer to.")] = None,
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
    folds: Annotated[Optional[int], typer.Option("--folds", help="Folds grouped by author (default: label.audit_folds).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Find likely label errors with confident learning on out-of-fold baseline probabilities."""
    from labeling.taxonomy import load_taxonomy
    from training.label_loop import audit_labels, write_table

    with user_errors():
        settings = load_settings(params_file)
        if folds is not None:
            settings = settings.replace("label", audit_folds=folds)
        frame = audit_labels(labels, load_taxonomy(taxonomy), settings, posts)
        write_table(frame, out)
    by_task = frame.groupby("task").size().to_dict() if len(frame) else {}
    typer.echo(f"{len(frame)} suspected label errors ({', '.join(f'{k}={v}' for k, v in by_task.items()) or 'none'}) "
               f"-> {out}; re-annotate from the top")
