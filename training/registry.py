"""Model registry operations: register a version as `challenger`, evaluate a model URI on the frozen test split,
and the promotion gate that moves `champion`. Aliases only: registry stages are deprecated."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from common.errors import OccError
from common.settings import PromoteSettings, SafetySettings
from labeling.dataset import load_dataset_dir
from labeling.taxonomy import taxonomy_from_dict
from models.registry import CHALLENGER, CHAMPION, ModelRefError, load_pinned, pin
from training.data import split_inputs, task_specs
from training.metrics import evaluate_all, mean_macro_f1
from training.safety import SafetyOutcome

logger = logging.getLogger(__name__)


class RegistryError(OccError, RuntimeError):
    """A registry operation cannot be done; the message names the problem and the fix."""


@dataclass
class RegisteredVersion:
    name: str
    version: str
    became_champion: bool
    previous_challenger: str | None = None


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def alias_version(name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(_client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def register_version(name: str, model_uri: str, run_id: str, tags: Mapping[str, str]) -> RegisteredVersion:
    """Register `model_uri` under `name`, alias it `challenger`; the first version ever also becomes champion."""
    import mlflow

    client = _client()
    previous = alias_version(name, CHALLENGER)
    result = mlflow.register_model(model_uri, name, tags=dict(tags))
    try:
        for _ in range(60):  # registration is asynchronous on some backends
            if client.get_model_version(name, result.version).status == "READY":
                break
            time.sleep(0.5)
        client.set_registered_model_alias(name, CHALLENGER, result.version)
        became_champion = alias_version(name, CHAMPION) is None
        if became_champion:
            client.set_registered_model_alias(name, CHAMPION, result.version)
            client.set_model_version_tag(name, result.version, "promotion_reason", "first registered version")
            logger.info("%s version %s is the first version: it is champion", name, result.version)
    except Exception:
        client.delete_model_version(name, result.version)  # leave no half-registered version behind
        raise
    logger.info("registered %s version %s (run %s) as %s", name, result.version, run_id, CHALLENGER)
    return RegisteredVersion(name, str(result.version), became_champion, previous)


def delete_version(registered: RegisteredVersion) -> None:
    """Take a registration back (a later step of training failed): the version and its aliases go, and
    `challenger` points again at the version it pointed at before."""
    client = _client()
    client.delete_model_version(registered.name, registered.version)
    if registered.previous_challenger is not None:
        client.set_registered_model_alias(registered.name, CHALLENGER, registered.previous_challenger)


def evaluate_uri(model_uri: str, dataset_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics of a registered model on the dataset's frozen test split; (metrics, model info)."""
    try:
        pinned = pin(model_uri)
        bundle = load_pinned(pinned)
    except ModelRefError as exc:
        raise RegistryError(str(exc)) from exc
    dataset, taxonomy_dict = load_dataset_dir(dataset_dir)
    taxonomy = taxonomy_from_dict(taxonomy_dict)
    if str(taxonomy.version) != bundle.taxonomy_version:
        raise RegistryError(f"model {pinned.uri} was trained on taxonomy {bundle.taxonomy_version!r} but the dataset in "
                            f"{dataset_dir} uses {taxonomy.version!r}; evaluate it on a dataset of its own taxonomy")
    specs = task_specs(taxonomy)
    texts, targets = split_inputs(dataset["test"], specs)
    proba = bundle.predict_proba(texts)
    metrics = evaluate_all(specs, proba, targets, bundle.thresholds)
    return metrics, {"model_uri": pinned.uri, "name": pinned.name, "version": pinned.version, "kind": bundle.kind,
                     "taxonomy_version": bundle.taxonomy_version, "safety": bundle.info.get("safety")}


def safety_note(info: Mapping[str, Any]) -> str | None:
    """The line `occ evaluate` / `occ promote` print about a model's safety operating point, if it has one."""
    outcome = SafetyOutcome.from_dict(info.get("safety"))
    if outcome is None:
        return None
    prefix = f"v{info.get('version')}: " if info.get("version") else ""
    return prefix + outcome.sentence()


@dataclass
class PromotionDecision:
    promoted: bool
    reason: str
    challenger: str | None
    champion: str | None
    table: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"promoted": self.promoted, "reason": self.reason, "challenger": self.challenger,
                "champion": self.champion, "comparison": self.table, "notes": self.notes}


def gate(challenger: Mapping[str, Any], champion: Mapping[str, Any], policy: PromoteSettings,
         safety: SafetySettings | None = None) -> tuple[bool, str, list[dict[str, Any]]]:
    """The promotion rule, pure, on frozen-test metrics of both models.

    Quality: mean macro-F1 not worse by more than `max_mean_drop`, no task worse by more than `max_task_drop`.
    Safety (when both models have the safety task): its recall at each model's own threshold may not drop by
    more than `safety.max_recall_drop`, and the challenger may not flag more than `safety.max_flag_ratio`
    times the share of posts that are positive (the review-workload cap), or than the champion flags where
    that is more. The first failed rule is the reason.
    """
    rows = []
    worst_task, worst_drop = None, -np.inf
    for task in challenger:
        new = challenger[task].get("macro_f1", float("nan"))
        old = champion.get(task, {}).get("macro_f1", float("nan"))
        drop = old - new
        rows.append({"task": task, "champion": round(old, 4), "challenger": round(new, 4), "delta": round(-drop, 4)})
        if np.isfinite(drop) and drop > worst_drop:
            worst_task, worst_drop = task, drop
    mean_new, mean_old = mean_macro_f1(challenger), mean_macro_f1(champion)
    rows.append({"task": "mean", "champion": round(mean_old, 4), "challenger": round(mean_new, 4), "delta": round(mean_new - mean_old, 4)})
    failures = []
    if mean_old - mean_new > policy.max_mean_drop:
        failures.append(f"mean macro-F1 drops by {mean_old - mean_new:.4f} (> max_mean_drop {policy.max_mean_drop})")
    if worst_task is not None and worst_drop > policy.max_task_drop:
        failures.append(f"task {worst_task} drops by {worst_drop:.4f} (> max_task_drop {policy.max_task_drop})")
    failures += _safety_rules(challenger, champion, safety, rows)
    if failures:
        return False, "; ".join(failures), rows
    return True, (f"mean macro-F1 {mean_new:.4f} vs {mean_old:.4f}; no task drops by more than {policy.max_task_drop}"
                  + ("; safety recall and workload within bounds" if any(r.get("kind") == "safety" for r in rows) else "")), rows


def _safety_rules(challenger: Mapping[str, Any], champion: Mapping[str, Any], safety: SafetySettings | None,
                  rows: list[dict[str, Any]]) -> list[str]:
    if safety is None or safety.task is None:
        return []
    new, old = challenger.get(safety.task, {}), champion.get(safety.task, {})
    if "recall_at_threshold" not in new or "recall_at_threshold" not in old:
        return []
    task = safety.task
    failures = []
    recall_new, recall_old = new["recall_at_threshold"], old["recall_at_threshold"]
    rows.append({"task": f"{task} recall", "champion": round(recall_old, 4), "challenger": round(recall_new, 4),
                 "delta": round(recall_new - recall_old, 4), "kind": "safety",
                 "limit": f"drop <= {safety.max_recall_drop}"})
    if recall_old - recall_new > safety.max_recall_drop + 1e-12:
        failures.append(f"{task} recall drops by {recall_old - recall_new:.4f} (> safety.max_recall_drop "
                        f"{safety.max_recall_drop})")
    share_new, share_old = new["flag_share"], old["flag_share"]
    cap = None if safety.max_flag_ratio is None else safety.max_flag_ratio * new["positive_share"]
    # A champion already over the cap sets the limit: refusing a challenger that flags fewer posts than it would
    # keep the heavier workload (and, with the recall rule above, miss no more adverse events).
    limit = None if cap is None else max(cap, share_old)
    shown = "no cap" if cap is None else (f"<= {cap:.4f}" if limit == cap else f"<= {limit:.4f} (champion's; cap {cap:.4f})")
    rows.append({"task": f"{task} flag share", "champion": round(share_old, 4), "challenger": round(share_new, 4),
                 "delta": round(share_new - share_old, 4), "kind": "safety", "limit": shown})
    if limit is not None and share_new > limit + 1e-12:
        over_champion = f" and over the champion's {share_old:.1%}" if share_old > cap else ""
        failures.append(f"{task} flags {share_new:.1%} of test posts, over the review-workload cap {cap:.1%} "
                        f"({safety.max_flag_ratio:g}x the {new['positive_share']:.1%} that are positive){over_champion}")
    return failures


def promote(name: str, dataset_dir: Path, policy: PromoteSettings, safety: SafetySettings | None = None,
            force: bool = False, reason: str | None = None) -> PromotionDecision:
    """Compare challenger with champion on the frozen test split and move `champion` if the gate passes."""
    client = _client()
    challenger = alias_version(name, CHALLENGER)
    champion = alias_version(name, CHAMPION)
    if challenger is None:
        raise RegistryError(f"registered model {name!r} has no {CHALLENGER!r} version; train one with `occ train`")
    if force and not reason:
        raise RegistryError("--force needs --reason \"...\" so that the override is on record")
    if champion is None:
        client.set_registered_model_alias(name, CHAMPION, challenger)
        client.set_model_version_tag(name, challenger, "promotion_reason", "first champion")
        return PromotionDecision(True, "no champion yet: the challenger becomes champion", challenger, None, [])
    if champion == challenger:
        return PromotionDecision(False, f"version {challenger} is already champion", challenger, champion, [])
    new_metrics, new_info = evaluate_uri(f"models:/{name}/{challenger}", dataset_dir)
    notes = [note for note in (safety_note(new_info),) if note]
    try:
        old_metrics, old_info = evaluate_uri(f"models:/{name}/{champion}", dataset_dir)
        notes += [note for note in (safety_note(old_info),) if note]
    except RegistryError as exc:
        if not force:
            raise RegistryError(f"cannot compare with champion version {champion}: {exc}. Use --force --reason to "
                                "promote anyway (e.g. after a taxonomy change)") from exc
        old_metrics = {}
    passed, why, table = gate(new_metrics, old_metrics, policy, safety) if old_metrics else (False, "champion not comparable", [])
    if passed or force:
        client.set_registered_model_alias(name, CHAMPION, challenger)
        note = why if passed else f"forced: {reason} (gate said: {why})"
        client.set_model_version_tag(name, challenger, "promotion_reason", note[:5000])
        client.set_model_version_tag(name, challenger, "promoted_from", str(champion))
        log = logger.warning if not passed else logger.info
        log("champion of %s moves from version %s to %s: %s", name, champion, challenger, note)
        return PromotionDecision(True, note, challenger, champion, table, notes)
    return PromotionDecision(False, why, challenger, champion, table, notes)


def comparison_table(decision: PromotionDecision) -> str:
    lines = [f"{'task':<28}{'champion':>10}{'challenger':>12}{'delta':>9}  limit"]
    for row in decision.table:
        lines.append(f"{row['task']:<28}{row['champion']:>10.4f}{row['challenger']:>12.4f}{row['delta']:>+9.4f}"
                     f"  {row.get('limit', '')}".rstrip())
    return "\n".join(lines)


__all__ = ["CHALLENGER", "CHAMPION", "RegistryError", "register_version", "delete_version", "evaluate_uri", "promote",
           "gate", "comparison_table", "alias_version", "safety_note"]
