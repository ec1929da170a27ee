"""A registry with two tiny baseline versions and post dumps, shared by the scoring tests of one module."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import TAXONOMY, make_labeled_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two registered versions of `occ-score`: v1 (champion) and v2 (challenger)."""

    from helpers import local_mlflow, settings, write_params
    from training.data import build_dataset_from
    from training.train import train_and_register

    home = tmp_path_factory.mktemp("registry")
    with local_mlflow(home) as uri:
        taxonomy = home / "taxonomy.yaml"
        taxonomy.write_text(yaml.safe_dump(TAXONOMY, sort_keys=False))
        labels = home / "labels.csv"
        make_labeled_table(300).to_csv(labels, index=False)
        chosen = {"baseline": {"min_df": 1}, "safety": {"task": "flag"}}
        params = settings(**chosen)
        build_dataset_from(labels, None, taxonomy, home / "dataset", None, params)
        v1 = train_and_register("baseline", home / "dataset", params, registered_model="occ-score")
        v2 = train_and_register("baseline", home / "dataset", settings(baseline={"min_df": 1, "C": 0.5}, safety={"task": "flag"}),
                                registered_model="occ-score")
        params_file = write_params(home / "params.yaml", **chosen, score={"chunk_rows": 200},
                                   registry={"model_name": "occ-score"})
        yield {"uri": uri, "home": home, "v1": v1.version, "v2": v2.version, "params": params_file}

