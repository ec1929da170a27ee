"""occ adapt: masked-LM adaptation lowers the held-out loss on in-domain text, and occ train starts from it."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from common.settings import AdaptSettings, TransformerSettings
from helpers import make_labeled_table, write_dump, write_params
from models.tasks import TaskSpec
from models.transformer import TransformerClassifier
from models.transformer.encoder import check_encoder_dir, tiny_encoder
from occ import app
from training.adapt import AdaptError, adapt_encoder, read_post_texts, resolve_encoder


def test_adaptation_lowers_the_held_out_masked_lm_loss(tmp_path: Path) -> None:
    texts = list(make_labeled_table(400, seed=2)["text"])
    settings = AdaptSettings(epochs=3, batch_size=16, learning_rate=1e-3, held_out_fraction=0.1)
    result = adapt_encoder(texts, tiny_encoder(tmp_path / "enc"), tmp_path / "adapted", settings, 64, progress=False)
    assert result.held_out == 40 and result.posts == 360 and len(result.history) == 3
    assert result.loss_after < result.loss_before - 0.5, (result.loss_before, result.loss_after)
    assert check_encoder_dir(result.encoder_dir) == result.encoder_dir  # an ordinary encoder folder

    spec = TaskSpec("flag", "binary", ("no", "yes"), "yes")
    config = TransformerSettings(max_length=64, epochs=1, num_threads=1, precision="fp32")
    model = TransformerClassifier([spec], encoder_dir=result.encoder_dir, config=config)
    model.fit(texts[:50], {"flag": np.arange(50) % 2}, progress=False)
    assert model.predict_proba(texts[:3])["flag"].shape == (3, 2)


def test_bad_inputs_are_clear(tmp_path: Path) -> None:
    empty = tmp_path / "ingested"
    empty.mkdir()
    with pytest.raises(Exception, match="occ ingest"):
        read_post_texts([empty], None, 0)
    with pytest.raises(AdaptError, match="never downloaded"):
        resolve_encoder("https://example.org/encoder", tmp_path)
    with pytest.raises(Exception, match="local"):
        resolve_encoder("sentence-transformers/all-MiniLM-L6-v2", tmp_path)


@pytest.mark.slow
def test_adapt_then_train_from_the_adapted_encoder(tmp_path: Path, tracking: str, own_labels: Path,
                                                    own_taxonomy: Path) -> None:
    runner = CliRunner()
    dump = write_dump(tmp_path / "dump.jsonl", 300, bad=False)
    done = runner.invoke(app, ["ingest", str(dump), "--out", str(tmp_path / "ingested")])
    assert done.exit_code == 0, done.output
    params = write_params(tmp_path / "params.yaml", adapt={"epochs": 1, "batch_size": 16},
                          transformer={"max_length": 64, "epochs": 1, "batch_size": 32, "num_threads": 1},
                          safety={"task": "flag"})
    encoder = tiny_encoder(tmp_path / "enc")
    done = runner.invoke(app, ["adapt", "--posts", str(tmp_path / "ingested"), "--encoder", str(encoder),
                               "--params", str(params)])
    assert done.exit_code == 0, done.output
    uri = next(line.split()[1] for line in done.output.splitlines() if line.startswith("encoder: runs:/"))
    run = mlflow.MlflowClient().get_run(uri.split("/")[1])
    assert run.data.tags["occ.kind"] == "encoder-adaptation"
    assert run.data.metrics["held_out_loss_after"] < run.data.metrics["held_out_loss_before"]

    done = runner.invoke(app, ["train", "--model", "transformer", "--labels", str(own_labels), "--taxonomy",
                               str(own_taxonomy), "--encoder", uri, "--registered-model", "adapted",
                               "--params", str(params), "--json"])
    assert done.exit_code == 0, done.output
    version = mlflow.MlflowClient().get_model_version("adapted", "1")
    assert mlflow.MlflowClient().get_run(version.run_id).data.tags["occ.encoder"] == uri
