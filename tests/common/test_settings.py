"""One typed loader for every setting: packaged defaults equal params.yaml, unknown keys and wrong types are
refused with the file and the key, and no setting is defined twice or left unused."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from common.errors import OccError, SettingsError
from common.settings import Settings, load_settings, settings_from_mapping, to_dict

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("common", "labeling", "models", "training", "inference", "review")


def test_packaged_defaults_equal_the_shipped_params_yaml() -> None:
    shipped = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert Settings().to_dict() == shipped
    assert load_settings(ROOT / "params.yaml") == Settings()


def test_without_a_params_file_the_packaged_defaults_apply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings() == Settings()


@pytest.mark.parametrize("text, message", [
    ("ingest:\n  batch_rowz: 10\n", "unknown setting `ingest.batch_rowz`"),
    ("scoring:\n  chunk_rows: 10\n", "unknown setting `scoring`"),
    ("report:\n  weights:\n    virality: 1\n", "unknown setting `report.weights.virality`"),
    ("transformer:\n  inference_precision: int8\n", "unknown setting `transformer.inference_precision`"),
    ("score:\n  chunk_rows: many\n", "`score.chunk_rows` must be an integer"),
    ("baseline:\n  char_ngram_range: [3]\n", "`baseline.char_ngram_range` must be a list of 2 values"),
    ("safety:\n  task: yes\n", "`safety.task` must be a string"),
    ("score:\n  precision: fp16\n", "score.precision must be one of auto, fp32, bf16, int8"),
    ("thresholds:\n  clip: [0.9, 0.1]\n", "thresholds.clip must be [low, high]"),
    ("- just\n- a list\n", "must be a mapping"),
])
def test_bad_settings_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert isinstance(caught.value, OccError)  # the CLI shows it as one line


def test_a_partial_file_keeps_the_other_defaults_and_replace_checks_values() -> None:
    settings = settings_from_mapping({"score": {"chunk_rows": 7}, "report": {"weights": {"growth": 0.2}}})
    assert settings.score.chunk_rows == 7 and settings.score.batch_size == Settings().score.batch_size
    assert settings.report.weights.growth == 0.2 and settings.report.weights.volume == Settings().report.weights.volume
    assert settings.replace("score", precision="int8").score.precision == "int8"
    with pytest.raises(SettingsError, match="score.precision"):
        settings.replace("score", precision="fp64")
    with pytest.raises(SettingsError, match="missing file"):
        load_settings(Path("missing file/params.yaml"))


def test_scoring_precision_and_batch_size_have_one_place_each() -> None:
    names = {f"{section}.{key}" for section, values in Settings().to_dict().items() for key in values}
    assert "score.precision" in names and "score.batch_size" in names
    assert not {"transformer.inference_precision", "transformer.predict_batch_size", "score.safety_task",
                "thresholds.min_recall", "baseline.threshold_strategy"} & names


def test_every_setting_is_read_somewhere_in_the_code() -> None:
    code = "\n".join(p.read_text(encoding="utf-8") for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py")
                     if p != ROOT / "common" / "settings.py")
    unused = []
    for section in dataclasses.fields(Settings):
        for field in dataclasses.fields(section.type if isinstance(section.type, type) else getattr(Settings(), section.name)):
            if field.name == "weights":
                continue  # read as a whole (ReportWeights.normalized)
            if not re.search(rf"(\.{field.name}\b|\"{field.name}\"|\b{field.name}=)", code):
                unused.append(f"{section.name}.{field.name}")
    assert not unused, f"settings nothing reads: {unused}"


def test_to_dict_round_trips() -> None:
    assert settings_from_mapping(to_dict(Settings())) == Settings()
