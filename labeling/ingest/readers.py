"""Stream post dumps (JSONL, JSONL.gz, CSV, CSV.gz, Parquet) record by record with bounded memory.

Readers never raise on a bad row: they yield a `RawRecord` carrying a reason instead, so that one bad line is
one quarantined row. Only file-level problems found before reading (missing file, unknown format) raise
`InputError`, which the CLI turns into a one-line error naming the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import pyarrow.parquet as pq

from common.errors import OccError

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class InputError(OccError, ValueError):
    """An input file cannot be read at all (missing, unreadable, unknown format)."""


@dataclass
class RawRecord:
    """One input row: a parsed record, or the reason it could not be parsed. `line` is 1-based."""

    source: str
    line: int
    record: dict[str, Any] | None
    reason: str | None = None
    detail: str | None = None
    raw: str | None = None


def detect_format(path: Path) -> tuple[str, bool]:
    """Return (format, gzipped) from the file name; raise `InputError` for anything else."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (gzipped and fmt == "parquet"):
        raise InputError(
            f"{path}: unknown input format {''.join(path.suffixes) or '(no extension)'}; "
            "use .jsonl, .jsonl.gz, .ndjson, .csv, .csv.gz or .parquet"
        )
    return fmt, gzipped


def check_input(path: Path) -> None:
    """Fail fast, before anything is written, on a path that cannot be read."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; pass the files inside it")
    fmt, gzipped = detect_format(path)
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if fmt == "csv":
        try:
            with _open_binary(path, gzipped) as binary:
                first = binary.readline(1 << 20)
            first.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: the CSV header line is not valid UTF-8") from exc
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{path}: cannot be read ({exc})") from exc
    if fmt == "parquet":
        try:
            pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad footer
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc


def _reject_constant(value: str) -> Any:
    raise ValueError(f"non-standard JSON constant {value}")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        dupes = sorted({k for k, _ in pairs if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key(s) {dupes}")
    return result


_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)


def _shorten(raw: bytes, limit: int) -> str:
    return raw[:limit].decode("utf-8", errors="replace")


def _open_binary(path: Path, gzipped: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def parse_json_line(line: bytes, source: str, line_no: int, max_line_bytes: int, raw_chars: int) -> RawRecord | None:
    """Turn one JSONL line (with or without its newline) into a `RawRecord`, or None for a blank line.

    Shared by `read_jsonl` and the Spark engine (which gets lines from Spark's text reader) so that both
    quarantine the same lines with the same reason, detail and raw text.
    """
    content = line[:-1] if line.endswith(b"\n") else line
    if len(content) > max_line_bytes:
        head = content[: min(raw_chars, max_line_bytes + 1)]
        return RawRecord(source, line_no, None, "line_too_long", f"line longer than {max_line_bytes} bytes", _shorten(head, raw_chars))
    if not line.strip():
        return None  # blank lines are not rows
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RawRecord(source, line_no, None, "invalid_utf8", f"byte {exc.start} is not UTF-8", _shorten(line, raw_chars))
    try:
        obj = _DECODER.decode(text)
    except ValueError as exc:  # JSONDecodeError is a ValueError; so are our strictness checks
        return RawRecord(source, line_no, None, "invalid_json", str(exc)[:200], text[:raw_chars])
    except RecursionError:
        return RawRecord(source, line_no, None, "invalid_json", "nesting too deep", text[:raw_chars])
    if not isinstance(obj, dict):
        return RawRecord(source, line_no, None, "not_an_object", f"a JSON {type(obj).__name__}, not an object", text[:raw_chars])
    return RawRecord(source, line_no, obj, raw=None)


JsonLine = tuple[str, int, bytes]
"""(source, 1-based line number, the line's bytes): a JSONL row not parsed yet, so that parsing can run in a
worker process (`parse_json_line` turns it into a `RawRecord`)."""


def read_jsonl_lines(path: Path, gzipped: bool, max_line_bytes: int) -> Iterator[JsonLine | RawRecord]:
    """The non-blank lines of a JSONL file, unparsed; a truncated stream ends with a `file_truncated` record.

    An over-long line is cut at `max_line_bytes + 1` bytes (enough to quarantine it) and the rest is skipped
    without being held in memory.
    """
    source = str(path)
    line_no = 0
    with _open_binary(path, gzipped) as handle:
        while True:
            try:
                line = handle.readline(max_line_bytes + 1)
            except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip stream
                yield RawRecord(source, line_no + 1, None, "file_truncated", f"stopped reading: {exc}")
                return
            if not line:
                return
            line_no += 1
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                try:  # skip the rest of the over-long line without holding it in memory
                    while True:
                        more = handle.readline(1 << 20)
                        if not more or more.endswith(b"\n"):
                            break
                except (OSError, EOFError, zlib.error):
                    pass
            elif not line.strip():
                continue  # blank lines are not rows (as parse_json_line decides)
            yield source, line_no, line


def read_jsonl(path: Path, gzipped: bool, max_line_bytes: int, raw_chars: int) -> Iterator[RawRecord]:
    for item in read_jsonl_lines(path, gzipped, max_line_bytes):
        if isinstance(item, RawRecord):
            yield item
            continue
        record = parse_json_line(item[2], item[0], item[1], max_line_bytes, raw_chars)
        if record is not None:
            yield record


def _has_surrogates(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_csv(path: Path, gzipped: bool, max_line_bytes: int, raw_chars: int) -> Iterator[RawRecord]:
    source = str(path)
    csv.field_size_limit(max(max_line_bytes, 1024))
    with _open_binary(path, gzipped) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
        reader = csv.reader(text)
        header: list[str] | None = None
        previous_end = 0
        while True:
            start = previous_end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                previous_end = reader.line_num
                yield RawRecord(source, start, None, "csv_parse_error", str(exc)[:200])
                continue
            except (OSError, EOFError, zlib.error) as exc:
                yield RawRecord(source, start, None, "file_truncated", f"stopped reading: {exc}")
                return
            previous_end = reader.line_num
            if header is None:
                header = [h.strip() for h in row]
                if any(_has_surrogates(h) for h in header):
                    yield RawRecord(source, start, None, "invalid_utf8", "the CSV header is not valid UTF-8")
                    return
                continue
            if not row or all(not cell.strip() for cell in row):
                continue
            raw = ",".join(row)
            if any(_has_surrogates(cell) for cell in row):
                yield RawRecord(source, start, None, "invalid_utf8", "a cell is not valid UTF-8",
                                raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:raw_chars])
                continue
            if len(row) != len(header):
                yield RawRecord(source, start, None, "csv_field_count",
                                f"{len(row)} fields where the header has {len(header)}", raw[:raw_chars])
                continue
            yield RawRecord(source, start, {k: (v if v != "" else None) for k, v in zip(header, row)})


def read_parquet(path: Path, batch_rows: int, row_groups: Sequence[int] | None = None) -> Iterator[RawRecord]:
    """Rows of a Parquet file; `row_groups` reads only those groups (lines then count from the first of them),
    which lets the Spark engine read one file's row groups in parallel."""
    source = str(path)
    line_no = 0
    parquet = pq.ParquetFile(path)
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=row_groups):
            for record in batch.to_pylist():
                line_no += 1
                yield RawRecord(source, line_no, record)
    except Exception as exc:  # noqa: BLE001 - a corrupt page mid-file is a file-level stop
        yield RawRecord(source, line_no + 1, None, "file_truncated", f"stopped reading: {exc}"[:300])


def read_units(path: Path, max_line_bytes: int, raw_chars: int, batch_rows: int) -> Iterator[JsonLine | RawRecord]:
    """Like `read_records`, but JSONL lines come unparsed (parsing is most of the reading cost: it belongs in the
    worker processes, `labeling.ingest.batches`)."""
    fmt, gzipped = detect_format(path)
    if fmt == "jsonl":
        return read_jsonl_lines(path, gzipped, max_line_bytes)
    return read_records(path, max_line_bytes, raw_chars, batch_rows)


def read_records(path: Path, max_line_bytes: int, raw_chars: int, batch_rows: int) -> Iterator[RawRecord]:
    fmt, gzipped = detect_format(path)
    if fmt == "jsonl":
        return read_jsonl(path, gzipped, max_line_bytes, raw_chars)
    if fmt == "csv":
        return read_csv(path, gzipped, max_line_bytes, raw_chars)
    return read_parquet(path, batch_rows)
