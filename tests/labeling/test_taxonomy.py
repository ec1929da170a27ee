from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from labeling.taxonomy import TaxonomyError, load_taxonomy, taxonomy_from_dict


def default_dict() -> dict:
    return load_taxonomy().to_dict()


def test_default_taxonomy_matches_design() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy.task_names == ["sentiment", "perception", "evidence_need", "adverse_event"]
    assert taxonomy.task("sentiment").kind == "single"
    assert taxonomy.task("evidence_need").is_multi
    ae = taxonomy.task("adverse_event")
    assert ae.kind == "binary" and ae.positive == "yes" and ae.label_names == ["no", "yes"]
    for task in taxonomy.tasks:
        assert task.description, f"task {task.name} needs a one-line definition"
        for label in task.labels:
            assert label.description, f"label {task.name}/{label.name} needs a one-line definition"


def test_round_trip_through_dict() -> None:
    taxonomy = load_taxonomy()
    assert taxonomy_from_dict(taxonomy.to_dict()) == taxonomy


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d["tasks"].append(copy.deepcopy(d["tasks"][0])), "appears twice"),
        (lambda d: d["tasks"][0].update(kind="ordinal"), "kind"),
        (lambda d: d["tasks"][0]["labels"].append({"name": "neutral"}), "repeats label"),
        (lambda d: d["tasks"][3]["labels"].append({"name": "maybe"}), "exactly two labels"),
        (lambda d: d["tasks"][3].pop("positive"), "positive"),
        (lambda d: d["tasks"][0].update(labels=[]), "non-empty"),
        (lambda d: d["tasks"][1]["labels"].append({"name": "a|b"}), "'|'"),
        (lambda d: d["tasks"][0].update(name="bad name"), "letters"),
        (lambda d: d["tasks"][0].update(positive="positive"), "only applies to binary"),
    ],
)
def test_invalid_taxonomies_name_the_problem(mutate, message: str) -> None:
    data = default_dict()
    mutate(data)
    with pytest.raises(TaxonomyError, match=message):
        taxonomy_from_dict(data)


def test_unquoted_yes_no_labels_are_caught(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "version: 1\ntasks:\n  - name: ae\n    kind: binary\n    positive: yes\n    labels: [no, yes]\n", encoding="utf-8"
    )
    with pytest.raises(TaxonomyError, match="quote"):
        load_taxonomy(path)


def test_own_taxonomy_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"version": "v9", "tasks": [
        {"name": "urgency", "kind": "single", "labels": ["low", "high"]},
        {"name": "topics", "kind": "multi", "labels": [{"name": "cost"}, {"name": "dosing"}]},
    ]}), encoding="utf-8")
    taxonomy = load_taxonomy(path)
    assert taxonomy.version == "v9" and taxonomy.task("topics").label_names == ["cost", "dosing"]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "nope.yaml")


def test_an_unquoted_comma_in_a_one_line_label_is_an_error_not_a_cut_description(tmp_path) -> None:
    path = tmp_path / "taxonomy.yaml"
    path.write_text('version: "1"\ntasks:\n  - name: tone\n    kind: single\n    labels:\n'
                    '      - {name: neg, description: Disapproval, disappointment or concern.}\n'
                    '      - {name: pos, description: "Approval, satisfaction."}\n', encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"unknown key\(s\) \['disappointment or concern.'\].*quote it"):
        load_taxonomy(path)


def test_the_shipped_taxonomy_keeps_every_description_whole() -> None:
    taxonomy = load_taxonomy()
    negative = taxonomy.task("sentiment").labels[0]
    assert negative.description == "Disapproval, disappointment, frustration or concern about the product."
    assert all(label.description.endswith(".") for task in taxonomy.tasks for label in task.labels)
