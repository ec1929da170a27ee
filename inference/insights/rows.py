"""Per-post values looked up by `row`: the long label frames meet the per-post columns without a merge.

The long frames of `PostFrames` (products, evidence, perception, hashtags: one line per (row, value)) used to
be joined to the per-post columns with pandas merges. At 10^7 posts each such merge built hash tables and
int64 indexers as long as the long frame, plus a copy of every joined column, about 0.9 GB on top of the
live frames (the example posts and the over-time figures were the report's peaks). A post's `row` is a small
integer, so an array indexed by row answers "which post, which period" in 4 bytes a post, and counting per
(product, period, label) is `np.bincount` over integer codes. Everything here works on categorical codes.
Users: the views in `gaps.py` (example candidates, over-time figures, platforms, hashtags, product overview,
gap triples) and `network.interaction_edges`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

NO_POST = -1
"""Position, period or value code of a row that has none (not among the posts, no period, another value)."""


def row_size(*row_columns: pd.Series | np.ndarray) -> int:
    """Length of a row-indexed array that every given row fits in (largest row + 1)."""
    largest = -1
    for rows in row_columns:
        values = np.asarray(rows)
        if len(values):
            largest = max(largest, int(values.max()))
    return largest + 1


def row_array(rows: pd.Series | np.ndarray) -> np.ndarray:
    """A row column as an integer array, without a copy when it already is one (int32 in `PostFrames`)."""
    values = rows.to_numpy() if isinstance(rows, pd.Series) else np.asarray(rows)
    return values if values.dtype.kind in "iu" else values.astype("int64")


def post_positions(posts: pd.DataFrame, size: int) -> np.ndarray:
    """row -> position in `posts` (`NO_POST` where the row is not a post of the frame), as int32.

    The posts frame is filtered (clinician voices), so a row is not its position; one int32 a row costs less
    than a merge on the row column and serves any number of lookups."""
    at = np.full(size, NO_POST, dtype="int32")
    rows = row_array(posts["row"])
    at[rows] = np.arange(len(rows), dtype="int32")
    return at


def period_codes(posts: pd.DataFrame, periods: pd.PeriodIndex, size: int) -> np.ndarray:
    """row -> position of the post's period in `periods` (consecutive periods), `NO_POST` where none."""
    out = np.full(size, NO_POST, dtype="int32")
    if len(periods) == 0 or posts.empty:
        return out
    ordinals = posts["period"].array.asi8
    known = ordinals != np.iinfo("int64").min  # NaT
    code = ordinals - periods[0].ordinal
    inside = known & (code >= 0) & (code < len(periods))
    out[row_array(posts["row"])[inside]] = code[inside].astype("int32")
    return out


def value_codes(column: pd.Series, values: Sequence[str]) -> np.ndarray:
    """Per element of `column`, the position of its value in `values` (`NO_POST` for other values and NA).

    A categorical is mapped once per category, not once per element; any other column is first made one."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype("category")
    index: dict[str, int] = {}
    for i, value in enumerate(values):
        index.setdefault(value, i)
    per_category = np.array([index.get(c, NO_POST) for c in column.cat.categories] + [NO_POST], dtype="int32")
    return per_category[column.cat.codes.to_numpy()]  # code -1 (NA) reads the appended NO_POST


def category_code(column: pd.Series, value: str) -> int:
    """The code of `value` in a categorical column, `NO_POST` when it is not a category."""
    return int(column.cat.categories.get_indexer([value])[0])


def membership(rows: np.ndarray, size: int) -> np.ndarray:
    """row -> True for the given rows (a vectorized set of rows)."""
    member = np.zeros(size, dtype=bool)
    member[row_array(rows)] = True
    return member


def positions_of(posts: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Positions in `posts` of a few `rows` (`NO_POST` where a row is not a post), by binary search: the rows
    of a posts frame ascend (read order, filters keep it), and a row-indexed array would cost 4 bytes a post
    for a handful of lookups. Uses that array for many lookups, and for a frame whose rows do not ascend."""
    post_rows = row_array(posts["row"])
    rows = row_array(rows)
    many = len(rows) > len(post_rows) // 8   # then 4 bytes a post cost less than the search's 8 bytes a row
    if many or len(post_rows) > 1 and not bool(np.all(post_rows[1:] > post_rows[:-1])):
        at = post_positions(posts, row_size(post_rows, rows))
        return at[rows] if len(rows) else np.zeros(0, "int32")
    found = np.searchsorted(post_rows, rows)
    inside = found < len(post_rows)
    hit = np.zeros(len(rows), dtype=bool)
    hit[inside] = post_rows[found[inside]] == rows[inside]
    return np.where(hit, found, NO_POST)


def take_column(column: pd.Series, positions: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The values of `column` at `positions`, keeping its dtype (categorical codes, nullable numbers)."""
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        return column.array.take(positions)
    return column.to_numpy()[positions]
