"""Where a labels file came from: a checksum, and the sidecar a workspace export writes beside it.

`occ review export` writes `labels.csv` and `labels.csv.meta.json` (the export's id, checksum and counts);
`occ train --labels` records the file's checksum and, when the sidecar still matches the file, the export id
on the MLflow run and the registered version, so a model's lineage names the reviewed labels it learned from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.atomic import write_json_atomic
from common.checksums import sha256_file

META_SUFFIX = ".meta.json"


def meta_path(labels: Path) -> Path:
    return Path(labels).with_name(Path(labels).name + META_SUFFIX)


def write_meta(labels: Path, meta: dict[str, Any]) -> None:
    write_json_atomic(meta_path(labels), {**meta, "sha256": sha256_file(Path(labels))})


def labels_lineage(labels: Path) -> dict[str, str]:
    """Run/version tags naming a labels file: its name and checksum, and the export it came from (if any)."""
    labels = Path(labels)
    digest = sha256_file(labels)
    tags = {"occ.labels": labels.name, "occ.labels.sha256": digest}
    sidecar = meta_path(labels)
    if sidecar.is_file():
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except ValueError:
            meta = {}
        if meta.get("sha256") == digest and meta.get("export_id"):  # an edited table is no longer that export
            tags["occ.labels.export_id"] = str(meta["export_id"])
    return tags
