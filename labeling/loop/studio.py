"""Label Studio exchange: a labeling config and pre-labeled tasks out, annotation rows back in.

Plain XML and JSON, no `label-studio` package at run time, so the project does not inherit its pins. The
config is generated from the taxonomy (never hand-written), so a user's own taxonomy works unchanged and the
Choices names equal the task names that `import_ls` maps back.

Out (`export_ls`): `labeling_config.xml` (one `<Choices>` per task: `single-radio` for single and binary
tasks, `multiple` for multi-label tasks; label definitions as hints) and `tasks.json` (one Label Studio task
per batch post, with the model's predictions pre-filled and scored so Label Studio can sort by confidence).

In (`import_ls`): Label Studio's standard "JSON" export becomes the annotations CSV rows that `occ dataset`
reads (post_id, task, label, annotator). The rules:

- annotator: `ls_<user id>` from `completed_by` (an int, or a dict with `id` in some versions). The numeric
  id is present in every export version and survives e-mail changes; emails are personal data we do not
  want in the labels file. Map ids to people in Label Studio's Organization page.
- a cancelled (skipped) annotation contributes nothing and is counted in `cancelled_dropped`.
- if one annotator has several submitted annotations of the same post (two tabs, or the post imported
  twice), the most recently updated one counts; the others are counted in `superseded_dropped`.
- single/binary task: one row with the chosen label; no choice -> no row (the task was not answered).
- multi-label task: one row per chosen label; a submitted annotation with no choice for the task -> one row
  with an empty label ("annotated: none of the labels apply"). Label Studio shows every `<Choices>` of the
  config on one page, so the annotator saw the task: this assumes the project's config came from
  `labeling_config` of the same taxonomy.
- a result naming a task or label the taxonomy lacks is an error naming the Label Studio task id, never a
  dropped row.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common.atomic import AtomicTextWriter, write_bytes_atomic, write_json_atomic
from common.errors import OccError
from labeling.taxonomy import Task, Taxonomy

ANNOTATION_COLUMNS = ["post_id", "task", "label", "annotator"]
CONFIG_FILE = "labeling_config.xml"
TASKS_FILE = "tasks.json"
TEXT_DATA_KEY = "text"
"""The key of the post text in each task's `data`; the config's Text tag reads `$text`."""
SINGLE_CHOICE_MODE = "single-radio"
"""Radio buttons: one answer, visibly exclusive (Label Studio's `single` mode draws checkboxes)."""
MULTI_CHOICE_MODE = "multiple"


class StudioError(OccError, ValueError):
    """A batch or a Label Studio export cannot be converted; the message names the line or task and the fix."""


@dataclass
class ImportReport:
    """What `import_ls` read and what it left out (every annotation read is in exactly one count).

    `annotations` counts submitted annotations that became rows; `cancelled_dropped` the skipped ones;
    `superseded_dropped` older submissions by the same annotator of the same post.
    """

    tasks: int = 0
    annotations: int = 0
    cancelled_dropped: int = 0
    superseded_dropped: int = 0
    rows: int = 0
    annotators: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


# --------------------------------------------------------------------------------------------- config


def text_object_name(taxonomy: Taxonomy) -> str:
    """The name of the Text tag: "text", unless a task is named so (tag names must be unique in a config)."""
    taken = set(taxonomy.task_names)
    name, n = "text", 0
    while name in taken:
        n += 1
        name = "post_text" if n == 1 else f"post_text_{n}"
    return name


def choice_mode(task: Task) -> str:
    return MULTI_CHOICE_MODE if task.is_multi else SINGLE_CHOICE_MODE


def _header_text(task: Task) -> str:
    # Starts with the task name: Label Studio reads a Header value starting with "$" as a data field, and
    # annotators should see which task the choices below belong to.
    return f"{task.name}: {task.description}" if task.description else task.name


def labeling_config(taxonomy: Taxonomy) -> str:
    """The Label Studio labeling config (XML) for the taxonomy: the post text, then per task a header and choices.

    Built with ElementTree so descriptions with `<`, `&` or quotes stay valid XML. Single and binary tasks are
    `required` (every post has an answer); multi-label tasks are not, since choosing nothing means "none apply".
    """
    object_name = text_object_name(taxonomy)
    view = ET.Element("View")
    ET.SubElement(view, "Text", {"name": object_name, "value": f"${TEXT_DATA_KEY}"})
    for task in taxonomy.tasks:
        block = ET.SubElement(view, "View")
        ET.SubElement(block, "Header", {"value": _header_text(task)})
        attributes = {"name": task.name, "toName": object_name, "choice": choice_mode(task)}
        if not task.is_multi:
            attributes["required"] = "true"
        choices = ET.SubElement(block, "Choices", attributes)
        for label in task.labels:
            choice = {"value": label.name}
            if label.description:
                choice["hint"] = label.description
            ET.SubElement(choices, "Choice", choice)
    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------------------------- batch


def read_batch(batch_path: Path) -> list[dict[str, Any]]:
    """The posts of a batch file (JSONL from `occ label select`), each checked; blank lines are skipped.

    A bad line stops the export with its line number: a post silently missing from Label Studio would never
    be labeled and nobody would notice.
    """
    batch_path = Path(batch_path)
    try:
        # split on "\n" only: splitlines() would also cut at U+2028 inside a JSON string. A batch is small.
        lines = batch_path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise StudioError(f"batch {batch_path}: cannot read it ({exc.strerror or exc}); "
                          "pass the JSONL file that `occ label select` wrote") from exc
    except UnicodeDecodeError as exc:
        raise StudioError(f"batch {batch_path}: not UTF-8 text (byte {exc.start}); "
                          "pass the JSONL file that `occ label select` wrote") from exc
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"batch {batch_path} line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise StudioError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); "
                              "each line must be one JSON object per post") from exc
        if not isinstance(row, dict):
            raise StudioError(f"{where}: expected a JSON object per post, found {type(row).__name__}")
        post_id = row.get("post_id")
        if isinstance(post_id, (int, float)) and not isinstance(post_id, bool):
            post_id = str(post_id)
        if not isinstance(post_id, str) or not post_id.strip():
            raise StudioError(f"{where}: missing `post_id` (found {row.get('post_id')!r}); every post needs "
                              "its id so the labels can come back to it")
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise StudioError(f"{where}: post {post_id!r} has no `text` (found {text!r}); "
                              "an empty post cannot be labeled: fix or remove it in the batch")
        if post_id in first_line:
            raise StudioError(f"{where}: post {post_id!r} repeats line {first_line[post_id]}; "
                              "a post must appear once per batch")
        first_line[post_id] = number
        rows.append({**row, "post_id": post_id, "_line": number})
    return rows


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= value <= 1.0:
        raise StudioError(f"{where}: expected a probability in [0, 1], found {value!r}")
    return float(value)


def task_confidence(task: Task, labels: list[str], scores: dict[str, float]) -> float | None:
    """How sure the model is of its answer to one task, in [0, 1] (None when it gave no scores).

    Single/binary: the probability of the predicted label. Multi-label: the least sure of its per-label
    decisions, p for a predicted label and 1 - p for one left out (so a threshold below 0.5 is respected).
    """
    if task.is_multi:
        decisions = [scores[l] if l in labels else 1.0 - scores[l] for l in task.label_names if l in scores]
        return min(decisions) if decisions else None
    if labels and labels[0] in scores:
        return scores[labels[0]]
    return None


def _prediction(row: dict[str, Any], taxonomy: Taxonomy, object_name: str,
                model_version: str | None) -> dict[str, Any] | None:
    """One Label Studio prediction for a batch row (None when the row has none)."""
    predictions = row.get("predictions")
    if predictions is None:
        return None
    where = f"batch line {row['_line']} (post {row['post_id']!r})"
    if not isinstance(predictions, dict):
        raise StudioError(f"{where}: `predictions` must be an object of task -> {{labels, scores}} or null, "
                          f"found {type(predictions).__name__}")
    unknown = sorted(set(predictions) - set(taxonomy.task_names))
    if unknown:
        raise StudioError(f"{where}: predictions for task(s) {unknown} that taxonomy {taxonomy.version} lacks "
                          f"(its tasks: {taxonomy.task_names}); export with the taxonomy the model was trained on")
    results: list[dict[str, Any]] = []
    confidences: list[float] = []
    for task in taxonomy.tasks:
        entry = predictions.get(task.name)
        if entry is None:
            continue
        task_where = f"{where} task {task.name!r}"
        if not isinstance(entry, dict):
            raise StudioError(f"{task_where}: expected {{\"labels\": [...], \"scores\": {{...}}}}, found {entry!r}")
        labels = entry.get("labels") or []
        scores = entry.get("scores") or {}
        if not isinstance(labels, list) or not isinstance(scores, dict):
            raise StudioError(f"{task_where}: `labels` must be a list and `scores` an object, found {entry!r}")
        bad = sorted({str(l) for l in [*labels, *scores] if l not in task.label_names})
        if bad:
            raise StudioError(f"{task_where}: unknown label(s) {bad}; valid labels are {task.label_names}")
        if not task.is_multi and len(labels) > 1:
            raise StudioError(f"{task_where}: a {task.kind} task takes one predicted label, found {labels}")
        probabilities = {label: _probability(value, f"{task_where} score of {label!r}")
                         for label, value in scores.items()}
        labels = sorted(set(labels), key=task.label_names.index)
        confidence = task_confidence(task, labels, probabilities)
        if confidence is not None:
            confidences.append(confidence)
        if not labels:
            continue  # an empty choices list is not a valid Label Studio result
        result: dict[str, Any] = {"from_name": task.name, "to_name": object_name, "type": "choices",
                                  "value": {"choices": labels}}
        if confidence is not None:
            result["score"] = round(confidence, 6)
        results.append(result)
    selection = row.get("selection") if isinstance(row.get("selection"), dict) else {}
    version = model_version or selection.get("model") or "unknown"
    prediction: dict[str, Any] = {"model_version": str(version), "result": results}
    if confidences:
        prediction["score"] = round(min(confidences), 6)
    return prediction


def tasks_json(batch_rows: list[dict[str, Any]], taxonomy: Taxonomy, model_version: str | None) -> list[dict]:
    """Label Studio tasks for batch rows, with the model's predictions pre-filled.

    The prediction's `score` is the post's least confident task, so sorting Label Studio's data manager by
    prediction score ascending shows the posts the model is least sure of first. `model_version` None uses
    each row's `selection.model` (or "unknown"); rows without predictions get no `predictions` key.
    """
    object_name = text_object_name(taxonomy)
    tasks = []
    for index, row in enumerate(batch_rows, start=1):
        row = {"_line": index, **row}
        selection = row.get("selection") if isinstance(row.get("selection"), dict) else {}
        data = {TEXT_DATA_KEY: row["text"], "post_id": str(row["post_id"]), "author_id": row.get("author_id"),
                "platform": row.get("platform"), "selection_score": selection.get("score")}
        task: dict[str, Any] = {"data": data}
        prediction = _prediction(row, taxonomy, object_name, model_version)
        if prediction is not None:
            task["predictions"] = [prediction]
        tasks.append(task)
    return tasks


def export_ls(batch_path: Path, taxonomy: Taxonomy, out_dir: Path, model_version: str | None = None) -> dict[str, Any]:
    """Write `labeling_config.xml` and `tasks.json` for a batch into `out_dir` (each file atomically).

    Import `tasks.json` into a Label Studio project whose labeling config is `labeling_config.xml`.
    """
    rows = read_batch(batch_path)
    tasks = tasks_json(rows, taxonomy, model_version)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / CONFIG_FILE, labeling_config(taxonomy).encode("utf-8"))
    write_json_atomic(out_dir / TASKS_FILE, tasks)
    with_predictions = [t for t in tasks if "predictions" in t]
    return {"posts": len(tasks), "with_predictions": len(with_predictions),
            "prediction_results": sum(len(t["predictions"][0]["result"]) for t in with_predictions),
            "config": str(out_dir / CONFIG_FILE), "tasks_file": str(out_dir / TASKS_FILE)}


# --------------------------------------------------------------------------------------------- import


def _annotator_id(completed_by: Any, where: str) -> str:
    raw = completed_by.get("id") if isinstance(completed_by, dict) else completed_by
    if isinstance(raw, bool) or raw is None or str(raw).strip() == "":
        raise StudioError(f"{where}: no annotator (`completed_by` is {completed_by!r}); export again from "
                          "Label Studio with the standard JSON format, which names each annotation's user")
    return f"ls_{raw}"


def _load_export(export_path: Path) -> list[dict[str, Any]]:
    export_path = Path(export_path)
    try:
        data = json.loads(export_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StudioError(f"Label Studio export {export_path}: cannot read it ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise StudioError(f"Label Studio export {export_path}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                          "export the project as JSON (Export -> JSON)") from exc
    if isinstance(data, dict) and "data" in data:
        data = [data]  # a single task
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise StudioError(f"Label Studio export {export_path}: expected a JSON list of tasks; "
                          "export the project as JSON (Export -> JSON)")
    for index, task in enumerate(data):
        if "data" not in task or "annotations" not in task:
            raise StudioError(f"Label Studio export {export_path}: task #{index + 1} has no `data`/`annotations` "
                              "(a JSON-MIN or CSV export?); export the project with the full JSON format")
    return data


def _annotation_rows(annotation: dict[str, Any], post_id: str, annotator: str, taxonomy: Taxonomy,
                     where: str) -> list[dict[str, str]]:
    result = annotation.get("result") or []
    if not isinstance(result, list):
        raise StudioError(f"{where}: `result` must be a list, found {type(result).__name__}")
    chosen: dict[str, list[str]] = {}
    for region in result:
        if not isinstance(region, dict):
            raise StudioError(f"{where}: a result entry is not an object: {region!r}")
        name = region.get("from_name")
        if name not in taxonomy.task_names:
            raise StudioError(f"{where}: result for {name!r}, which is not a task of taxonomy {taxonomy.version} "
                              f"(tasks: {taxonomy.task_names}); use the labeling config that `occ` generated "
                              "from this taxonomy, or pass the taxonomy the project was set up with")
        if region.get("type") != "choices":
            raise StudioError(f"{where}: result for task {name!r} has type {region.get('type')!r}, expected "
                              "'choices'; the project's labeling config was changed from the generated one")
        value = region.get("value") or {}
        choices = value.get("choices") if isinstance(value, dict) else None
        if not isinstance(choices, list):
            raise StudioError(f"{where}: result for task {name!r} has no `value.choices` list: {region!r}")
        chosen.setdefault(name, []).extend(str(c) for c in choices)
    rows = []
    for task in taxonomy.tasks:
        labels = chosen.get(task.name, [])
        bad = sorted(set(labels) - set(task.label_names))
        if bad:
            raise StudioError(f"{where}: task {task.name!r} has unknown label(s) {bad}; valid labels are "
                              f"{task.label_names}: fix the project's config or pass the matching taxonomy")
        labels = sorted(set(labels), key=task.label_names.index)
        if not task.is_multi and len(labels) > 1:
            raise StudioError(f"{where}: {task.kind} task {task.name!r} has several labels {labels}; it takes one")
        if task.is_multi and not labels:
            labels = [""]  # submitted with nothing chosen: none of the labels apply
        rows.extend({"post_id": post_id, "task": task.name, "label": l, "annotator": annotator} for l in labels)
    return rows


def import_ls(export_path: Path, taxonomy: Taxonomy) -> tuple[pd.DataFrame, ImportReport]:
    """Annotation rows (post_id, task, label, annotator) from a Label Studio JSON export, and what was read.

    The rules for annotators, cancelled and repeated annotations and empty multi-label answers are in the
    module docstring.
    """
    export = _load_export(export_path)
    report = ImportReport(tasks=len(export))
    latest: dict[tuple[str, str], tuple[tuple[str, int], list[dict[str, str]]]] = {}
    for position, task in enumerate(export):
        task_id = task.get("id", f"#{position + 1}")
        data = task.get("data") or {}
        post_id = data.get("post_id") if isinstance(data, dict) else None
        if post_id is None or str(post_id).strip() == "":
            raise StudioError(f"Label Studio export {export_path}: task {task_id} has no `data.post_id`; import "
                              "tasks from the tasks.json that `occ` exported, which carries each post's id")
        post_id = str(post_id)
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            raise StudioError(f"Label Studio export {export_path}: task {task_id} `annotations` is not a list")
        for order, annotation in enumerate(annotations):
            where = (f"Label Studio export {export_path}: task {task_id} (post {post_id!r}) "
                     f"annotation {annotation.get('id', order + 1) if isinstance(annotation, dict) else order + 1}")
            if not isinstance(annotation, dict):
                raise StudioError(f"{where}: expected an object, found {annotation!r}")
            if annotation.get("was_cancelled"):
                report.cancelled_dropped += 1
                continue
            annotator = _annotator_id(annotation.get("completed_by"), where)
            rows = _annotation_rows(annotation, post_id, annotator, taxonomy, where)
            recency = (str(annotation.get("updated_at") or annotation.get("created_at") or ""),
                       int(annotation["id"]) if isinstance(annotation.get("id"), int) else order)
            key = (post_id, annotator)
            if key in latest:
                report.superseded_dropped += 1
                if latest[key][0] > recency:
                    continue
            latest[key] = (recency, rows)
    all_rows = [row for _, rows in latest.values() for row in rows]
    frame = pd.DataFrame(all_rows, columns=ANNOTATION_COLUMNS).astype(str)
    report.annotations = len(latest)
    report.rows = len(frame)
    report.annotators = int(frame["annotator"].nunique())
    return frame, report


def write_annotations_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write annotation rows as the CSV `occ dataset` reads (post_id, task, label, annotator), atomically."""
    missing = [c for c in ANNOTATION_COLUMNS if c not in frame.columns]
    if missing:
        raise StudioError(f"annotations for {path}: missing column(s) {missing}; expected {ANNOTATION_COLUMNS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with AtomicTextWriter(path) as handle:
        frame[ANNOTATION_COLUMNS].to_csv(handle, index=False)

