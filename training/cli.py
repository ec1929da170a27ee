"""`occ dataset`, `occ train`, `occ evaluate`, `occ promote`: thin wrappers over the training library."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from labeling.cli import fail as _fail
from labeling.params import load_params, section

app = typer.Typer(no_args_is_help=True)
logger = logging.getLogger(__name__)

ParamsOption = Annotated[Optional[Path], typer.Option("--params", help="params.yaml to read (default: ./params.yaml).")]
DEFAULT_DATASET = Path("data/dataset")



def _user_errors() -> tuple[type[BaseException], ...]:
    from labeling.dataset import DatasetError
    from labeling.products import ProductDictionaryError
    from labeling.taxonomy import TaxonomyError
    from models.artifact import ArtifactError
    from models.tracking import TrackingError
    from training.registry import RegistryError
    from training.train import TrainingError

    return (DatasetError, TaxonomyError, ProductDictionaryError, TrainingError, RegistryError, ArtifactError,
            TrackingError, ValueError)


def build_dataset_from(labels: Path, posts: Optional[Path], taxonomy_path: Optional[Path], out: Path,
                       frozen_test: Optional[Path], params: dict) -> dict:
    """Annotations (+ ingested posts) or a user's own labeled table -> a saved DatasetDict."""
    from labeling.dataset import (DatasetConfig, adjudicate, attach_to_kept_posts, build_dataset, own_labels_table,
                                  read_annotations, read_duplicate_map, read_posts)
    from labeling.redact import Redactor
    from labeling.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(taxonomy_path)
    config = DatasetConfig.from_dict(section(params, "dataset"))
    if posts is not None:
        annotations = attach_to_kept_posts(read_annotations(labels), read_duplicate_map(posts))
        gold, report = adjudicate(annotations, taxonomy)
        logger.info("gold labels: %s", json.dumps(report.to_dict()))
        post_table = read_posts(posts)
    else:
        post_table, gold = own_labels_table(labels, taxonomy)
        redactor = Redactor(section(params, "ingest").get("redaction", "fast"))
        post_table["text"] = [redactor.redact(t)[0] for t in post_table["text"]]  # own tables were never ingested
    return build_dataset(post_table, gold, taxonomy, config, out, frozen_test)


@app.command("dataset")
def dataset_command(
    labels: Annotated[Path, typer.Option("--labels", help="Annotations (post_id, task, label, annotator) or your own labeled table (text + one column per task).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the DatasetDict.")] = DEFAULT_DATASET,
    posts: Annotated[Optional[Path], typer.Option("--posts", help="Ingested posts (folder or posts.parquet); omit for an own-labels table.")] = None,
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML (default: the packaged one).")] = None,
    frozen_test: Annotated[Optional[Path], typer.Option("--frozen-test", help="File of frozen test post ids (created on first run, reused after).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Adjudicate labels, split by author and save the dataset (the test split is frozen)."""
    params = load_params(params_file)
    frozen = frozen_test or Path(section(params, "dataset").get("frozen_test_file", "data/frozen_test_ids.txt"))
    try:
        meta = build_dataset_from(labels, posts, taxonomy, out, frozen, params)
    except _user_errors() as exc:
        raise _fail(str(exc))
    typer.echo(f"dataset saved to {out}: " + ", ".join(f"{k} {v}" for k, v in meta["sizes"].items())
               + (" (frozen test split reused)" if meta["frozen_test_reused"] else f" (test ids frozen in {frozen})"))


@app.command("train")
def train_command(
    model: Annotated[str, typer.Option("--model", help="baseline | transformer")] = "baseline",
    dataset: Annotated[Optional[Path], typer.Option("--dataset", help="A dataset built by `occ dataset` (default data/dataset).")] = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Build the dataset from these labels first (see `occ dataset`).")] = None,
    posts: Annotated[Optional[Path], typer.Option("--posts", help="Ingested posts the --labels annotations refer to.")] = None,
    taxonomy: Annotated[Optional[Path], typer.Option("--taxonomy", help="Taxonomy YAML for --labels.")] = None,
    products: Annotated[Optional[Path], typer.Option("--products", help="Product dictionary to ship inside the model.")] = None,
    registered_model: Annotated[Optional[str], typer.Option("--registered-model", help="Registered model name (default from params.yaml).")] = None,
    metrics_out: Annotated[Optional[Path], typer.Option("--metrics-out", help="Also write test metrics as JSON (for DVC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Train, evaluate on the frozen test split, log to MLflow and register the version as `challenger`."""
    from labeling.products import load_products
    from models.tracking import check_reachable, configure_tracking
    from training.metrics import metrics_table
    from training.train import train_and_register

    params = load_params(params_file)
    try:
        uri = configure_tracking()
        check_reachable()
        dictionary = load_products(products)
        with tempfile.TemporaryDirectory() as tmp:
            dataset_dir = dataset or DEFAULT_DATASET
            if labels is not None:
                dataset_dir = Path(tmp) / "dataset"
                frozen = labels.with_name(f"{labels.stem}.test_ids.txt")
                build_dataset_from(labels, posts, taxonomy, dataset_dir, frozen, params)
            result = train_and_register(model, dataset_dir, params, products=dictionary,
                                        registered_model=registered_model, metrics_out=metrics_out)
    except _user_errors() as exc:
        raise _fail(str(exc))
    typer.echo(metrics_table(result.test_metrics))
    typer.echo(f"registered {result.model_name} version {result.version} ({', '.join(result.aliases)}) "
               f"from run {result.run_id} in {result.seconds:.0f}s; tracking: {uri}")
    if as_json:
        typer.echo(json.dumps(result.summary(), sort_keys=True))


@app.command("evaluate")
def evaluate_command(
    model: Annotated[Optional[str], typer.Option("--model", help="Model URI (default models:/<name>@champion).")] = None,
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset whose frozen test split to score.")] = DEFAULT_DATASET,
    metrics_out: Annotated[Optional[Path], typer.Option("--metrics-out", help="Also write the metrics as JSON (for DVC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object last.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Score the frozen test split with a registered model and print the metrics table."""
    from models.tracking import check_reachable, configure_tracking
    from training.config import RegistryConfig
    from training.metrics import mean_macro_f1, metrics_table
    from training.registry import evaluate_uri

    params = load_params(params_file)
    uri = model or f"models:/{RegistryConfig.from_params(params).model_name}@champion"
    try:
        configure_tracking()
        check_reachable()
        metrics, info = evaluate_uri(uri, dataset)
    except _user_errors() as exc:
        raise _fail(str(exc))
    typer.echo(f"{info['model_uri']} ({info['kind']}) on the frozen test split of {dataset}:")
    typer.echo(metrics_table(metrics))
    summary = {"model": info, "mean_macro_f1": round(mean_macro_f1(metrics), 4),
               "tasks": {t: {k: v for k, v in m.items() if k != "confusion"} for t, m in metrics.items()}}
    if metrics_out is not None:
        metrics_out.parent.mkdir(parents=True, exist_ok=True)
        metrics_out.write_text(json.dumps({"mean_macro_f1": summary["mean_macro_f1"],
                                           **{f"{t}_macro_f1": round(m.get("macro_f1", float("nan")), 4) for t, m in metrics.items()},
                                           "version": info["version"]}, indent=2) + "\n", encoding="utf-8")
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
    from training.config import PromotionPolicy, RegistryConfig
    from training.registry import comparison_table, promote

    params = load_params(params_file)
    name = registered_model or RegistryConfig.from_params(params).model_name
    try:
        configure_tracking()
        check_reachable()
        decision = promote(name, dataset, PromotionPolicy.from_params(params), force=force, reason=reason)
    except _user_errors() as exc:
        raise _fail(str(exc))
    if decision.table:
        typer.echo(comparison_table(decision))
    verdict = "PROMOTED" if decision.promoted else "kept champion"
    typer.echo(f"{verdict}: challenger v{decision.challenger}, champion was v{decision.champion}: {decision.reason}")
    if as_json:
        typer.echo(json.dumps(decision.to_dict(), sort_keys=True))
