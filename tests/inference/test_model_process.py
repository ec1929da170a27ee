"""A transformer scored in a process of its own, replaced every few posts, writes the very parts that scoring in
the main process writes."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from helpers import TAXONOMY, local_mlflow, make_labeled_table, settings, write_dump


@pytest.mark.slow
def test_replaced_scoring_processes_write_the_same_parts_as_the_main_process(tmp_path: Path) -> None:
    from inference.scoring.run import score
    from models.transformer.encoder import tiny_encoder
    from training.data import build_dataset_from
    from training.train import train_and_register

    home = tmp_path / "home"
    home.mkdir()
    with local_mlflow(home):
        taxonomy = home / "taxonomy.yaml"
        taxonomy.write_text(yaml.safe_dump(TAXONOMY, sort_keys=False))
        labels = home / "labels.csv"
        make_labeled_table(240).to_csv(labels, index=False)
        fast = {"encoder": str(tiny_encoder(home / "enc")), "epochs": 1, "batch_size": 32, "max_length": 64,
                "num_threads": 1, "precision": "fp32", "refit": False}
        trained = settings(baseline={"min_df": 1}, safety={"task": "flag"}, transformer=fast)
        build_dataset_from(labels, None, taxonomy, home / "dataset", None, trained)
        version = train_and_register("transformer", home / "dataset", trained, registered_model="occ-tr").version
        dump = write_dump(tmp_path / "dump.jsonl", 700, seed=3)
        before = _children()
        runs = {}
        for posts in (0, 300):
            config = settings(baseline={"min_df": 1}, safety={"task": "flag"}, transformer=fast,
                              score={"chunk_rows": 150, "model_process_posts": posts, "precision": "fp32"},
                              ingest={"workers": 1})
            out = tmp_path / f"posts{posts}"
            manifest = score([dump], out, f"models:/occ-tr/{version}", config, progress=False)
            parts = sorted((out / "scores").glob("part-*.parquet"))
            runs[posts] = {"parts": [pq.read_table(p).drop_columns(["scored_at"]).to_pylist() for p in parts],
                           "counts": manifest["counts"], "timings": manifest["timings"]}
    main, child = runs[0], runs[300]
    assert "model_processes" not in main["timings"]
    # where the time went, the stages after the chunk loop included
    assert all(main["timings"][k] >= 0 for k in ("read_validate_s", "score_s", "write_s", "authors_s", "adverse_events_s"))
    # about 630 posts kept, chunks of about 135: a process is replaced after 300 posts, so three score them
    assert child["timings"]["model_processes"] >= 2
    assert child["counts"] == main["counts"] and child["counts"]["reconciled"]
    assert child["parts"] == main["parts"] and len(main["parts"]) >= 4
    assert _children() <= before  # every scoring process ended with its run


def _children() -> set[str]:
    """This process's children, less multiprocessing's resource tracker (started once, it lives as long as we do)."""
    listing = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    pids = listing.read_text().split() if listing.exists() else []
    return {pid for pid in pids if "resource_tracker" not in _cmdline(pid)}


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _die(texts: list[str]) -> dict:
    os._exit(3)  # what the out-of-memory killer does to a scoring process


def test_a_scoring_process_that_dies_gives_a_clear_error() -> None:
    import pyarrow as pa

    from inference.scoring.model_process import ModelProcess, ModelProcessError

    with ModelProcess(_die, 100) as model:
        with pytest.raises(ModelProcessError, match="--resume"):
            model(pa.table({"text": ["a post"]}))
