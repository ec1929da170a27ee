"""Human-readable run artifacts: confusion matrices (PNG), a per-label report and a model card (Markdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from models.tasks import TaskSpec
from training.metrics import mean_macro_f1, metrics_table
from training.safety import SafetyOutcome


def confusion_pngs(specs: Sequence[TaskSpec], metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
    """One confusion-matrix image per single/binary task (multi-label tasks get per-label scores instead)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        matrix = metrics.get(spec.name, {}).get("confusion")
        if matrix is None:
            continue
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(spec.labels), 1.0 + 0.8 * len(spec.labels)))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(spec.labels)), spec.labels, rotation=45, ha="right")
        ax.set_yticks(range(len(spec.labels)), spec.labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(f"{spec.name} (test)")
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"confusion_{spec.name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def per_label_report(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| task | label | precision | recall | F1 | support |", "|---|---|---|---|---|---|"]
    for task, values in metrics.items():
        for label, s in values.get("per_label", {}).items():
            lines.append(f"| {task} | {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
    return "\n".join(lines) + "\n"


def model_card(kind: str, taxonomy: Mapping[str, Any], dataset_meta: Mapping[str, Any], config: Mapping[str, Any],
               metrics: Mapping[str, Mapping[str, Any]], thresholds: Mapping[str, Sequence[float]],
               safety: SafetyOutcome | None = None, training: Sequence[str] = ()) -> str:
    sizes = dataset_meta.get("sizes", {})
    safety_section = "No safety task in this taxonomy (settings `safety.task`)." if safety is None else _safety_lines(safety, metrics)
    return f"""# occ-insights model card ({kind})

## Intended use
Classifies clinicians' online posts about drugs for the tasks of taxonomy `{taxonomy['version']}`
({', '.join(t['name'] for t in taxonomy['tasks'])}), to help medical-affairs teams find perceptions and
unmet evidence needs. Outputs are probabilities and labels for human review; the adverse-event output routes
posts to the safety team and is tuned for recall, so expect false positives there. Not for decisions about
individual patients.

## Data
Gold labels by majority vote of annotators (ties left out); splits grouped by author (no author in two
splits), test split frozen across runs. Sizes: train {sizes.get('train')}, validation {sizes.get('validation')},
test {sizes.get('test')}. Texts were redacted of personal data before training.

## Training
{chr(10).join(f'- {line}' for line in training) or '- fitted on the train split'}

## Metrics (frozen test split)
```
{metrics_table(metrics)}
```
Mean macro-F1: {mean_macro_f1(metrics):.3f}. Per-label scores: `per_label_report.md`.

## Decision thresholds (tuned on validation)
{chr(10).join(f'- {task}: {", ".join(f"{t:.2f}" for t in values)}' for task, values in thresholds.items()) or '- argmax only'}

## Safety operating point
{safety_section}

## Configuration
{chr(10).join(f'- {k}: {v}' for k, v in sorted(config.items()))}

## Limitations
- Trained on the labeled posts above; performance on other communities, languages or products is unknown
  until measured on their labeled posts.
- The demo corpus is synthetic: its scores say the pipeline works, not that the recipe works on real text.
- Labels with few examples have unstable scores; thresholds for them stay near 0.5 by design.
"""


def _safety_lines(safety: SafetyOutcome, metrics: Mapping[str, Mapping[str, Any]]) -> str:
    test = metrics.get(safety.task, {})
    lines = [f"- {safety.sentence()}."]
    if "recall_at_threshold" in test:
        lines.append(f"- Frozen test split: recall {test['recall_at_threshold']:.3f}, precision "
                     f"{test['precision_at_threshold']:.3f}, {test['flag_share']:.1%} of posts flagged "
                     f"({test['positive_share']:.1%} positive).")
    if not safety.target_met:
        lines.append("- **The recall target is not met**: the safety team receives fewer of the adverse events than "
                     "promised. Label more positives, review the label noise, or train a stronger model.")
    return "\n".join(lines)

