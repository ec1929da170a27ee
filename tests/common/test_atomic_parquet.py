"""The atomic Parquet writer gathers small batches into row groups without changing a row or its order."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.atomic import AtomicParquetWriter

SCHEMA = pa.schema([("post_id", pa.string()), ("likes", pa.int64())])


def batches(count: int, rows: int) -> list[pa.Table]:
    return [pa.table({"post_id": [f"p{b}-{i}" for i in range(rows)], "likes": list(range(rows))}, schema=SCHEMA)
            for b in range(count)]


@pytest.mark.parametrize("row_group_rows, groups", [(0, [7] * 9), (20, [21, 21, 21])])
def test_row_groups_gather_batches_in_order(tmp_path: Path, row_group_rows: int, groups: list[int]) -> None:
    written = batches(9, 7)
    with AtomicParquetWriter(tmp_path / "out.parquet", SCHEMA, row_group_rows) as writer:
        for table in written[:4]:
            writer.write_table(table)
        writer.write_rows([])  # nothing: no empty row group either
        for table in written[4:]:
            writer.write_rows(table.to_pylist())
        assert not (tmp_path / "out.parquet").exists()  # only whole files appear
    meta = pq.read_metadata(tmp_path / "out.parquet")
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == groups
    assert pq.read_table(tmp_path / "out.parquet").equals(pa.concat_tables(written))


def test_an_aborted_file_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with AtomicParquetWriter(tmp_path / "out.parquet", SCHEMA, 100) as writer:
            writer.write_table(batches(1, 5)[0])
            raise RuntimeError("stopped")
    assert list(tmp_path.iterdir()) == []
