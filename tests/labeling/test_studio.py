"""Label Studio exchange: the generated config, the pre-labeled tasks, and an export coming back as rows.

The exports here are written the way Label Studio's standard JSON export writes them (task and annotation
fields as in Label Studio 1.x exports, `completed_by` both as an int and as a user dict). The slow test checks
the config and every prediction with Label Studio's own parser (label-studio-sdk), run in its own virtual
environment because the SDK pins numpy and must not enter the project's.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import TAXONOMY as OWN_TAXONOMY

from labeling.annotations import check_annotations, read_annotations
from labeling.loop.studio import (
    ImportReport,
    StudioError,
    export_ls,
    import_ls,
    labeling_config,
    tasks_json,
    write_annotations_csv,
)
from labeling.taxonomy import Taxonomy, load_taxonomy, taxonomy_from_dict

ROOT = Path(__file__).resolve().parents[2]
STUDIO_VENV = ROOT / ".venv-studio"
SDK_REQUIREMENT = "label-studio-sdk==2.1.2"

TRICKY = {
    "version": "tricky-1",
    "tasks": [
        {"name": "text", "kind": "single", "description": 'Dose <5 mg & "high" or \'low\'', "labels": [
            {"name": "a<b", "description": 'less-than < and & and "quotes"'},
            {"name": 'say "hi"', "description": "it's <b>bold</b> &amp; done"}]},
        {"name": "tags", "kind": "multi", "description": "$not_a_variable", "labels": [
            {"name": "x&y", "description": "]]> and <!-- not a comment -->"},
            {"name": "plain", "description": ""}]},
        {"name": "flag", "kind": "binary", "positive": "yes", "description": "", "labels": [
            {"name": "no", "description": "No."}, {"name": "yes", "description": "Yes."}]},
    ],
}


def tricky_taxonomy() -> Taxonomy:
    return taxonomy_from_dict(copy.deepcopy(TRICKY), "tricky")


def batch_rows() -> list[dict[str, Any]]:
    """Three posts as `occ label select` writes them: full predictions, null predictions, no key at all."""
    return [
        {"post_id": "p1", "text": "Great response on drug X but <nausea> & cost issues.", "author_id": "a1",
         "platform": "x", "selection": {"strategy": "uncertainty", "score": 0.8, "model": "m-7", "reason": "margin"},
         "predictions": {
             "sentiment": {"labels": ["positive"], "scores": {"negative": 0.1, "neutral": 0.2, "positive": 0.7}},
             "perception": {"labels": ["efficacy", "access_cost"],
                            "scores": {"efficacy": 0.9, "safety_tolerability": 0.4, "access_cost": 0.6,
                                       "administration_convenience": 0.05, "comparison": 0.01}},
             "evidence_need": {"labels": [], "scores": {"long_term_outcomes": 0.2, "safety_signal": 0.1}},
             "adverse_event": {"labels": ["no"], "scores": {"no": 0.85, "yes": 0.15}}}},
        {"post_id": "p2", "text": "Any data in pregnancy?", "author_id": None, "platform": None,
         "selection": {"strategy": "coverage", "score": 0.5, "model": None, "reason": "label definition"},
         "predictions": None},
        {"post_id": "p3", "text": "Switched to the competitor, works better.", "author_id": "a3", "platform": "forum",
         "selection": {"strategy": "random", "score": 0.0, "model": None, "reason": "seeded sample"}},
    ]


def write_batch(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def ls_result(task: str, choices: list[str], region_id: str) -> dict[str, Any]:
    return {"value": {"choices": choices}, "id": region_id, "from_name": task, "to_name": "text",
            "type": "choices", "origin": "manual"}


def ls_annotation(annotation_id: int, task_id: int, completed_by: Any, result: list[dict[str, Any]],
                  cancelled: bool = False, updated_at: str = "2026-11-20T10:00:00.000000Z") -> dict[str, Any]:
    return {"id": annotation_id, "completed_by": completed_by, "result": result, "was_cancelled": cancelled,
            "ground_truth": False, "created_at": "2026-11-20T09:00:00.000000Z", "updated_at": updated_at,
            "draft_created_at": None, "lead_time": 21.4, "prediction": {}, "result_count": 0,
            "unique_id": f"u-{annotation_id}", "import_id": None, "last_action": None, "bulk_created": False,
            "task": task_id, "project": 3, "updated_by": None, "parent_prediction": None,
            "parent_annotation": None, "last_created_by": None}


def ls_task(task_id: int, exported: dict[str, Any], annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """A task as Label Studio's JSON export writes it: our data back, plus Label Studio's own fields."""
    return {"id": task_id, "annotations": annotations, "file_upload": "5f0c2a-tasks.json", "drafts": [],
            "predictions": [900 + task_id] if "predictions" in exported else [], "data": exported["data"],
            "meta": {}, "created_at": "2026-11-19T08:00:00.000000Z", "updated_at": "2026-11-20T10:00:00.000000Z",
            "inner_id": task_id, "total_annotations": len(annotations),
            "cancelled_annotations": sum(a["was_cancelled"] for a in annotations), "total_predictions": 1,
            "comment_count": 0, "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 3,
            "updated_by": 1, "comment_authors": []}


def fabricated_export(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two annotators (user 1 as an int, user 2 as a user dict), one cancelled annotation."""
    user2 = {"id": 2, "first_name": "", "last_name": "", "avatar": None, "email": "reviewer@example.org",
             "initials": "re"}
    return [
        ls_task(1, tasks[0], [
            ls_annotation(11, 1, 1, [ls_result("sentiment", ["positive"], "r1"),
                                     ls_result("perception", ["efficacy", "access_cost"], "r2"),
                                     ls_result("adverse_event", ["no"], "r3")]),
            ls_annotation(12, 1, user2, [ls_result("sentiment", ["neutral"], "r4"),
                                         ls_result("perception", ["efficacy"], "r5"),
                                         ls_result("evidence_need", ["long_term_outcomes"], "r6"),
                                         ls_result("adverse_event", ["yes"], "r7")])]),
        ls_task(2, tasks[1], [
            ls_annotation(13, 2, 1, [ls_result("sentiment", ["neutral"], "r8"),
                                     ls_result("evidence_need", ["special_populations"], "r9"),
                                     ls_result("adverse_event", ["no"], "r10")]),
            ls_annotation(14, 2, user2, [], cancelled=True)]),
        ls_task(3, tasks[2], []),
    ]


EXPECTED_ROWS = [
    ("p1", "sentiment", "positive", "ls_1"),
    ("p1", "perception", "efficacy", "ls_1"),
    ("p1", "perception", "access_cost", "ls_1"),
    ("p1", "evidence_need", "", "ls_1"),
    ("p1", "adverse_event", "no", "ls_1"),
    ("p1", "sentiment", "neutral", "ls_2"),
    ("p1", "perception", "efficacy", "ls_2"),
    ("p1", "evidence_need", "long_term_outcomes", "ls_2"),
    ("p1", "adverse_event", "yes", "ls_2"),
    ("p2", "sentiment", "neutral", "ls_1"),
    ("p2", "perception", "", "ls_1"),
    ("p2", "evidence_need", "special_populations", "ls_1"),
    ("p2", "adverse_event", "no", "ls_1"),
]


def rows_of(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    return sorted(map(tuple, frame[["post_id", "task", "label", "annotator"]].to_numpy().tolist()))


# ------------------------------------------------------------------------------------------------ config


@pytest.mark.parametrize("taxonomy", [load_taxonomy(), tricky_taxonomy(), taxonomy_from_dict(
    copy.deepcopy(OWN_TAXONOMY), "own")], ids=["default", "tricky", "own"])
def test_config_has_one_choices_per_task_with_every_label_and_hint(taxonomy: Taxonomy) -> None:
    root = ET.fromstring(labeling_config(taxonomy))  # also proves the XML is well formed
    texts = root.findall(".//Text")
    assert len(texts) == 1 and texts[0].get("value") == "$text"
    object_name = texts[0].get("name")
    assert object_name not in taxonomy.task_names  # tag names must be unique in a config
    choices = {c.get("name"): c for c in root.iter("Choices")}
    assert list(choices) == taxonomy.task_names
    headers = [h.get("value") for h in root.iter("Header")]
    for task in taxonomy.tasks:
        element = choices[task.name]
        assert element.get("toName") == object_name
        assert element.get("choice") == ("multiple" if task.kind == "multi" else "single-radio")
        assert element.get("required") == (None if task.kind == "multi" else "true")
        found = [(c.get("value"), c.get("hint")) for c in element.findall("Choice")]
        assert found == [(l.name, l.description or None) for l in task.labels]
        assert any(h.startswith(task.name) and task.description in h for h in headers)


def test_config_escapes_markup_in_names_and_descriptions() -> None:
    config = labeling_config(tricky_taxonomy())
    root = ET.fromstring(config)
    hints = {c.get("value"): c.get("hint") for c in root.iter("Choice")}
    assert hints["a<b"] == 'less-than < and & and "quotes"'
    assert hints['say "hi"'] == "it's <b>bold</b> &amp; done"
    assert hints["x&y"] == "]]> and <!-- not a comment -->"
    assert "<b>" not in config and "<!--" not in config  # markup in values stays text
    # Label Studio checks names and toName with regular expressions over the raw text: they need plain quotes.
    assert '<Text name="post_text" value="$text"' in config and '<Choices name="text" toName="post_text"' in config
    # A header never starts with "$" (Label Studio would read it as a data field).
    assert all(not h.get("value", "").startswith("$") for h in root.iter("Header"))


# ----------------------------------------------------------------------------------------------- export


def test_tasks_carry_data_and_scored_predictions() -> None:
    taxonomy = load_taxonomy()
    tasks = tasks_json(batch_rows(), taxonomy, model_version=None)
    assert [t["data"]["post_id"] for t in tasks] == ["p1", "p2", "p3"]
    assert tasks[0]["data"] == {"text": batch_rows()[0]["text"], "post_id": "p1", "author_id": "a1",
                                "platform": "x", "selection_score": 0.8}
    assert "predictions" not in tasks[1] and "predictions" not in tasks[2]
    (prediction,) = tasks[0]["predictions"]
    assert prediction["model_version"] == "m-7"  # from the row's selection when none is given
    results = {r["from_name"]: r for r in prediction["result"]}
    assert set(results) == {"sentiment", "perception", "adverse_event"}  # no empty choices for evidence_need
    assert results["perception"]["value"] == {"choices": ["efficacy", "access_cost"]}
    assert results["sentiment"]["score"] == pytest.approx(0.7)
    assert results["perception"]["score"] == pytest.approx(0.6)  # its least sure decision (access_cost)
    assert results["adverse_event"]["score"] == pytest.approx(0.85)
    # The post's score is its least confident task, evidence_need included though it has no result.
    assert prediction["score"] == pytest.approx(0.6)
    assert all(r["to_name"] == "text" and r["type"] == "choices" for r in prediction["result"])
    assert tasks_json(batch_rows(), taxonomy, "v9")[0]["predictions"][0]["model_version"] == "v9"


def test_export_writes_both_files(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    counts = export_ls(write_batch(tmp_path / "batch.jsonl", batch_rows()), taxonomy, tmp_path / "ls")
    assert counts["posts"] == 3 and counts["with_predictions"] == 1 and counts["prediction_results"] == 3
    assert (tmp_path / "ls" / "labeling_config.xml").read_text(encoding="utf-8") == labeling_config(taxonomy)
    assert json.loads((tmp_path / "ls" / "tasks.json").read_text(encoding="utf-8")) == \
        tasks_json(batch_rows(), taxonomy, None)
    assert not list((tmp_path / "ls").glob(".tmp-*"))


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 2: not valid JSON"),
    ('["a list"]', "line 2: expected a JSON object"),
    ('{"text": "no id"}', "line 2: missing `post_id`"),
    ('{"post_id": "q", "text": "  "}', "line 2: post 'q' has no `text`"),
    ('{"post_id": "q"}', "line 2: post 'q' has no `text`"),
    ('{"post_id": "p1", "text": "again"}', "line 2: post 'p1' repeats line 1"),
    ('{"post_id": "q", "text": "t", "predictions": {"mood": {"labels": [], "scores": {}}}}', "task(s) ['mood']"),
    ('{"post_id": "q", "text": "t", "predictions": {"sentiment": {"labels": ["meh"], "scores": {}}}}',
     "unknown label(s) ['meh']"),
    ('{"post_id": "q", "text": "t", "predictions": {"sentiment": {"labels": ["neutral", "positive"]}}}',
     "takes one predicted label"),
    ('{"post_id": "q", "text": "t", "predictions": {"sentiment": {"labels": [], "scores": {"neutral": 1.5}}}}',
     "probability in [0, 1]"),
])
def test_bad_batch_lines_are_errors_naming_the_line(tmp_path: Path, line: str, message: str) -> None:
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(batch_rows()[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(StudioError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        export_ls(batch, load_taxonomy(), tmp_path / "ls")
    assert not (tmp_path / "ls" / "tasks.json").exists()


# ----------------------------------------------------------------------------------------------- import


def test_round_trip_export_then_label_studio_export_back_to_rows(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    export_ls(write_batch(tmp_path / "batch.jsonl", batch_rows()), taxonomy, tmp_path / "ls")
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text(encoding="utf-8"))
    export = tmp_path / "project-3-at-2026-11-20.json"
    export.write_text(json.dumps(fabricated_export(tasks)), encoding="utf-8")

    frame, report = import_ls(export, taxonomy)

    assert rows_of(frame) == sorted(EXPECTED_ROWS)
    assert report == ImportReport(tasks=3, annotations=3, cancelled_dropped=1, superseded_dropped=0,
                                  rows=len(EXPECTED_ROWS), annotators=2)
    check_annotations(frame, taxonomy)
    write_annotations_csv(frame, tmp_path / "annotations.csv")
    back = read_annotations(tmp_path / "annotations.csv")
    assert rows_of(back) == sorted(EXPECTED_ROWS)  # the empty "none apply" label survives the CSV
    check_annotations(back, taxonomy)
    assert (tmp_path / "annotations.csv").read_text(encoding="utf-8").splitlines()[0] == "post_id,task,label,annotator"


def test_a_later_submission_by_the_same_annotator_replaces_the_earlier(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    tasks = tasks_json(batch_rows(), taxonomy, None)
    first = ls_annotation(21, 1, 1, [ls_result("sentiment", ["negative"], "a")], updated_at="2026-11-20T10:00:00Z")
    second = ls_annotation(22, 1, 1, [ls_result("sentiment", ["positive"], "b")], updated_at="2026-11-21T10:00:00Z")
    export = tmp_path / "export.json"
    export.write_text(json.dumps([ls_task(1, tasks[0], [second, first])]), encoding="utf-8")
    frame, report = import_ls(export, taxonomy)
    assert rows_of(frame) == sorted([("p1", "sentiment", "positive", "ls_1"), ("p1", "perception", "", "ls_1"),
                                     ("p1", "evidence_need", "", "ls_1")])
    assert report.superseded_dropped == 1 and report.annotations == 1


def test_cancelled_annotations_give_no_rows_not_even_empty_multi_labels(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    tasks = tasks_json(batch_rows(), taxonomy, None)
    export = tmp_path / "export.json"
    export.write_text(json.dumps([ls_task(1, tasks[0], [ls_annotation(5, 1, 7, [], cancelled=True)])]),
                      encoding="utf-8")
    frame, report = import_ls(export, taxonomy)
    assert frame.empty and list(frame.columns) == ["post_id", "task", "label", "annotator"]
    assert report == ImportReport(tasks=1, annotations=0, cancelled_dropped=1, rows=0, annotators=0)


def bad_export(mutate) -> list[dict[str, Any]]:
    tasks = tasks_json(batch_rows(), load_taxonomy(), None)
    export = fabricated_export(tasks)
    mutate(export)
    return export


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e[0]["annotations"][0]["result"].append(ls_result("mood", ["happy"], "z")),
     "task 1 .*'mood', which is not a task"),
    (lambda e: e[1]["annotations"][0]["result"][0]["value"].update(choices=["angry"]),
     r"task 2 .*annotation 13: task 'sentiment' has unknown label\(s\) \['angry'\]"),
    (lambda e: e[1]["annotations"][0]["result"][0]["value"].update(choices=["neutral", "positive"]),
     "task 2 .*several labels"),
    (lambda e: e[1]["data"].pop("post_id"), "task 2 has no `data.post_id`"),
    (lambda e: e[0]["annotations"][0].update(completed_by=None), "task 1 .*no annotator"),
    (lambda e: e[0]["annotations"][0]["result"][0].update(type="textarea"), "task 1 .*type 'textarea'"),
])
def test_unknown_tasks_labels_and_missing_ids_are_errors_naming_the_task(tmp_path: Path, mutate, message) -> None:
    export = tmp_path / "export.json"
    export.write_text(json.dumps(bad_export(mutate)), encoding="utf-8")
    with pytest.raises(StudioError, match=message):
        import_ls(export, load_taxonomy())


def test_a_json_min_export_is_refused_with_the_fix(tmp_path: Path) -> None:
    export = tmp_path / "min.json"
    export.write_text(json.dumps([{"id": 1, "text": "t", "post_id": "p1", "sentiment": "neutral",
                                   "annotator": 1, "annotation_id": 3}]), encoding="utf-8")
    with pytest.raises(StudioError, match="JSON-MIN"):
        import_ls(export, load_taxonomy())


# ------------------------------------------------------------------- Label Studio's own parser (its venv)


VALIDATE_SCRIPT = textwrap.dedent('''
    """Check configs, tasks and annotations with label-studio-sdk's LabelInterface; print {case: [errors]} as JSON."""
    import json, sys
    from label_studio_sdk.label_interface import LabelInterface

    report = {}
    for case in json.load(open(sys.argv[1], encoding="utf-8")):
        errors = report.setdefault(case["name"], [])
        li = LabelInterface(open(case["config"], encoding="utf-8").read())
        try:
            li.validate()
        except Exception as exc:
            errors.append(f"config invalid: {exc}")
            continue
        controls = {c.name: c for c in li.controls}
        for task_name, mode in case["choices"].items():
            control = controls.get(task_name)
            if control is None or control.tag != "Choices":
                errors.append(f"no Choices control {task_name!r}")
            elif control.attr.get("choice") != mode:
                errors.append(f"{task_name} choice={control.attr.get('choice')!r}, expected {mode!r}")

        def check_result(where, obj):
            # validate_annotation returns only a bool; both run the same checks, so ask for the messages.
            errors.extend(f"{where}: {e}" for e in li.validate_prediction(obj, return_errors=True))
            for region in obj.get("result", []):
                control = controls.get(region.get("from_name"))
                picked = (region.get("value") or {}).get("choices") or []
                if control is None or control.tag != "Choices":
                    continue  # already reported by the SDK
                if not picked:  # the SDK accepts an empty list; the editor does not
                    errors.append(f"{where}: empty choices for {region['from_name']}")
                if not control.is_multiple_choice and len(picked) > 1:  # not checked by the SDK
                    errors.append(f"{where}: {region['from_name']} is single choice, got {picked}")

        tasks = json.load(open(case["tasks"], encoding="utf-8"))
        for i, task in enumerate(tasks):
            for obj in li.objects:
                if obj.value_is_variable and task["data"].get(obj.value_name) is None:
                    errors.append(f"task {i}: data lacks {obj.value_name!r} for <{obj.tag}>")
            for prediction in task.get("predictions", []):
                check_result(f"task {i} prediction", prediction)
        if case.get("export"):
            for task in json.load(open(case["export"], encoding="utf-8")):
                for annotation in task["annotations"]:
                    if not annotation["was_cancelled"]:
                        check_result(f"export task {task['id']} annotation {annotation['id']}", annotation)
    print(json.dumps(report))
''')


def _sdk_ready(python: Path) -> bool:
    if not python.is_file():
        return False
    code = ("from importlib.metadata import version; import label_studio_sdk.label_interface; "
            "print(version('label-studio-sdk'))")
    probe = subprocess.run([str(python), "-c", code], check=False, capture_output=True, text=True, timeout=120)
    return probe.returncode == 0 and probe.stdout.strip() == SDK_REQUIREMENT.split("==")[1]


@pytest.fixture(scope="session")
def studio_python() -> Path:
    """The Python of `.venv-studio` (label-studio-sdk, apart from the project's numpy), created on first use.

    Not a skip when it cannot be made: this check is the only proof that Label Studio accepts our files.
    """
    python = STUDIO_VENV / "bin" / "python"
    if _sdk_ready(python):
        return python
    how = (f"create it by hand: python3 -m venv {STUDIO_VENV} && "
           f"{python} -m pip install '{SDK_REQUIREMENT}' (needs access to PyPI)")
    steps = [[sys.executable, "-m", "venv", str(STUDIO_VENV)],
             [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", SDK_REQUIREMENT]]
    for step in steps:
        try:
            done = subprocess.run(step, check=False, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"could not set up {STUDIO_VENV} ({' '.join(step[:4])}...: {exc}); {how}")
        if done.returncode != 0:
            pytest.fail(f"could not set up {STUDIO_VENV}: `{' '.join(step)}` failed:\n{done.stderr[-2000:]}\n{how}")
    if not _sdk_ready(python):
        pytest.fail(f"{STUDIO_VENV} was created but cannot import {SDK_REQUIREMENT}; delete it and {how}")
    return python


@pytest.mark.slow
def test_label_studio_sdk_accepts_the_config_tasks_and_annotations(studio_python: Path, tmp_path: Path) -> None:
    cases = []
    taxonomies = {"default": load_taxonomy(), "tricky": tricky_taxonomy()}
    rows = {"default": batch_rows(), "tricky": [
        {"post_id": "t1", "text": "x", "predictions": {
            "text": {"labels": ['say "hi"'], "scores": {"a<b": 0.3, 'say "hi"': 0.7}},
            "tags": {"labels": ["x&y", "plain"], "scores": {"x&y": 0.9, "plain": 0.55}},
            "flag": {"labels": ["yes"], "scores": {"no": 0.4, "yes": 0.6}}}},
        {"post_id": "t2", "text": "y", "predictions": {"tags": {"labels": [], "scores": {}}}}]}
    for name, taxonomy in taxonomies.items():
        out = tmp_path / name
        export_ls(write_batch(tmp_path / f"{name}.jsonl", rows[name]), taxonomy, out)
        case = {"name": name, "config": str(out / "labeling_config.xml"), "tasks": str(out / "tasks.json"),
                "choices": {t.name: "multiple" if t.is_multi else "single-radio" for t in taxonomy.tasks}}
        if name == "default":
            export = out / "export.json"
            export.write_text(json.dumps(fabricated_export(json.loads((out / "tasks.json").read_text()))),
                              encoding="utf-8")
            case["export"] = str(export)
        cases.append(case)
    # Controls: files Label Studio must refuse, so a validator that accepts anything fails this test.
    default = cases[0]
    broken_tasks = json.loads(Path(default["tasks"]).read_text(encoding="utf-8"))
    results = broken_tasks[0]["predictions"][0]["result"]
    results[0]["value"]["choices"] = ["furious"]  # sentiment: unknown label
    results[2]["value"]["choices"] = ["no", "yes"]  # adverse_event: two answers to a single choice
    (tmp_path / "broken_tasks.json").write_text(json.dumps(broken_tasks), encoding="utf-8")
    (tmp_path / "broken.xml").write_text(Path(default["config"]).read_text(encoding="utf-8")
                                         .replace('toName="text"', 'toName="nowhere"', 1), encoding="utf-8")
    cases += [{**default, "name": "control_tasks", "tasks": str(tmp_path / "broken_tasks.json"), "export": None},
              {**default, "name": "control_config", "config": str(tmp_path / "broken.xml"), "export": None}]
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    (tmp_path / "validate.py").write_text(VALIDATE_SCRIPT, encoding="utf-8")

    done = subprocess.run([str(studio_python), str(tmp_path / "validate.py"), str(tmp_path / "cases.json")],
                          check=False, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, f"the validation script crashed:\n{done.stdout}\n{done.stderr[-3000:]}"
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["default"] == [] and report["tricky"] == [], f"Label Studio's parser rejected our files: {report}"
    control = report["control_tasks"]
    assert len(control) == 2 and "Invalid value for control 'sentiment'" in control[0], control
    assert "adverse_event is single choice" in control[1], control
    assert len(report["control_config"]) == 1 and "toName=\"nowhere\" not found" in report["control_config"][0]
