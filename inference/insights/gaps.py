"""Evidence gaps per product x topic x period and the numbers behind the report (docs/DESIGN.md, "Evidence gaps").

Reading is kept apart from aggregation: `open_scored_run` checks a scored directory, `load_posts` reads only the
columns the report needs (never `text`) into a few compact DataFrames, and everything after that is a pure
function of those frames and the `report` settings, so tests can feed hand-made tables with known answers.

The priority score of a gap (one product, one evidence-need label, one period) is a transparent weighted mean of
six parts, each scaled to [0, 1] so a reviewer can read why a gap ranks where it does:

- volume, authors, reach: ``log1p(x) / log1p(max x over the gaps of that period)``; a log scale because these
  counts are heavy-tailed and one viral post should not flatten every other gap to zero;
- dol_share: share of the gap's posts written by digital opinion leaders (top-k authors by PageRank);
- growth: ``clip(log(growth) / log(growth_cap), 0, 1)`` where ``growth`` is a *lower confidence bound* of the
  rate ratio of the gap's share of the product's posts, this period versus the previous
  ``growth_baseline_periods`` periods (see `guarded_growth`); no growth or a decline scores 0;
- negativity: share of the gap's posts with negative sentiment.

``score = sum(w_i * part_i) / sum(w_i)``, weights from ``params.yaml`` (``report.weights``).

Memory (issue #13 item 3): the per-post frames are compact pandas frames, not an analytic engine. Measured with
`bench/bench_report.py` before choosing: the old frames held pyarrow strings for post, reply, author, account and
label columns (about 170 bytes a post) and the whole run as one Arrow table while they were built; PageRank on a
networkx DiGraph cost about 350 bytes an edge (70 MB at 10^6 posts, 700 MB at 10^7). Ids and labels are now
sorted categoricals (int8/int32 codes), replies are resolved to rows at read time, parts are read one at a time
and PageRank runs on a scipy matrix (network.py), so every aggregation below is unchanged pandas and the numbers
are identical (`tests/inference/test_report_parity.py`). 10^6 posts: 894 -> 567 MiB peak RSS, 32.9 -> 19.5 s;
10^7 posts: 2,346 MiB, 343 s. Then (profiled by sampling RSS around each stage of `build_report` at 10^7):
number columns preallocated from the Parquet footers and periods computed per part (`_Numbers`), no
unused `account_id` column, the gap table and example/over-time views joining only the columns they use
onto their rows (`dated`; they used to copy the whole posts frame first), example posts read one part at a
time, and freed memory returned to the OS between stages (`memory.release_memory`: without it every stage's
peak sat on top of what earlier stages had freed). 10^7 posts: 1,952 MiB peak (profiled run, before the
per-part example read; `bench_report.py`: 1,989 MiB, 437 s on a loaded machine); the largest remaining peaks were
the example candidates and the over-time figures (merges of the long label frames, about +0.9 GB over the
~1.0 GB of live frames). Then the long frames stopped meeting the per-post columns through merges
(`rows.py`): example candidates, over-time figures, platform and hashtag views, the product overview, the gap
table's triples (built one product at a time) and the interaction edges look posts up by `row` in int32
arrays and count with `np.bincount` on codes; author stats sort only what depends on the order; the graph is
built on category codes; the clinician filter drops its per-author temporaries first; and memory is returned
within stages, after each sub-step. Outputs unchanged (`tests/inference/test_report_views.py` compares each
view with the merge it replaced; report.html identical at 10^7). `occ report` under `/usr/bin/time -v`, before
and after on the same runs and the same loaded 2-core machine: 10^7 posts 2,012 -> 1,497 MiB max RSS, 459 ->
377 s (a second run of the new path: 1,509 MiB, 182 s on a quieter machine); 10^6 posts 495 -> 449 MiB,
11.6 -> 9.6 s. The stages' peaks at 10^7 (profiled) now lie between about
1,340 and 1,480 MiB: reading, rising voices, the gap table, the clinician filter and the leaders come
first; below that, the ~0.9 GB of live frames themselves. Figures of the latest bench: `bench/bench_report.py`'s
docstring.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from common.errors import OccError
from common.memory import release_memory
from common.settings import ReportSettings, ReportWeights
from inference.insights.rows import (
    NO_POST,
    category_code,
    membership,
    period_codes,
    post_positions,
    row_array,
    row_size,
    take_column,
    value_codes,
)

logger = logging.getLogger(__name__)

MANIFEST_FILE = "_manifest.json"
SCORES_DIR = "scores"

PARTS: tuple[str, ...] = tuple(ReportWeights.__dataclass_fields__)
"""The score's parts, in the order the report shows them (the fields of `report.weights`).

Growth carries the most weight because Phase IV planning acts on needs that are *rising*; volume stays second
so that a large steady need still outranks a tiny one that merely ticks up."""

PERIOD_FREQ = {"month": "M", "quarter": "Q"}

GAP_COLUMNS: tuple[str, ...] = (
    "period", "product", "topic", "posts", "authors", "specialties", "specialty_mix", "follower_reach", "engagement", "reach",
    "dol_posts", "dol_share", "negative_share", "product_posts", "topic_share", "posts_prev", "baseline_periods",
    "baseline_posts", "baseline_product_posts", "growth_point", "growth", "growth_guarded",
    *(f"part_{p}" for p in PARTS), "score", "rank", "is_rank_period",
)
"""Columns of gaps.parquet / gaps.csv, in order."""


class ReportError(OccError, RuntimeError):
    """The report cannot be built from this input; the message names the problem and the fix."""


class Suppression(Protocol):
    """What the report needs of a suppression (opt-out) list: `labeling.ingest.suppression.SuppressionList`,
    which the CLI loads. A protocol, because the report reads scored runs as files and imports nothing of ingest."""

    @property
    def names(self) -> frozenset[str]: ...  # suppressed handles and author ids, lower-cased, without "@"

    def __bool__(self) -> bool: ...

    def table_mask(self, table: pa.Table) -> Any: ...  # True for the rows of suppressed authors

    def scrub_text(self, text: str) -> str: ...  # "@handle" of a suppressed account -> "@[suppressed]"


# ---- reading ------------------------------------------------------------------------------------------------

@dataclass
class ScoredRun:
    """A complete scored directory: its manifest, part files and the columns they hold."""

    directory: Path
    manifest: dict[str, Any]
    parts: list[Path]
    columns: list[str]
    safety_task: str | None = None
    """The task whose flagged posts went to the safety team in this run (from the manifest; older runs: the
    `safety.task` setting)."""

    @property
    def safety_operating_point(self) -> dict[str, Any] | None:
        """Where the model's safety threshold settled at training time (recall target met or not), if known."""
        return (self.manifest.get("safety") or {}).get("operating_point")

    @property
    def taxonomy(self) -> dict[str, Any]:
        return self.manifest.get("taxonomy") or {"version": None, "tasks": []}

    def task(self, name: str | None) -> dict[str, Any] | None:
        """The taxonomy entry of task `name`, or None when this run's taxonomy has no such task."""
        for task in self.taxonomy.get("tasks", []):
            if task.get("name") == name:
                return task
        return None

    def dataset(self) -> ds.Dataset:
        return ds.dataset([str(p) for p in self.parts], format="parquet")


def task_labels(task: Mapping[str, Any] | None) -> list[str]:
    if not task:
        return []
    return [l["name"] if isinstance(l, Mapping) else str(l) for l in task.get("labels", [])]


def label_descriptions(task: Mapping[str, Any] | None) -> dict[str, str]:
    if not task:
        return {}
    return {l["name"]: str(l.get("description", "")) for l in task.get("labels", []) if isinstance(l, Mapping)}


def open_scored_run(directory: Path, safety_task: str | None = "adverse_event") -> ScoredRun:
    """Check that `directory` is a complete `occ score` output and return its manifest and parts.

    `occ score` writes `_manifest.json` last, so its absence means the run stopped part-way (or this is not a
    scored directory at all); a report built from such a directory would silently miss posts.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"SCORED_DIR {directory} does not exist or is not a folder; pass the --out folder of `occ score`")
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ReportError(f"{directory} is not a complete scoring run: {MANIFEST_FILE} is missing (`occ score` writes it "
                          "last; finish the run with `occ score ... --resume` or point to the right folder)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{manifest_path} cannot be read as JSON ({exc}); rerun `occ score`") from exc
    if not isinstance(manifest, dict) or manifest.get("complete") is not True:
        raise ReportError(f"{directory} is not a complete scoring run: {MANIFEST_FILE} does not say complete: true")
    parts = sorted((directory / SCORES_DIR).glob("part-*.parquet"))
    listed = manifest.get("parts")
    if isinstance(listed, list):
        missing = sorted(set(listed) - {p.name for p in parts})
        if missing:
            raise ReportError(f"{directory}: parts listed in {MANIFEST_FILE} are missing from {SCORES_DIR}/: "
                              f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        parts = [p for p in parts if p.name in set(listed)]
    columns: list[str] = []
    if parts:
        try:
            columns = list(ds.dataset([str(p) for p in parts], format="parquet").schema.names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ReportError(f"{directory}/{SCORES_DIR}: the part files cannot be read as Parquet ({exc})") from exc
        if "post_id" not in columns:
            raise ReportError(f"{directory}/{SCORES_DIR}: the part files have no post_id column; "
                              "this is not `occ score` output")
    recorded = manifest.get("safety")
    task = recorded.get("task") if isinstance(recorded, dict) and "task" in recorded else safety_task
    return ScoredRun(directory, manifest, parts, columns, task)


BASE_COLUMNS: tuple[str, ...] = ("post_id", "platform", "author_id", "author_specialty", "author_followers",
                                 "created_at", "hashtags", "in_reply_to", "mentions", "likes", "shares", "replies",
                                 "products")


def needed_columns(run: ScoredRun, config: ReportSettings) -> list[str]:
    """The columns the aggregation reads: contract metadata and the decided labels, never `text` or scores."""
    wanted = list(BASE_COLUMNS)
    for task in (config.evidence_task, config.sentiment_task, config.perception_task, run.safety_task):
        if task and run.task(task) is not None:
            wanted.append(task)
    return [c for c in dict.fromkeys(wanted) if c in run.columns]


class PostIds:
    """`row` -> post_id, read back from the part files for the few rows that need it (example posts).

    Post ids are unique strings, so a column of them costs as much as every other per-post column together
    (about 20 bytes a post); nothing but the example posts needs them once replies are resolved to rows.
    """

    def __init__(self, parts: Sequence[Path], kept: Sequence[np.ndarray | None], lengths: Sequence[int]) -> None:
        self._parts = list(parts)
        self._kept = list(kept)          # per part: positions of the rows read (None: every row)
        self._starts = np.concatenate([[0], np.cumsum(lengths)]).astype("int64")

    def lookup(self, rows: np.ndarray) -> np.ndarray:
        """The post ids of `rows` (positions in `PostFrames.posts["row"]` numbering), as an object array."""
        rows = np.asarray(rows, dtype="int64")
        out = np.empty(len(rows), dtype=object)
        part_of = np.searchsorted(self._starts, rows, side="right") - 1
        for part in np.unique(part_of):
            at = part_of == part
            local = rows[at] - self._starts[part]
            if self._kept[part] is not None:
                local = self._kept[part][local]
            ids = pq.read_table(self._parts[part], columns=["post_id"]).column("post_id")
            out[at] = ids.take(pa.array(local)).to_numpy(zero_copy_only=False)
        return out


@dataclass
class PostFrames:
    """The scored posts as compact frames keyed by `row` (the post's position in the read data).

    Why compact: a report reads every scored post, and at 10^7 posts string ids in pandas columns cost
    several GB. Ids and labels are pandas categoricals whose categories are sorted, so sorting by one sorts by
    the text and ties break exactly as they did on strings; `author_id` and `mention` share one category list
    (an edge compares them). Replies are resolved to rows at read time (`reply_row`: the row of the post
    replied to; -1 where that post is not in the data; NA for a post that is no reply), so post ids are not
    kept; `post_ids` reads them back for the few rows that need them. List columns are exploded into long
    frames (row, value). Figures (docs/PERFORMANCE.md, `bench/bench_report.py`): see `load_posts`.
    """

    posts: pd.DataFrame
    products: pd.DataFrame
    evidence: pd.DataFrame | None
    perception: pd.DataFrame | None
    hashtags: pd.DataFrame
    mentions: pd.DataFrame
    sentiment_labels: list[str]
    perception_labels: list[str]
    evidence_labels: list[str]
    notes: list[str] = field(default_factory=list)
    period_freq: str = "M"
    suppressed: int = 0
    """Posts left out at read time because their author is on the suppression list."""
    post_ids: PostIds | None = None


def to_period(created_at: pd.Series, freq: str) -> pd.Series:
    """Calendar periods in UTC (a month or quarter starts and ends at UTC midnight for every reader)."""
    ts = pd.to_datetime(created_at, utc=True)
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(freq)


def run_tasks_for(run: ScoredRun, config: ReportSettings) -> dict[str, Any]:
    return {"evidence": run.task(config.evidence_task), "sentiment": run.task(config.sentiment_task),
            "perception": run.task(config.perception_task), "safety": run.task(run.safety_task),
            "safety_name": run.safety_task,
            "_all": run.taxonomy.get("tasks", [])}


class _Coder:
    """Collects a string column part by part as dictionary codes; `finish` gives one sorted categorical.

    Each part is dictionary-encoded on its own (pyarrow), so only int32 codes and each part's distinct values
    are held; the categories are the sorted union, and every part's codes are remapped into it at the end."""

    def __init__(self) -> None:
        self.codes: list[np.ndarray] = []
        self.values: list[pa.Array] = []

    def add(self, array: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        encoded = pc.dictionary_encode(array.cast(pa.string()))
        self.codes.append(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype("int32"))
        self.values.append(encoded.dictionary)

    def categories(self) -> pa.Array:
        if not self.values:
            return pa.array([], pa.string())
        merged = pc.unique(pa.chunked_array(self.values, pa.string()))
        return merged.take(pc.sort_indices(merged))

    def finish(self, categories: pa.Array | None = None) -> pd.Categorical:
        categories = self.categories() if categories is None else categories
        out = []
        for codes, values in zip(self.codes, self.values):
            remap = pc.index_in(values, value_set=categories).to_numpy(zero_copy_only=False)
            remap = np.append(remap.astype("int32"), np.int32(-1)) if len(remap) else np.array([-1], "int32")
            out.append(remap[codes])                  # -1 (null) indexes the appended -1
        self.codes, self.values = [], []
        codes = np.concatenate(out) if out else np.array([], "int32")
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories.to_pylist(), dtype="str"))


class _LongCoder:
    """An exploded list column (row, value) collected part by part; values as a `_Coder`."""

    def __init__(self, lower: bool = False, strip: str = "") -> None:
        self.rows: list[np.ndarray] = []
        self.coder = _Coder()
        self.lower, self.strip = lower, strip

    def add(self, column: pa.ChunkedArray | None, offset: int) -> None:
        if column is None:
            return
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if len(array) == 0 or not pa.types.is_list(array.type) and not pa.types.is_large_list(array.type):
            return
        values = pc.list_flatten(array)
        rows = pc.list_parent_indices(array).to_numpy(zero_copy_only=False).astype("int64") + offset
        if self.strip:
            values = pc.utf8_ltrim(values, characters=self.strip)
        if self.lower:
            values = pc.utf8_lower(values)
        keep = pc.and_(pc.is_valid(values), pc.not_equal(values, "")).to_numpy(zero_copy_only=False) \
            if len(values) else np.zeros(0, bool)
        values = values.filter(pa.array(keep))
        rows = rows[keep]
        # one (row, value) pair once, first occurrence kept, as drop_duplicates on the strings did
        encoded = pc.dictionary_encode(values)
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype("int64")
        pair = rows * (len(encoded.dictionary) + 1) + codes
        _, first = np.unique(pair, return_index=True)
        first.sort()
        self.rows.append(rows[first].astype("int32"))
        self.coder.add(values.take(pa.array(first)))

    def finish(self, name: str, categories: pa.Array | None = None) -> pd.DataFrame:
        rows = np.concatenate(self.rows) if self.rows else np.array([], "int32")
        return pd.DataFrame({"row": rows, name: self.coder.finish(categories)})


def _int_or_zero(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype="int64")
    return pc.fill_null(table.column(name), 0).to_numpy().astype("int64")


def part_rows(parts: Sequence[Path]) -> int:
    """Rows in the part files, from their Parquet footers (no data read): the size to preallocate."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in parts)


def _read_parts(run: ScoredRun, columns: list[str], suppression: Suppression | None
                ) -> Iterable[tuple[pa.Table, np.ndarray | None, int]]:
    """Each part's `columns` with suppressed authors' rows dropped: (table, kept positions or None, rows read)."""
    extra = [c for c in ("author_handle", "person_id") if suppression and c in run.columns and c not in columns]
    for path in run.parts:
        table = pq.read_table(path, columns=[c for c in columns + extra if c in run.columns])
        read = table.num_rows
        kept = None
        if suppression and table.num_rows:
            mask = pc.fill_null(suppression.table_mask(table), False)
            if pc.sum(mask).as_py():
                kept = np.flatnonzero(~mask.to_numpy(zero_copy_only=False)).astype("int64")
                table = table.take(pa.array(kept))
        yield table.drop_columns([c for c in extra if c in table.column_names]), kept, read


class _Replies:
    """Replies resolved to rows without a table of every post id: the first pass keeps only the distinct ids
    replied to (`targets`) and each post's code into them; the main pass looks each part's post ids up in
    `targets` and notes the row of the first post with each id (`see`); `rows` then gives each post the row of
    the post it replies to (-1: not in the data; -2: no reply). A hash table of ten million post ids would
    cost more than all the compact frames together."""

    def __init__(self, run: ScoredRun, suppression: Suppression | None) -> None:
        coder = _Coder()
        for table, _, _ in _read_parts(run, ["in_reply_to", "author_id"], suppression):
            coder.add(table.column("in_reply_to") if "in_reply_to" in table.column_names
                      else pa.nulls(table.num_rows, pa.string()))
        self.targets = coder.categories()
        self.codes = np.asarray(coder.finish(self.targets).codes, dtype="int32")
        self.found = np.full(len(self.targets), -1, dtype="int32")

    def see(self, post_ids: pa.Array | pa.ChunkedArray, offset: int) -> None:
        at = pc.index_in(post_ids, value_set=self.targets).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(~np.isnan(at)) if at.dtype.kind == "f" else np.arange(len(at))
        if not len(rows):
            return
        target = at[rows].astype("int64")
        target, first = np.unique(target, return_index=True)      # first post with each id in this part
        unseen = self.found[target] < 0
        self.found[target[unseen]] = (rows[first] + offset)[unseen]

    def rows(self) -> np.ndarray:
        out = np.where(self.codes >= 0, np.append(self.found, -1)[self.codes], -2).astype("int32")
        self.codes = self.found = np.zeros(0, dtype="int32")
        return out


class PostSource(Protocol):
    """Where `load_posts` gets the scored posts from, part by part: the local engine reads the part files
    (`LocalSource`); the Spark engine (`spark_frames.py`) reads what Spark reduced them to. Either way the
    same code below turns the tables into frames, so the numbers cannot differ between engines."""

    capacity: int  # at least as many rows as `tables` yields in all (for preallocated columns)

    def tables(self) -> Iterable[tuple[pa.Table, np.ndarray | None, int]]: ...  # (table, kept rows, rows read)

    def see(self, table: pa.Table, offset: int) -> None: ...  # a table as read, its first row is `offset`

    def reply_rows(self) -> np.ndarray: ...  # per row: row replied to, -1 not in the data, -2 no reply

    def post_ids(self, kept: Sequence[np.ndarray | None], lengths: Sequence[int]) -> PostIds | None: ...


class LocalSource:
    """The part files of a scored run, read one at a time in this process (`occ report`, the default)."""

    def __init__(self, run: ScoredRun, columns: list[str], suppression: Suppression | None) -> None:
        self.run, self.columns, self.suppression = run, columns, suppression
        self.capacity = part_rows(run.parts)
        self.replies = _Replies(run, suppression) if run.parts else None

    def tables(self) -> Iterable[tuple[pa.Table, np.ndarray | None, int]]:
        return _read_parts(self.run, self.columns, self.suppression) if self.run.parts else iter(())

    def see(self, table: pa.Table, offset: int) -> None:
        if self.replies is not None:
            self.replies.see(table.column("post_id"), offset)

    def reply_rows(self) -> np.ndarray:
        return self.replies.rows() if self.replies is not None else np.zeros(0, "int32")

    def post_ids(self, kept: Sequence[np.ndarray | None], lengths: Sequence[int]) -> PostIds | None:
        return PostIds(self.run.parts, kept, lengths)


class _Numbers:
    """The per-post number columns, written part by part into arrays preallocated from the Parquet footers.

    Collecting per-part pieces and concatenating them held every column twice at the end, and turning the
    whole `created_at` column into periods made three more full-length copies; at 10^7 posts that was the
    peak of reading. Periods are computed per part here (the same `to_period`), so only their ordinals stay.
    """

    def __init__(self, capacity: int, freq: str) -> None:
        self.freq = freq
        self.followers = np.zeros(capacity, "float64")
        self.followers_na = np.ones(capacity, bool)
        self.engagement = np.zeros(capacity, "int64")
        self.created = np.zeros(capacity, "int64")        # datetime64[us] UTC as int64 (NaT: int64 min)
        self.periods = np.zeros(capacity, "int64")        # period ordinals (NaT: int64 min)
        self.adverse = np.zeros(capacity, bool)

    def add(self, table: pa.Table, offset: int, adverse: pa.Array | None) -> None:
        n = table.num_rows
        at = slice(offset, offset + n)
        names = table.column_names
        if "author_followers" in names:  # NaN and null both become NA, as `.astype("Float64")` did
            values = table.column("author_followers").to_pandas().to_numpy(dtype="float64", na_value=np.nan)
            self.followers[at] = values
            self.followers_na[at] = np.isnan(values)
        self.engagement[at] = _int_or_zero(table, "likes") + _int_or_zero(table, "shares") + _int_or_zero(table, "replies")
        created = pd.to_datetime(table.column("created_at").to_pandas(), utc=True).dt.as_unit("us") \
            if "created_at" in names else pd.Series([pd.NaT] * n, dtype="datetime64[us, UTC]")
        self.created[at] = created.array.asi8
        self.periods[at] = to_period(created, self.freq).array.asi8
        if adverse is not None:
            self.adverse[at] = adverse.to_numpy(zero_copy_only=False)

    def columns(self, n: int, adverse: bool) -> dict[str, Any]:
        """The finished columns of the first `n` rows (the arrays are given up: call once)."""
        def cut(values: np.ndarray) -> np.ndarray:
            return values if len(values) == n else values[:n].copy()

        out = {
            "followers": pd.arrays.FloatingArray(cut(self.followers), cut(self.followers_na)),
            "engagement": cut(self.engagement),
            "created_at": pd.Series(cut(self.created).view("M8[us]")).dt.tz_localize("UTC").array,
            "period": pd.arrays.PeriodArray(cut(self.periods), dtype=pd.PeriodDtype(self.freq)),
            "adverse_event": pd.arrays.BooleanArray(cut(self.adverse), np.zeros(n, bool)) if adverse
            else pd.arrays.BooleanArray(np.zeros(n, bool), np.ones(n, bool)),
        }
        self.followers = self.followers_na = self.engagement = self.created = self.periods = self.adverse = None  # type: ignore[assignment]
        return out


def load_posts(run: ScoredRun, config: ReportSettings, suppression: Suppression | None = None,
               source: PostSource | None = None) -> PostFrames:
    """Read the needed columns of every part (no text, no score structs) into compact `PostFrames`.

    Part by part: each part's columns are dictionary-encoded and exploded while only that part is held, and
    the number columns go into arrays sized from the Parquet footers, so the peak is the compact frames plus
    one part, not the whole run as Arrow and pandas strings at once. `source` is where the parts come from
    (default: this process reads the part files; `spark_frames.SparkSource` for `--engine spark`).

    With a suppression list, the rows of suppressed authors are dropped as they are read and suppressed accounts
    are removed from the mentions: a run scored before someone opted out must not profile them either (their
    posts leave the figures, gap counts and leader lists; replies to their posts no longer resolve to an author).
    """
    columns = needed_columns(run, config)
    run_tasks = run_tasks_for(run, config)
    names = set(run.columns)
    freq = PERIOD_FREQ[config.period]
    safety_task = run_tasks.get("safety")
    safety_name = safety_task.get("name") if safety_task is not None else run_tasks.get("safety_name")
    sentiment_task = run_tasks.get("sentiment")
    has_sentiment = sentiment_task is not None and config.sentiment_task in names \
        and not _is_list_column(run, config.sentiment_task)
    positive = None
    if safety_task is not None and safety_name in names:
        positive = safety_task.get("positive")
        if positive is None:
            labels = task_labels(safety_task)
            positive = labels[-1] if len(labels) == 2 else None
    evidence_task = run_tasks.get("evidence")
    has_evidence = evidence_task is not None and evidence_task.get("kind") == "multi" and config.evidence_task in names
    perception_task = run_tasks.get("perception")
    has_perception = perception_task is not None and perception_task.get("kind") == "multi" \
        and config.perception_task in names

    source = source if source is not None else LocalSource(run, columns, suppression)
    authors, specialty, platform, sentiment = _Coder(), _Coder(), _Coder(), _Coder()
    products, evidence, perception = _LongCoder(), _LongCoder(), _LongCoder()
    hashtags, mentions = _LongCoder(lower=True, strip="#"), _LongCoder(strip="@")
    numbers = _Numbers(source.capacity, freq)
    kept_parts, lengths = [], []
    offset = dropped = 0
    for table, kept, read in source.tables():
        n = table.num_rows
        dropped += read - n
        kept_parts.append(kept)
        lengths.append(n)
        source.see(table, offset)

        def column(name: str) -> pa.Array:
            return table.column(name) if name in table.column_names else pa.nulls(n, pa.string())

        authors.add(column("author_id"))
        specialty.add(column("author_specialty"))
        platform.add(column("platform"))
        sentiment.add(column(config.sentiment_task) if has_sentiment else pa.nulls(n, pa.string()))
        numbers.add(table, offset, pc.fill_null(pc.equal(table.column(safety_name).cast(pa.string()), str(positive)),
                                                False) if positive is not None else None)
        products.add(table.column("products") if "products" in table.column_names else None, offset)
        if has_evidence:
            evidence.add(table.column(config.evidence_task), offset)
        if has_perception:
            perception.add(table.column(config.perception_task), offset)
        hashtags.add(table.column("hashtags") if "hashtags" in table.column_names else None, offset)
        mentions.add(table.column("mentions") if "mentions" in table.column_names else None, offset)
        offset += n
        del table
    n = offset
    release_memory()  # the parts' Arrow buffers and pandas temporaries: give them back before the frames grow
    logger.info("read %d scored posts (%d columns) from %s%s", n, len(columns), run.directory,
                f"; {dropped} posts of suppressed authors left out" if suppression else "")

    voices = pa.chunked_array([authors.categories(), mentions.coder.categories()], pa.string())
    voices = pc.unique(voices)
    voices = voices.take(pc.sort_indices(voices))
    mention_frame = mentions.finish("mention", voices)
    reply_rows = source.reply_rows()
    reply = pd.arrays.IntegerArray(np.where(reply_rows == -2, 0, reply_rows).astype("int32"), reply_rows == -2)
    del reply_rows
    posts = pd.DataFrame({
        "row": np.arange(n, dtype="int32"),
        "author_id": authors.finish(voices),
        "specialty": specialty.finish(),
        "platform": platform.finish(),
        "reply_row": reply,
    })
    del reply
    number_columns = numbers.columns(n, positive is not None)
    for name in ("followers", "engagement", "created_at", "period"):
        posts[name] = number_columns.pop(name)
    posts["sentiment"] = sentiment.finish()
    posts["adverse_event"] = number_columns.pop("adverse_event")
    del number_columns

    notes = _read_notes(run, posts, n, config, sentiment_task, has_sentiment, safety_task, safety_name, evidence_task,
                        has_evidence, perception_task, has_perception, run_tasks)
    sentiment_labels = task_labels(sentiment_task) if has_sentiment else []
    frames = PostFrames(posts, products.finish("product"), evidence.finish("topic") if has_evidence else None,
                        perception.finish("label") if has_perception else None, hashtags.finish("hashtag"),
                        mention_frame, sentiment_labels, task_labels(perception_task) if has_perception else [],
                        task_labels(evidence_task) if has_evidence else [], notes, freq,
                        post_ids=source.post_ids(kept_parts, lengths))
    if suppression and not frames.mentions.empty:
        mention = frames.mentions["mention"]
        keys = pd.Series(mention.cat.categories).str.strip().str.lstrip("@").str.lower()
        suppressed = keys.isin(suppression.names).to_numpy()
        codes = mention.cat.codes.to_numpy()
        frames.mentions = frames.mentions[~suppressed[codes]].reset_index(drop=True)
    frames.suppressed = dropped
    if dropped:
        frames.notes.append(f"{dropped} posts by authors on the suppression list were left out, and those authors "
                            "were removed from mentions")
    if not run.parts or n == 0:
        frames.notes.insert(0, "the scored directory holds no scored posts")
    release_memory()
    return frames


def _is_list_column(run: ScoredRun, name: str) -> bool:
    schema = pq.read_schema(run.parts[0]) if run.parts else None
    return schema is not None and name in schema.names and pa.types.is_list(schema.field(name).type)


def _read_notes(run: ScoredRun, posts: pd.DataFrame, n: int, config: ReportSettings, sentiment_task: Any,
                has_sentiment: bool, safety_task: Any, safety_name: Any, evidence_task: Any, has_evidence: bool,
                perception_task: Any, has_perception: bool, run_tasks: Mapping[str, Any]) -> list[str]:
    """What the read data cannot support, in the order the report lists it."""
    notes: list[str] = []
    missing = [c for c in BASE_COLUMNS if c not in run.columns] if run.parts else [c for c in BASE_COLUMNS if c != "post_id"]
    if missing:
        notes.append(f"the scored data has no column(s) {', '.join(missing)}; what depends on them is left empty")
    if n:
        no_time = int(posts["created_at"].isna().sum())
        if no_time:
            notes.append(f"{no_time} of {n} posts have no created_at and are left out of every per-period figure")
        no_followers = int(posts["followers"].isna().sum())
        if no_followers == n:
            notes.append("follower counts are missing for every post: reach counts engagement only")
        elif no_followers:
            notes.append(f"follower counts are missing for {no_followers} of {n} posts ({no_followers / n:.0%}): "
                         "reach counts followers only where known")
        if posts["author_id"].isna().all():
            notes.append("no post has an author_id: distinct authors, reach by follower and opinion leaders "
                         "cannot be computed")
    sentiment_labels = task_labels(sentiment_task)
    if has_sentiment:
        if config.negative_label not in sentiment_labels:
            notes.append(f"sentiment task {config.sentiment_task!r} has no label {config.negative_label!r} "
                         f"(labels: {', '.join(sentiment_labels)}): negative share cannot be computed")
    else:
        notes.append(f"this run's taxonomy has no single-label task {config.sentiment_task!r} "
                     "(report.sentiment_task): negative share and sentiment over time cannot be computed")
    if not (safety_task is not None and safety_name in run.columns):
        notes.append(f"this run's taxonomy has no task {safety_name!r} (safety.task): "
                     "adverse-event counts per product cannot be shown")
    if "products" not in run.columns:
        notes.append("the scored data has no products column: nothing can be attributed to a product")
    if not has_evidence:
        found = [t.get("name") for t in run_tasks.get("_all", [])] if run_tasks.get("_all") else []
        notes.append(f"this run's taxonomy has no multi-label task {config.evidence_task!r} (report.evidence_task); "
                     f"tasks found: {', '.join(map(str, found)) or 'none'}: the evidence-gap table cannot be computed")
    if not has_perception:
        notes.append(f"this run's taxonomy has no multi-label task {config.perception_task!r} (report.perception_task): "
                     "perception over time cannot be shown")
    return notes


def read_post_fields(run: ScoredRun, post_ids: Iterable[str], columns: Sequence[str]) -> pd.DataFrame:
    """Read `columns` of the given posts only (a filtered scan), e.g. `text` for the example posts."""
    ids = sorted(set(post_ids))
    present = [c for c in dict.fromkeys(["post_id", *columns]) if c in run.columns]
    if not ids or not run.parts:
        return pd.DataFrame({c: [] for c in present})
    # one part at a time: a dataset scan reads several parts ahead, with their score structs and texts, which
    # at 10^7 posts was one of the report's memory peaks
    wanted = pc.field("post_id").isin(pa.array(ids, pa.string()))
    tables = [ds.dataset(str(path), format="parquet").to_table(columns=present, filter=wanted) for path in run.parts]
    return pa.concat_tables(tables).to_pandas()


def read_confidence(run: ScoredRun, post_ids: pd.Series, topics: pd.Series, column: str) -> np.ndarray:
    """Per (post, topic), the post's score for that topic in `column` (NaN where the post, its scores or the
    topic's score is missing, and where the score is 0: a score of 0 is no confidence).

    A struct column's fields are read as arrays; turning every candidate's struct into a Python dict held
    about 200 MB at 10^7 posts. Any other type (not a mapping once read) gives NaN, as it always did."""
    out = np.full(len(post_ids), np.nan)
    if not len(post_ids) or not run.parts:
        return out
    scored = _read_rows(run, post_ids, ["post_id", column])
    if not pa.types.is_struct(scored.schema.field(column).type):
        return out
    ids = pd.Index(scored.column("post_id").to_pandas())
    last = ~ids.duplicated(keep="last")           # a later row of the same post wins, as a dict overwrote
    at = pd.Index(ids[last]).get_indexer(post_ids.astype("str"))
    scores = scored.column(column).combine_chunks().filter(pa.array(last))
    for topic in pd.unique(topics):
        if scores.type.get_field_index(topic) < 0:
            continue
        values = pc.struct_field(scores, topic).to_numpy(zero_copy_only=False).astype("float64")
        wanted = (topics == topic).to_numpy() & (at >= 0)
        found = values[at[wanted]]
        out[wanted] = np.where(np.isnan(found) | (found == 0), np.nan, found)
    return out


def _read_rows(run: ScoredRun, post_ids: Iterable[str], columns: Sequence[str]) -> pa.Table:
    """`columns` of the given posts as one Arrow table, read part by part (see `read_post_fields`)."""
    ids = sorted(set(post_ids))
    wanted = pc.field("post_id").isin(pa.array(ids, pa.string()))
    return pa.concat_tables([ds.dataset(str(path), format="parquet").to_table(columns=list(columns), filter=wanted)
                             for path in run.parts])


# ---- periods -------------------------------------------------------------------------------------------------

def dated(posts: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`columns` of the posts that have a period. Columns first, then rows, and no row filter when every post
    has one: filtering the whole posts frame first copied all of its columns (0.5 GB at 10^7 posts)."""
    known = posts["period"].notna().to_numpy()
    return posts[columns] if known.all() else posts.loc[known, columns]


def period_range(frames: PostFrames) -> pd.PeriodIndex:
    """Every period from the first to the last post, including empty ones (an empty month is a real zero)."""
    periods = frames.posts["period"].dropna()
    if periods.empty:
        return pd.PeriodIndex([], freq=frames.period_freq)
    return pd.period_range(periods.min(), periods.max(), freq=frames.period_freq)


def choose_rank_period(frames: PostFrames, config: ReportSettings) -> tuple[pd.Period | None, list[str]]:
    """The period the ranking describes: `report.rank_period` if set, else the latest *complete* period.

    The latest period counts as complete when the newest post falls on its last calendar day (UTC); a dump cut
    mid-month would otherwise make every gap look like it is shrinking, so the ranking uses the period before.
    """
    notes: list[str] = []
    periods = period_range(frames)
    if len(periods) == 0:
        return None, ["no post has a usable created_at: nothing can be ranked by period"]
    if config.rank_period:
        try:
            wanted = pd.Period(config.rank_period, freq=frames.period_freq)
        except (ValueError, TypeError) as exc:
            raise ReportError(f"report.rank_period {config.rank_period!r} is not a {config.period} "
                              f"(e.g. {periods[-1]})") from exc
        if wanted not in periods:
            raise ReportError(f"report.rank_period {wanted} is outside the data ({periods[0]} .. {periods[-1]})")
        return wanted, notes
    last = periods[-1]
    newest = pd.to_datetime(frames.posts["created_at"], utc=True).max().tz_localize(None)
    last_day = last.end_time.normalize()
    if newest >= last_day:
        return last, notes
    if len(periods) == 1:
        notes.append(f"the only period {last} is incomplete (newest post {newest:%Y-%m-%d}); it is ranked anyway")
        return last, notes
    notes.append(f"period {last} is incomplete (newest post {newest:%Y-%m-%d}); the ranking uses {periods[-2]}")
    return periods[-2], notes


# ---- growth ---------------------------------------------------------------------------------------------------

def wilson_lower(successes: np.ndarray, trials: np.ndarray, z: float) -> np.ndarray:
    """One-sided Wilson score lower bound of a binomial proportion (0 where there are no trials)."""
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / n, 0.0)
        denom = 1 + z * z / n
        centre = p + z * z / (2 * n)
        spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low = (centre - spread) / denom
    return np.where(n > 0, np.clip(low, 0.0, 1.0), 0.0)


def guarded_growth(posts: np.ndarray, exposure: np.ndarray, base_posts: np.ndarray, base_exposure: np.ndarray,
                   z: float, min_posts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Growth of a topic's share of a product's posts, now vs a baseline, guarded against tiny counts.

    Why this estimator: with Poisson counts, conditional on the total ``x + b`` the current count ``x`` is
    binomial with ``pi = R*E / (R*E + E_b)`` (R = rate ratio, E = the product's posts now, E_b in the baseline).
    The one-sided Wilson lower bound of ``pi`` gives a lower bound of R that shrinks toward nothing when counts
    are small (2 posts after 0 is no evidence of a trend) and approaches the point estimate as counts grow.
    Measuring the *share* of the product's posts (not the raw count) keeps a product-wide burst (a launch, a
    congress) from making all its topics look like rising needs.

    Returns (lower-bound rate ratio, Laplace-smoothed point ratio, guarded flag). Where ``x + b < min_posts`` or
    either exposure is zero the growth is set to 1.0 (neutral) and flagged, so it neither helps nor hurts.
    """
    x = np.asarray(posts, dtype="float64")
    e = np.asarray(exposure, dtype="float64")
    b = np.nan_to_num(np.asarray(base_posts, dtype="float64"), nan=0.0)
    eb = np.nan_to_num(np.asarray(base_exposure, dtype="float64"), nan=0.0)
    guarded = (x + b < min_posts) | (e <= 0) | (eb <= 0)
    p_low = wilson_lower(x, x + b, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(p_low < 1.0, p_low / (1.0 - p_low), np.inf)
        lower = odds * eb / e
        point = ((x + 0.5) / e) / ((b + 0.5) / eb)
    lower = np.where(guarded, 1.0, lower)
    point = np.where((e > 0) & (eb > 0), point, np.nan)
    return lower, point, guarded


# ---- the gap table --------------------------------------------------------------------------------------------

def _log_share_of_max(values: pd.Series, groups: pd.Series) -> pd.Series:
    v = values.astype("float64").fillna(0.0).clip(lower=0.0)
    top = v.groupby(groups).transform("max")
    out = np.log1p(v) / np.log1p(top)
    return out.where(top > 0, 0.0).fillna(0.0)


def select_products(frames: PostFrames, products: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The products to report on: those asked for (matched case-insensitively), else every product found."""
    found = _by_frequency(frames.products["product"])
    if not products:
        return found, []
    by_lower = {p.lower(): p for p in found}
    chosen, notes = [], []
    for wanted in products:
        match = by_lower.get(wanted.lower())
        if match is None:
            notes.append(f"product {wanted!r} has no posts in this scored data")
            chosen.append(wanted)
        elif match not in chosen:
            chosen.append(match)
    return chosen, notes


def _by_frequency(values: pd.Series) -> list[str]:
    """Distinct values, most frequent first, ties in order of first appearance (what `value_counts` gives on
    strings), computed on a categorical's codes instead of materializing every string."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return list(values.value_counts().index)
    codes = values.cat.codes.to_numpy()
    codes = codes[codes >= 0]
    present, first, counts = np.unique(codes, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    counted = pd.Series(counts[order], index=pd.Index(values.cat.categories[present[order]], dtype="str"))
    return list(counted.sort_values(ascending=False, kind="stable").index)


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A small aggregated frame with categorical columns and index levels turned back into strings (what
    callers and writers expect; categoricals are for the per-post frames)."""
    frame = frame.copy()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(frame[name].cat.categories.dtype)
    return frame


def _plain_index(series: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    names = list(series.index.names)
    flat = plain(series.reset_index())
    return flat.set_index(names)[series.name] if isinstance(series, pd.Series) else flat.set_index(names)


def gap_table(frames: PostFrames, config: ReportSettings, products: Sequence[str], dol_authors: set[str],
              rank_period: pd.Period | None) -> pd.DataFrame:
    """One row per (product, evidence-need label, period): the aggregates, the score's parts and the score.

    Rows exist for every product x label x period in range, zeros included, because growth and "nobody asked
    this month" both need the zeros.
    """
    periods = period_range(frames)
    labels = frames.evidence_labels
    if frames.evidence is None or not labels or len(periods) == 0 or not products:
        return _empty_gaps()
    exposure = _exposure(frames, products, periods)
    keys = ["product", "topic", "period"]
    negative_known = config.negative_label in frames.sentiment_labels
    pieces = [_gap_aggregates(triples, keys, dol_authors, config.negative_label, negative_known)
              for triples in _gap_triples(frames, products, labels)]
    agg, follower_reach, mix = (_concat_pieces([piece[i] for piece in pieces]) for i in range(3))
    del pieces

    grid = pd.MultiIndex.from_product([list(products), labels, periods], names=keys)
    table = agg.join(follower_reach).join(mix).reindex(grid)
    for col in ("posts", "authors", "specialties", "engagement", "dol_posts", "neg", "neg_known"):
        table[col] = table[col].fillna(0).astype("int64")
    table["follower_reach"] = table["follower_reach"].astype("Float64").fillna(0).astype("float64")
    if frames.posts["followers"].isna().all():
        table["follower_reach"] = np.nan
    table = table.reset_index()
    table = table.merge(exposure.reset_index(), on=["product", "period"], how="left")
    table["product_posts"] = table["product_posts"].fillna(0).astype("int64")
    table["reach"] = table["follower_reach"].fillna(0.0) + table["engagement"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["dol_share"] = np.where(table["posts"] > 0, table["dol_posts"] / table["posts"].where(table["posts"] > 0), np.nan)
        table["negative_share"] = np.where(table["neg_known"] > 0, table["neg"] / table["neg_known"].where(table["neg_known"] > 0), np.nan)
        table["topic_share"] = np.where(table["product_posts"] > 0, table["posts"] / table["product_posts"].where(table["product_posts"] > 0), np.nan)

    table = table.sort_values(["product", "topic", "period"]).reset_index(drop=True)
    by_gap = table.groupby(["product", "topic"], sort=False)
    k = config.growth_baseline_periods
    table["posts_prev"] = by_gap["posts"].shift(1)
    table["baseline_periods"] = by_gap["posts"].transform(lambda s: s.shift(1).rolling(k, min_periods=1).count()).fillna(0).astype("int64")
    table["baseline_posts"] = by_gap["posts"].transform(lambda s: s.shift(1).rolling(k, min_periods=1).sum())
    table["baseline_product_posts"] = by_gap["product_posts"].transform(lambda s: s.shift(1).rolling(k, min_periods=1).sum())
    lower, point, guarded = guarded_growth(table["posts"].to_numpy(), table["product_posts"].to_numpy(),
                                           table["baseline_posts"].to_numpy(), table["baseline_product_posts"].to_numpy(),
                                           config.growth_z, config.min_posts)
    table["growth"], table["growth_point"], table["growth_guarded"] = lower, point, guarded
    return score_gaps(table, config, rank_period)


def _exposure(frames: PostFrames, products: Sequence[str], periods: pd.PeriodIndex) -> pd.Series:
    """Dated posts per product and period (`product_posts`, the growth's exposure), every pair of the grid,
    counted on codes: a merge of the product pairs with the posts copied both for every pair."""
    pairs = frames.products
    size = row_size(frames.posts["row"], pairs["row"])
    period_of = period_codes(frames.posts, periods, size)[row_array(pairs["row"])]
    unique = list(dict.fromkeys(products))
    product = value_codes(pairs["product"], unique)
    dated_pair = (product >= 0) & (period_of >= 0)
    counts = np.bincount(product[dated_pair].astype("int64") * len(periods) + period_of[dated_pair],
                         minlength=len(unique) * len(periods))
    index = pd.MultiIndex.from_product([unique, periods], names=["product", "period"])
    return pd.Series(counts.astype("int64"), index=index, name="product_posts")


GAP_POST_COLUMNS = ("period", "author_id", "specialty", "followers", "engagement", "sentiment")
"""The per-post columns a gap aggregates, taken onto its (product, topic, post) triples."""


def _gap_triples(frames: PostFrames, products: Sequence[str], labels: Sequence[str]) -> Iterator[pd.DataFrame]:
    """The (product, topic, dated post) triples with the posts' `GAP_POST_COLUMNS`, one product at a time.

    Why per product and on arrays: a gap is one product, so its aggregates need no other product's rows; the
    triples of every product at once, joined by merges onto a copy of the posts' columns, were the gap
    table's peak at 10^7 posts. Rows are in the order those merges gave (product pair, then evidence pair);
    a product without triples still yields its empty frame."""
    posts, pairs, evidence = frames.posts, frames.products, frames.evidence
    assert evidence is not None
    size = row_size(posts["row"], pairs["row"], evidence["row"])
    at = post_positions(posts, size)
    ev_pos = np.flatnonzero(value_codes(evidence["topic"], labels) >= 0)
    ev_post = at[row_array(evidence["row"])[ev_pos]]
    dated_ev = ev_post >= 0
    dated_ev[dated_ev] = posts["period"].array.asi8[ev_post[dated_ev]] != np.iinfo("int64").min
    ev_pos, ev_post = ev_pos[dated_ev], ev_post[dated_ev]
    ev_rows = row_array(evidence["row"])[ev_pos]
    del at, dated_ev
    codes = pairs["product"].cat.codes.to_numpy()
    wanted = np.flatnonzero(pairs["product"].cat.categories.isin(list(products)))  # codes, as the groupby orders them
    pair_of_row = np.full(size, NO_POST, dtype="int32")   # row -> this product's pair (one at most: pairs are distinct)
    for code in wanted:
        prod_pos = np.flatnonzero(codes == code)
        prod_rows = row_array(pairs["row"])[prod_pos]
        pair_of_row[prod_rows] = prod_pos
        pair = pair_of_row[ev_rows]
        hit = np.flatnonzero(pair >= 0)
        pair_of_row[prod_rows] = NO_POST
        order = hit[np.argsort(pair[hit], kind="stable")]
        yield _triples_frame(frames, code, row_array(pairs["row"])[pair[order]], ev_pos[order], ev_post[order])
    if not len(wanted):
        none = np.zeros(0, "int64")
        yield _triples_frame(frames, 0, none, none, none)


def _triples_frame(frames: PostFrames, product: int, rows: np.ndarray, ev_pos: np.ndarray,
                   where: np.ndarray) -> pd.DataFrame:
    """The triples of one product (code `product`): the columns the merges gave, taken by position."""
    posts, pairs = frames.posts, frames.products
    assert frames.evidence is not None
    frame = pd.DataFrame({
        "row": rows,
        "product": pd.Categorical.from_codes(np.full(len(rows), product), dtype=pairs["product"].dtype),
        "topic": frames.evidence["topic"].array.take(ev_pos),
    })
    for name in GAP_POST_COLUMNS:
        frame[name] = take_column(posts[name], where)
    return frame


def _gap_aggregates(triples: pd.DataFrame, keys: list[str], dol_authors: set[str], negative_label: str,
                    negative_known: bool) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Per (product, topic, period) of `triples`: the counts, the follower reach and the specialty mix."""
    triples["is_dol"] = triples["author_id"].isin(dol_authors)
    sentiment_known = triples["sentiment"].notna() & negative_known
    triples["neg_known"] = sentiment_known.astype("int64")
    triples["neg"] = (sentiment_known & (triples["sentiment"] == negative_label)).astype("int64")
    grouped = triples.groupby(keys, observed=True)
    agg = grouped.agg(posts=("row", "size"), authors=("author_id", "nunique"), specialties=("specialty", "nunique"),
                      engagement=("engagement", "sum"), dol_posts=("is_dol", "sum"), neg=("neg", "sum"),
                      neg_known=("neg_known", "sum"))
    per_author = triples[triples["author_id"].notna()].groupby(keys + ["author_id"], observed=True)["followers"].max()
    follower_reach = _plain_index(per_author.groupby(level=keys, observed=True).sum(min_count=1).rename("follower_reach"))
    return _plain_index(agg), follower_reach, specialty_mix(triples, keys)


def _concat_pieces(pieces: list[Any]) -> Any:
    """The products' pieces of one aggregate as one: empty pieces left out (they hold no row, and an empty
    piece's dtypes can differ), all of them empty: the first, as the whole table's empty aggregate was."""
    filled = [p for p in pieces if len(p)]
    if not filled:
        return pieces[0]
    return pd.concat(filled) if len(filled) > 1 else filled[0]


def score_gaps(table: pd.DataFrame, config: ReportSettings, rank_period: pd.Period | None) -> pd.DataFrame:
    """Add the parts (each in [0, 1], relative to the other gaps of the same period), the score and the rank."""
    period = table["period"]
    table["part_volume"] = _log_share_of_max(table["posts"], period)
    table["part_authors"] = _log_share_of_max(table["authors"], period)
    table["part_reach"] = _log_share_of_max(table["reach"], period)
    table["part_dol_share"] = table["dol_share"].fillna(0.0).clip(0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth_part = np.log(table["growth"].astype("float64").clip(lower=1e-12)) / math.log(config.growth_cap)
    table["part_growth"] = pd.Series(growth_part, index=table.index).fillna(0.0).clip(0.0, 1.0)
    table["part_negativity"] = table["negative_share"].fillna(0.0).clip(0.0, 1.0)
    weights = config.weights.normalized()
    table["score"] = sum(weights[p] * table[f"part_{p}"] for p in PARTS)
    table = table.sort_values(["period", "score", "posts", "product", "topic"],
                              ascending=[True, False, False, True, True]).reset_index(drop=True)
    table["rank"] = table.groupby("period").cumcount() + 1
    table["is_rank_period"] = (table["period"] == rank_period) if rank_period is not None else False
    table["period"] = table["period"].astype("str")
    return table[list(GAP_COLUMNS)]


def specialty_mix(triples: pd.DataFrame, keys: list[str], top: int = 3) -> pd.Series:
    """Per gap, the most frequent specialties of its distinct voices with their shares ("oncology 60%, pharmacy
    25%, nursing 15%"): who is asking matters to medical affairs as much as how many."""
    known = triples[triples["specialty"].notna() & triples["author_id"].notna()] \
        .drop_duplicates(keys + ["author_id"])
    if known.empty:
        return pd.Series(dtype="str", name="specialty_mix")
    counts = known.groupby(keys + ["specialty"], observed=True).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby(keys, observed=True)["n"].transform("sum")
    counts = counts.sort_values(keys + ["n", "specialty"], ascending=[True] * len(keys) + [False, True])
    counts["cell"] = counts["specialty"].astype(str) + " " + (counts["share"] * 100).round().astype(int).astype(str) + "%"
    mix = counts.groupby(keys, observed=True).head(top).groupby(keys, observed=True)["cell"].agg(", ".join)
    return _plain_index(mix.rename("specialty_mix"))


def _empty_gaps() -> pd.DataFrame:
    ints = {"posts", "authors", "specialties", "engagement", "dol_posts", "product_posts", "rank", "baseline_periods"}
    strings = {"period", "product", "topic", "specialty_mix"}
    frame = {}
    for col in GAP_COLUMNS:
        if col in strings:
            frame[col] = pd.Series([], dtype="str")
        elif col in ints:
            frame[col] = pd.Series([], dtype="int64")
        elif col in ("growth_guarded", "is_rank_period"):
            frame[col] = pd.Series([], dtype="bool")
        else:
            frame[col] = pd.Series([], dtype="float64")
    return pd.DataFrame(frame)


def ranked_gaps(gaps: pd.DataFrame, top: int) -> pd.DataFrame:
    """The rank period's gaps with at least one post, best first (the report's "current state")."""
    current = gaps[gaps["is_rank_period"] & (gaps["posts"] > 0)]
    return current.sort_values("rank").head(top).reset_index(drop=True)


# ---- example posts ---------------------------------------------------------------------------------------------

def gap_candidates(frames: PostFrames, gaps: pd.DataFrame) -> pd.DataFrame:
    """Every post behind the given gaps (product, topic, period): row, post_id, author_id, engagement.

    Found gap by gap on arrays (the product's pairs, the topic's pairs, a row-indexed period): joining the
    product and evidence frames of the top gaps' products and topics onto the posts, and turning each of those
    millions of periods into a string to compare with the gap's, was the report's largest peak at 10^7 posts.
    Rows come in the order that join gave (product pair, then evidence pair), columns as it gave them."""
    if gaps.empty or frames.evidence is None:
        return pd.DataFrame(columns=["product", "topic", "period", "row", "post_id", "author_id", "engagement"])
    posts, products, evidence = frames.posts, frames.products, frames.evidence
    size = row_size(posts["row"], products["row"], evidence["row"])
    at = post_positions(posts, size)
    found = [_gap_pairs(frames, at, product, topic, period)
             for product, topic, period in gaps[["product", "topic", "period"]].itertuples(index=False)]
    prod_pos = np.concatenate([f[0] for f in found]) if found else np.zeros(0, "int64")
    ev_pos = np.concatenate([f[1] for f in found]) if found else np.zeros(0, "int64")
    order = np.lexsort((ev_pos, prod_pos))
    prod_pos, ev_pos = prod_pos[order], ev_pos[order]
    rows = products["row"].to_numpy()[prod_pos]
    where = at[rows]
    chosen = plain(pd.DataFrame({
        "row": rows,
        "product": products["product"].array.take(prod_pos),
        "topic": evidence["topic"].array.take(ev_pos),
        "author_id": posts["author_id"].array.take(where),
        "engagement": posts["engagement"].to_numpy()[where],
        "period": posts["period"].array.take(where),
    }))
    chosen["period"] = chosen["period"].astype("str")
    ids = frames.post_ids.lookup(chosen["row"].to_numpy()) if frames.post_ids is not None and len(chosen) \
        else np.array([], dtype=object)
    chosen.insert(chosen.columns.get_loc("author_id"), "post_id", pd.Series(ids, index=chosen.index, dtype="str"))
    return chosen


def _gap_pairs(frames: PostFrames, at: np.ndarray, product: str, topic: str, period: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `frames.products` and `frames.evidence` of one gap's posts (dated posts of the frame)."""
    products, evidence = frames.products, frames.evidence
    assert evidence is not None
    product_code = category_code(products["product"], product)
    topic_code = category_code(evidence["topic"], topic)
    none = np.zeros(0, "int64")
    if product_code < 0 or topic_code < 0:
        return none, none
    prod_pos = np.flatnonzero(products["product"].cat.codes.to_numpy() == product_code)
    ev_pos = np.flatnonzero(evidence["topic"].cat.codes.to_numpy() == topic_code)
    ev_at = np.full(len(at), NO_POST, dtype="int32")   # row -> its pair with this topic (one at most: pairs are distinct)
    ev_at[row_array(evidence["row"])[ev_pos]] = ev_pos
    rows = row_array(products["row"])[prod_pos]
    pair = ev_at[rows]
    where = at[rows]
    ordinal = pd.Period(period, freq=frames.period_freq).ordinal
    in_period = np.zeros(len(rows), dtype=bool)
    posted = where >= 0
    in_period[posted] = frames.posts["period"].array.asi8[where[posted]] == ordinal
    keep = (pair >= 0) & in_period
    return prod_pos[keep], pair[keep].astype("int64")


def pick_examples(candidates: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to `n` posts per gap: highest confidence first, at most one per author (different voices).

    `candidates` needs product, topic, period, post_id, author_id, confidence, engagement. Posts without an
    author id each count as their own author. Ties on confidence go to the more engaged post, then the id.
    """
    if candidates.empty or n <= 0:
        return candidates.head(0)
    frame = candidates.copy()
    frame["_author"] = frame["author_id"].astype("object").where(frame["author_id"].notna(), "\x00" + frame["post_id"].astype("str"))
    frame = frame.sort_values(["confidence", "engagement", "post_id"], ascending=[False, False, True])
    frame = frame.drop_duplicates(["product", "topic", "period", "_author"])
    frame = frame.groupby(["product", "topic", "period"], sort=False).head(n)
    return frame.drop(columns="_author").reset_index(drop=True)


# ---- active-listener views -------------------------------------------------------------------------------------

def product_overview(frames: PostFrames, products: Sequence[str], rank_period: pd.Period | None,
                     config: ReportSettings) -> pd.DataFrame:
    """Per product: posts, authors, posts in the rank period, negative share, adverse-event posts.

    Each product's posts are found by position (`rows.post_positions`) and counted on codes: the merge of the
    product pairs with five per-post columns held a copy of them for every pair."""
    pairs, posts = frames.products, frames.posts
    at = post_positions(posts, row_size(posts["row"], pairs["row"]))[row_array(pairs["row"])]
    index = value_codes(pairs["product"], products)
    index[at < 0] = NO_POST
    rows = [_product_counts(posts, at[index == i], product, rank_period, config.negative_label)
            for i, product in enumerate(products)]
    frame = pd.DataFrame(rows, columns=["product", "posts", "authors", "posts_rank_period", "negative_share",
                                        "adverse_event_posts", "adverse_event_posts_rank_period"])
    return frame.sort_values(["posts", "product"], ascending=[False, True]).reset_index(drop=True)


def _product_counts(posts: pd.DataFrame, where: np.ndarray, product: str, rank_period: pd.Period | None,
                    negative_label: str) -> dict[str, Any]:
    """One product's line of `product_overview`, from the positions of its posts (the same sums and means)."""
    authors = posts["author_id"].cat.codes.to_numpy()[where]
    in_period = posts["period"].array.asi8[where] == rank_period.ordinal if rank_period is not None \
        else np.zeros(len(where), dtype=bool)
    sentiment = posts["sentiment"].cat.codes.to_numpy()[where]
    known = sentiment >= 0
    negative = sentiment == category_code(posts["sentiment"], negative_label)
    adverse = posts["adverse_event"].array[where]
    ae_known = ~adverse.isna()
    ae_yes = adverse.fillna(False).to_numpy(dtype=bool)
    return {
        "product": product, "posts": int(len(where)), "authors": int(len(np.unique(authors[authors >= 0]))),
        "posts_rank_period": int(in_period.sum()),
        "negative_share": float(negative[known].mean()) if known.any() else None,
        "adverse_event_posts": int(ae_yes.sum()) if ae_known.any() else None,
        "adverse_event_posts_rank_period": int(ae_yes[in_period].sum())
        if ae_known[in_period].any() else (0 if ae_known.any() else None),
    }


def platform_share(frames: PostFrames, products: Sequence[str]) -> pd.DataFrame:
    """Each product's share of posts per platform (where is my product discussed).

    Counted on codes (product code x the post's platform code, `np.bincount`) in the order a groupby on the
    categoricals gives: a merge of the product pairs with the posts copied both for every pair."""
    pairs, posts = frames.products, frames.posts
    platform = posts["platform"]
    names = pd.Index(sorted({*platform.cat.categories, "(unknown)"}))  # "(unknown)" kept in sorted order
    per_category = np.append(names.get_indexer(platform.cat.categories), names.get_loc("(unknown)"))
    selected = np.flatnonzero(value_codes(pairs["product"], products) >= 0)
    at = post_positions(posts, row_size(posts["row"], pairs["row"]))[row_array(pairs["row"])[selected]]
    posted = at >= 0
    product = pairs["product"].cat.codes.to_numpy()[selected[posted]].astype("int64")
    per_pair = per_category[platform.cat.codes.to_numpy()[at[posted]]]   # code -1 (NA) reads "(unknown)"
    counted = np.bincount(product * len(names) + per_pair,
                          minlength=len(pairs["product"].cat.categories) * len(names))
    present = np.flatnonzero(counted)
    counts = plain(pd.DataFrame({
        "product": pd.Categorical.from_codes(present // len(names), dtype=pairs["product"].dtype),
        "platform": pd.Categorical.from_codes(present % len(names), categories=names),
        "posts": counted[present].astype("int64"),
    }))
    counts["share"] = counts["posts"] / counts.groupby("product")["posts"].transform("sum")
    return counts.sort_values(["product", "posts"], ascending=[True, False]).reset_index(drop=True)


def top_hashtags(frames: PostFrames, products: Sequence[str], n: int = 10) -> pd.DataFrame:
    """The hashtags used most in each product's posts (under which hashtags is it discussed).

    One product at a time: its rows as a row-indexed mask, the hashtags of those rows counted by code (a merge
    of the product pairs with the hashtag pairs held a copy of both for every match)."""
    pairs, tags = frames.products, frames.hashtags
    size = row_size(pairs["row"], tags["row"])
    tag_rows = row_array(tags["row"])
    tag_codes = tags["hashtag"].cat.codes.to_numpy()
    codes = pairs["product"].cat.codes.to_numpy()
    selected = value_codes(pairs["product"], products) >= 0
    product_codes, tag_present, posts = [np.zeros(0, "int64")], [np.zeros(0, "int64")], [np.zeros(0, "int64")]
    for product in np.unique(codes[selected]):
        member = membership(row_array(pairs["row"])[selected & (codes == product)], size)
        counted = np.bincount(tag_codes[member[tag_rows] & (tag_codes >= 0)],
                              minlength=len(tags["hashtag"].cat.categories))
        present = np.flatnonzero(counted)
        product_codes.append(np.full(len(present), product, dtype="int64"))
        tag_present.append(present)
        posts.append(counted[present].astype("int64"))
    counts = plain(pd.DataFrame({
        "product": pd.Categorical.from_codes(np.concatenate(product_codes), dtype=pairs["product"].dtype),
        "hashtag": pd.Categorical.from_codes(np.concatenate(tag_present), dtype=tags["hashtag"].dtype),
        "posts": np.concatenate(posts),
    }))
    counts = counts.sort_values(["product", "posts", "hashtag"], ascending=[True, False, True])
    return counts.groupby("product").head(n).reset_index(drop=True)


def label_shares_over_time(frames: PostFrames, products: Sequence[str], labels_long: pd.DataFrame,
                           labels: Sequence[str]) -> pd.DataFrame:
    """Share of each product's posts carrying each label, per period (labels_long: row, label)."""
    return _label_shares(frames, products, row_array(labels_long["row"]), value_codes(labels_long["label"], labels),
                         labels)


def _label_shares(frames: PostFrames, products: Sequence[str], label_rows: np.ndarray, label_codes: np.ndarray,
                  labels: Sequence[str]) -> pd.DataFrame:
    """`label_shares_over_time` on codes: `label_codes[i]` is the position in `labels` of the label of row
    `label_rows[i]` (`NO_POST`: another label or none).

    Counted per product with `np.bincount` over period x label codes: joining the product pairs with the posts
    and then with the label pairs held three copies of the pairs (the 10^7 report's second peak)."""
    pairs = frames.products
    periods = period_range(frames)
    size = row_size(frames.posts["row"], pairs["row"], label_rows)
    period_of = period_codes(frames.posts, periods, size)
    pair_rows = row_array(pairs["row"])
    product = value_codes(pairs["product"], products)
    dated_pair = (product >= 0) & (period_of[pair_rows] >= 0)
    n_products, n_periods, n_labels = len(products), len(periods), len(labels)
    totals = np.bincount(product[dated_pair].astype("int64") * n_periods + period_of[pair_rows[dated_pair]],
                         minlength=n_products * n_periods).reshape(n_products, n_periods)
    if not totals.any() or not labels:
        return pd.DataFrame(columns=["product", "period", "label", "posts", "share"])
    label_period = period_of[label_rows]
    counted = (label_codes >= 0) & (label_period >= 0)
    keys = label_period[counted] * n_labels + label_codes[counted]   # period x label of each counted label pair
    rows = label_rows[counted]
    del label_period, counted
    present = [i for i in range(n_products) if totals[i].any()]
    counts = np.zeros((len(present), n_periods * n_labels), dtype="int64")
    for k, i in enumerate(present):
        member = membership(pair_rows[dated_pair & (product == i)], size)
        counts[k] = np.bincount(keys[member[rows]], minlength=n_periods * n_labels)
    return _share_frame([products[i] for i in present], periods, labels, counts, totals[present])


def _share_frame(products: list[str], periods: pd.PeriodIndex, labels: Sequence[str], counts: np.ndarray,
                 totals: np.ndarray) -> pd.DataFrame:
    """The product x period x label grid (zeros included) with posts, the product's total and the share."""
    grid = pd.MultiIndex.from_product([products, periods, list(labels)], names=["product", "period", "label"])
    frame = grid.to_frame(index=False)
    frame["posts"] = counts.ravel()
    frame["total"] = np.repeat(totals.ravel(), len(labels)).astype("int64")
    frame["share"] = np.where(frame["total"] > 0, frame["posts"] / frame["total"].where(frame["total"] > 0), np.nan)
    frame["period"] = frame["period"].astype("str")
    return frame


def sentiment_over_time(frames: PostFrames, products: Sequence[str]) -> pd.DataFrame:
    """`label_shares_over_time` of the sentiment labels, read from the posts' own column (no long frame)."""
    posts = frames.posts
    return _label_shares(frames, products, row_array(posts["row"]),
                         value_codes(posts["sentiment"], frames.sentiment_labels), frames.sentiment_labels)


def perception_over_time(frames: PostFrames, products: Sequence[str]) -> pd.DataFrame:
    if frames.perception is None:
        return label_shares_over_time(frames, products, pd.DataFrame(columns=["row", "label"]), [])
    return label_shares_over_time(frames, products, frames.perception, frames.perception_labels)


def gap_trends(gaps: pd.DataFrame, top: pd.DataFrame) -> pd.DataFrame:
    """Posts per period of the top gaps (to show that a rising gap really rises)."""
    if top.empty:
        return gaps.head(0)[["product", "topic", "period", "posts", "topic_share"]]
    keys = top[["product", "topic"]].drop_duplicates()
    return gaps.merge(keys, on=["product", "topic"])[["product", "topic", "period", "posts", "topic_share"]] \
        .sort_values(["product", "topic", "period"]).reset_index(drop=True)
