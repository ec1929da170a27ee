"""The baseline family: one shared TF-IDF feature space (word + char_wb n-grams), one linear head per task.

Always trained as the floor the transformer has to beat (DESIGN.md section 8). Targets, probabilities and
thresholds follow `models.tasks` exactly; thresholds are tuned with the model-agnostic `models.thresholds`.

Speed: scikit-learn's `TfidfVectorizer` builds every n-gram of every post in Python and transforms about
2,000 posts of 200 characters per CPU-second (word 1-2 + char_wb 2-5 grams). `WordCharTfidf` gives the same
matrix (tested against scikit-learn) about 15 times faster: posts repeat words, so each distinct word is
analyzed once and cached as an int32 byte string, posts are assembled by joining those bytes, word bigrams are
looked up as integer keys, and counts are summed with one int32 sort per chunk. All heads are stacked into one
weight matrix, so a post is featurized once and scored for every task by one sparse-dense product.
`bench/public_corpora.py speed` measures it.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass
from itertools import chain
from numbers import Integral
from pathlib import Path
from typing import Any, Mapping, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from models import thresholds as thr
from models.tasks import UNLABELED, TaskSpec, decide, default_thresholds, read_artifact_meta

logger = logging.getLogger(__name__)

ARTIFACT_FORMAT = "occ-insights/tfidf-multitask"
ARTIFACT_FORMAT_VERSION = 1
MODEL_FILE = "baseline.joblib"
META_FILE = "baseline.json"

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
"""Word tokens: scikit-learn's default `token_pattern`, so the features match `TfidfVectorizer`'s."""

CHUNK_ROWS = 1024
"""Posts featurized at a time: bounds memory for any input size, large enough to amortize numpy calls."""

CACHE_WORDS = 200_000
"""Distinct words whose analysis is cached by `WordCharTfidf`; emptied when full (bounded memory)."""


class TextInputError(TypeError):
    """The texts passed to a model are not a sequence of strings (or a DataFrame with a `text` column)."""


def as_texts(X: Any) -> list[str]:
    """Normalize model input to a list of strings.

    Why: a DataFrame (what an MLflow pyfunc receives) iterates over its *column names*, so passing one to a
    vectorizer silently featurizes the word "text"; a bare string iterates over characters.

    Args:
        X: list/tuple/ndarray/Series of strings, or a DataFrame with a `text` column.

    Returns:
        The texts as a list of `str`.
    """
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # pandas DataFrame, without importing pandas
        if "text" not in X.columns:
            raise TextInputError(
                f"expected a DataFrame with a 'text' column, found columns {list(X.columns)[:10]}; "
                "rename the column holding the post text to 'text'"
            )
        X = X["text"]
    if isinstance(X, (str, bytes)):
        raise TextInputError("expected a sequence of texts, got a single string; wrap it in a list: [text]")
    if hasattr(X, "tolist"):
        X = X.tolist()
    texts = list(X)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TextInputError(
                f"expected every text to be a str, found {type(t).__name__} ({t!r:.40}) at position {i}; "
                "drop or fill missing texts before scoring"
            )
    return texts


# ----------------------------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------------------------


def _char_wb_grams(word: str, min_n: int, max_n: int) -> list[str]:
    """Char n-grams of one word padded with spaces, exactly as scikit-learn's `char_wb` analyzer."""
    w = " " + word + " "
    w_len = len(w)
    grams = []
    for n in range(min_n, max_n + 1):
        offset = 0
        grams.append(w[offset : offset + n])
        while offset + n < w_len:
            offset += 1
            grams.append(w[offset : offset + n])
        if offset == 0:  # a short word (w_len <= n) is counted once
            break
    return grams


class _Growing(dict):
    """Index under construction: an unseen key gets the next id."""

    def __missing__(self, key: Any) -> int:
        value = self[key] = len(self)
        return value


class _WordCache(dict):
    """Whitespace-delimited word -> its analysis as int32 bytes (`WordCharTfidf._encode_word`), computed on first sight.

    Why this is exact: scikit-learn's char_wb n-grams never cross whitespace, and its word tokens
    (`\\b\\w\\w+\\b`) never contain whitespace, so a post's features are the union of its words' features.
    Emptied when full, so memory stays bounded on streams of unique tokens (URLs, handles).
    """

    def __init__(self, encode: Any, max_words: int):
        super().__init__()
        self.encode = encode
        self.max_words = max_words

    def __missing__(self, word: str) -> bytes:
        if len(self) >= self.max_words:
            self.clear()
        value = self[word] = self.encode(word)
        return value


_EMPTY = np.zeros(0, dtype=np.int64)
_INT32_KEYS = 2**31 - 1


class WordCharTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF over word n-grams and char_wb n-grams, one L2-normalized block each.

    The same columns and values (up to float32 rounding; tested) as a `FeatureUnion` of two
    `TfidfVectorizer(sublinear_tf=True, min_df=..., max_features=...)`, one `analyzer="word"` and one
    `analyzer="char_wb"`, except that ties at the `max_features` cut are broken by first occurrence. It is
    about 15 times faster to transform: each distinct word is analyzed once (cached), word n-grams are
    looked up as integer keys with `np.searchsorted`, and counts are summed with one int32 sort per chunk.

    char_wb 3-5 grams by default: on the public corpora they score the same as 2-5 grams (bench/
    public_corpora.py grid) with a quarter fewer entries per post, which is what scoring time scales with.

    Args:
        word_ngram_range: (min_n, max_n) of word n-grams (max_n <= 3), or None to leave the word block out.
        char_ngram_range: (min_n, max_n) of char_wb n-grams, or None to leave the char block out.
        min_df: minimum document frequency (int: count, float: proportion), per n-gram.
        max_features: keep at most this many n-grams *per block*, the most frequent in the training texts.
        sublinear_tf: use 1 + log(tf) instead of tf.
        cache_words: size of the word cache (speed only, not a modelling choice).
    """

    def __init__(
        self,
        word_ngram_range: tuple[int, int] | None = (1, 2),
        char_ngram_range: tuple[int, int] | None = (3, 5),
        min_df: int | float = 2,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        cache_words: int = CACHE_WORDS,
    ):
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.cache_words = cache_words

    # -- fitting ------------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> "WordCharTfidf":
        """Learn the vocabularies (min_df, max_features) and idf weights from the training texts."""
        self._validate_params()
        docs = as_texts(X)
        if not docs:
            raise ValueError("WordCharTfidf.fit needs at least one text")
        n = len(docs)
        min_count = max(1.0, self.min_df if isinstance(self.min_df, Integral) else self.min_df * n)
        words = [d.lower().split() for d in docs]
        word_doc = np.repeat(np.arange(n, dtype=np.int64), np.fromiter(map(len, words), np.int64, n))
        index = _Growing()
        occurrences = np.fromiter(map(index.__getitem__, chain.from_iterable(words)), np.int64, word_doc.size)
        distinct = list(index)  # id order
        names: list[np.ndarray] = []
        dfs: list[np.ndarray] = []
        self.token_index_: dict[str, int] = {}
        self.unigram_of_token_ = np.zeros(0, dtype=np.int32)
        self.ngram_index_: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.char_vocabulary_: dict[str, int] = {}
        if self.word_ngram_range is not None:
            kept_names, df = self._fit_words(distinct, occurrences, word_doc, n, min_count)
            names.append(kept_names)
            dfs.append(df)
        self.n_word_features_ = int(sum(a.size for a in names))
        if self.char_ngram_range is not None:
            kept_names, df = self._fit_chars(distinct, occurrences, word_doc, n, min_count)
            names.append(kept_names)
            dfs.append(df)
        self.feature_names_ = np.concatenate(names)
        df_all = np.concatenate(dfs).astype(np.float64)
        self.idf_ = (np.log((1.0 + n) / (1.0 + df_all)) + 1.0).astype(np.float32)
        self._cache_ = None
        return self

    def fit_transform(self, X: Any, y: Any = None) -> sp.csr_matrix:
        texts = as_texts(X)
        return self.fit(texts).transform(texts)

    def _fit_words(
        self, distinct: list[str], occurrences: np.ndarray, word_doc: np.ndarray, n: int, min_count: float
    ) -> tuple[np.ndarray, np.ndarray]:
        min_n, max_n = self.word_ngram_range
        tokens = _Growing()
        per_word = [np.fromiter(map(tokens.__getitem__, TOKEN_PATTERN.findall(w)), np.int64) for w in distinct]
        lengths = np.fromiter(map(len, per_word), np.int64, len(per_word))
        seq = np.concatenate([per_word[i] for i in occurrences.tolist()] or [_EMPTY])
        seq_doc = np.repeat(word_doc, lengths[occurrences])
        T = len(tokens)
        if T > 0 and max_n * np.log2(T) >= 62:
            raise ValueError(f"word n-grams up to {max_n} over {T} distinct tokens overflow int64 keys; use max_n <= 3")
        # provisional columns: [unigrams = token ids | 2-grams | 3-grams ...]
        rows, cols, kinds = [], [], []
        offset = 0
        if min_n == 1:
            rows.append(seq_doc)
            cols.append(seq)
            kinds.append((1, np.arange(T, dtype=np.int64)))
            offset = T
        for size in range(max(2, min_n), max_n + 1):
            keys, key_doc = _ngram_keys(seq, seq_doc, size, T)
            distinct_keys, inverse = np.unique(keys, return_inverse=True)
            rows.append(key_doc)
            cols.append(offset + inverse.ravel())
            kinds.append((size, distinct_keys))
            offset += distinct_keys.size
        keep, df = self._select(rows, cols, n, offset, min_count)
        # decode kept columns into (size, token ids)
        bounds = np.cumsum([k[1].size for k in kinds])
        token_names = np.array(list(tokens), dtype=object)
        grams: list[tuple[int, np.ndarray]] = []
        for col in keep.tolist():
            block = int(np.searchsorted(bounds, col, side="right"))
            size, keys = kinds[block]
            key = int(keys[col - (bounds[block - 1] if block else 0)])
            ids = []
            for _ in range(size):
                key, last = divmod(key, T)
                ids.append(last)
            grams.append((size, np.array(ids[::-1], dtype=np.int64)))
        kept_names = np.array([" ".join(token_names[ids]) for _, ids in grams], dtype=object)
        order = np.argsort(kept_names, kind="stable")
        # final token table: only tokens that some kept feature uses
        used = np.unique(np.concatenate([ids for _, ids in grams]))
        new_id = np.full(T, -1, dtype=np.int64)
        new_id[used] = np.arange(used.size)
        self.token_index_ = dict(zip(token_names[used].tolist(), range(used.size)))
        unigram = np.full(used.size, -1, dtype=np.int32)
        ngram_keys: dict[int, list[tuple[int, int]]] = {}
        for rank, k in enumerate(order.tolist()):
            size, ids = grams[k]
            ids = new_id[ids]
            if size == 1:
                unigram[ids[0]] = rank
            else:
                key = 0
                for t in ids.tolist():
                    key = key * used.size + t
                ngram_keys.setdefault(size, []).append((key, rank))
        self.unigram_of_token_ = unigram
        for size, pairs in sorted(ngram_keys.items()):
            pairs.sort()
            self.ngram_index_[size] = (
                np.array([p[0] for p in pairs], dtype=np.int64),
                np.array([p[1] for p in pairs], dtype=np.int32),
            )
        return kept_names[order], df[order]

    def _fit_chars(
        self, distinct: list[str], occurrences: np.ndarray, word_doc: np.ndarray, n: int, min_count: float
    ) -> tuple[np.ndarray, np.ndarray]:
        grams = _Growing()
        min_n, max_n = self.char_ngram_range
        per_word = [np.fromiter(map(grams.__getitem__, _char_wb_grams(w, min_n, max_n)), np.int64) for w in distinct]
        lengths = np.fromiter(map(len, per_word), np.int64, len(per_word))
        cols = np.concatenate([per_word[i] for i in occurrences.tolist()] or [_EMPTY])
        rows = np.repeat(word_doc, lengths[occurrences])
        keep, df = self._select([rows], [cols], n, len(grams), min_count)
        names = np.array(list(grams), dtype=object)[keep]
        order = np.argsort(names, kind="stable")
        names = names[order]
        self.char_vocabulary_ = dict(zip(names.tolist(), range(self.n_word_features_, self.n_word_features_ + names.size)))
        return names, df[order]

    def _select(
        self, rows: list[np.ndarray], cols: list[np.ndarray], n: int, n_cols: int, min_count: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Columns kept by min_df then max_features (most frequent first), and their document frequencies."""
        keys, counts = _unique_counts(np.concatenate(rows), np.concatenate(cols), n, n_cols)
        c = keys % n_cols
        df = np.bincount(c, minlength=n_cols)
        tf = np.bincount(c, weights=counts, minlength=n_cols)
        keep = np.flatnonzero(df >= min_count)
        if self.max_features is not None and keep.size > self.max_features:
            # ties keep the n-gram seen first (stable), so fits are reproducible
            keep = np.sort(keep[np.argsort(-tf[keep], kind="stable")[: self.max_features]])
        if keep.size == 0:
            raise ValueError(
                f"no n-gram occurs in at least min_df={self.min_df!r} of the {n} training texts; "
                "lower min_df or train on more texts"
            )
        return keep, df[keep]

    def _validate_params(self) -> None:
        for name in ("word_ngram_range", "char_ngram_range"):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) != 2 or not all(isinstance(v, Integral) for v in value) or not 1 <= value[0] <= value[1]:
                raise ValueError(f"{name} must be (min_n, max_n) with 1 <= min_n <= max_n, or None; got {value!r}")
        if self.word_ngram_range is not None and self.word_ngram_range[1] > 3:
            raise ValueError(f"word_ngram_range supports max_n <= 3, got {self.word_ngram_range!r}")
        if self.word_ngram_range is None and self.char_ngram_range is None:
            raise ValueError("word_ngram_range and char_ngram_range are both None: no features left to build")
        if isinstance(self.min_df, Integral):
            if self.min_df < 1:
                raise ValueError(f"min_df as a count must be >= 1, got {self.min_df!r}")
        elif not 0.0 < float(self.min_df) <= 1.0:
            raise ValueError(f"min_df as a proportion must be in (0, 1], got {self.min_df!r}")
        if self.max_features is not None and (not isinstance(self.max_features, Integral) or self.max_features < 1):
            raise ValueError(f"max_features must be a positive int or None, got {self.max_features!r}")

    # -- transforming -------------------------------------------------------------------------------------

    def transform(self, X: Any) -> sp.csr_matrix:
        """TF-IDF matrix (n, n_features), float32 CSR."""
        check_is_fitted(self, "idf_")
        docs = as_texts(X)
        # chunks small enough that (row, column) keys fit in int32, whose sort is several times faster
        step = max(1, min(CHUNK_ROWS, _INT32_KEYS // max(1, self.idf_.size) - 1))
        parts = [self._transform_chunk(docs[i : i + step]) for i in range(0, len(docs), step)]
        if not parts:
            return sp.csr_matrix((0, self.idf_.size), dtype=np.float32)
        return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "idf_")
        return self.feature_names_

    def _transform_chunk(self, docs: list[str]) -> sp.csr_matrix:
        # each word's analysis is cached as int32 bytes; joining bytes per post is far cheaper than
        # concatenating thousands of small arrays, and yields each post's length without a per-word loop
        get = self._cache().__getitem__
        rows, values = _join_rows([b"".join(map(get, d.lower().split())) for d in docs])
        if not self.ngram_index_:
            return self._tfidf(rows, values, len(docs))
        is_token = values < 0  # see _encode_word: tokens are stored as -(id + 2), unknown ones as -1
        seq, seq_doc = -2 - values[is_token], rows[is_token]
        is_feature = ~is_token
        rows_parts, col_parts = [rows[is_feature]], [values[is_feature]]
        T = len(self.token_index_)
        for size, (keys, ids) in self.ngram_index_.items():
            found, found_doc = _ngram_keys(seq, seq_doc, size, T)
            pos = np.searchsorted(keys, found)
            np.minimum(pos, keys.size - 1, out=pos)
            hit = keys[pos] == found
            rows_parts.append(found_doc[hit])
            col_parts.append(ids[pos[hit]])
        return self._tfidf(np.concatenate(rows_parts), np.concatenate(col_parts), len(docs))

    def _encode_word(self, word: str) -> bytes:
        """Cached analysis of one whitespace-delimited word, as the bytes of one int32 array: the ids of its
        unigram and char n-gram features (>= 0), then, if word n-grams are used, each token as -(id + 2)
        (-1 if unknown). One array per word keeps the per-word Python work in `transform` to one lookup."""
        feats: list[int] = []
        tokens: list[int] = []
        if self.word_ngram_range is not None:
            tok_ids = [self.token_index_.get(t, -1) for t in TOKEN_PATTERN.findall(word)]
            if self.word_ngram_range[0] == 1:
                feats.extend(u for u in (int(self.unigram_of_token_[t]) for t in tok_ids if t >= 0) if u >= 0)
            if self.ngram_index_:
                tokens = [-2 - t if t >= 0 else -1 for t in tok_ids]
        if self.char_ngram_range is not None:
            get = self.char_vocabulary_.get
            feats.extend(i for i in map(get, _char_wb_grams(word, *self.char_ngram_range)) if i is not None)
        return np.array(feats + tokens, dtype=np.int32).tobytes()

    def _tfidf(self, rows: np.ndarray, cols: np.ndarray, n_rows: int) -> sp.csr_matrix:
        """Occurrences -> (sublinear) tf * idf, each block L2-normalized per row, as CSR."""
        n_cols = self.idf_.size
        keys, counts = _unique_counts(rows, cols, n_rows, n_cols)
        # keys are sorted by row then column, and word columns precede char columns, so every row is two
        # contiguous segments: [row start, first char column) and [first char column, next row start)
        base = np.arange(n_rows + 1, dtype=np.int64) * n_cols
        edges = np.empty(2 * n_rows + 1, dtype=np.int64)
        edges[0::2] = base
        edges[1::2] = base[:-1] + self.n_word_features_
        bounds = np.searchsorted(keys, edges)
        c = (keys % n_cols).astype(np.int32)
        data = counts.astype(np.float32)
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        data *= self.idf_[c]
        squares = np.square(data)
        # reduceat needs in-range starts: pad with a 0; empty segments give junk repeated 0 times below
        sums = np.add.reduceat(np.r_[squares, np.float32(0)], bounds[:-1])
        np.sqrt(sums, out=sums)
        data /= np.repeat(sums, np.diff(bounds))
        indptr = bounds[0::2]
        index_dtype = np.int32 if c.size < _INT32_KEYS else np.int64
        return sp.csr_matrix((data, c.astype(index_dtype, copy=False), indptr.astype(index_dtype)), shape=(n_rows, n_cols))

    def _cache(self) -> _WordCache:
        if getattr(self, "_cache_", None) is None:
            self._cache_ = _WordCache(self._encode_word, self.cache_words)
        return self._cache_

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state["_cache_"] = None  # rebuilt on demand: keeps artifacts small and their bytes deterministic
        return state


def _join_rows(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(row of each value, values) from one int32 byte string per post."""
    values = np.frombuffer(b"".join(blobs), dtype=np.int32)
    lengths = np.fromiter(map(len, blobs), np.int64, len(blobs)) // 4
    return np.repeat(np.arange(len(blobs), dtype=np.int32), lengths), values


def _ngram_keys(seq: np.ndarray, seq_doc: np.ndarray, size: int, n_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys (base `n_tokens`) of the word n-grams in a token-id sequence, and their rows.

    N-grams spanning two posts or containing an unknown token (-1) are dropped.
    """
    m = seq.size - size + 1
    if m <= 0:
        return _EMPTY, _EMPTY
    valid = seq_doc[:m] == seq_doc[size - 1 :]
    key = np.zeros(m, dtype=np.int64)
    for i in range(size):
        part = seq[i : i + m]
        valid &= part >= 0
        key = key * n_tokens + part
    return key[valid], seq_doc[:m][valid]


def _unique_counts(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys `row * n_cols + col` in ascending order, and how often each occurs.

    One sort of int32 keys (when they fit) is several times faster than scipy's per-row sort of a COO matrix.
    """
    if rows.size == 0:
        return _EMPTY, _EMPTY
    dtype = np.int32 if (n_rows + 1) * n_cols <= _INT32_KEYS else np.int64
    key = rows.astype(dtype)
    key *= n_cols
    key += cols
    key.sort()
    new = np.empty(key.size, dtype=bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.empty(starts.size, dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=counts[:-1])
    counts[-1] = key.size - starts[-1]
    return key[starts], counts


# ----------------------------------------------------------------------------------------------------------
# Multi-task classifier
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    """Where a task's outputs live in the stacked weights, and how they become probabilities.

    link: "softmax" (columns = classes, `labels` their label indices), "binary" (one logit for `labels[1]`
    against `labels[0]`) or "sigmoid" (one logit per label of a multi task, `labels` = 0..L-1).
    """

    task: str
    link: str
    start: int
    stop: int
    labels: tuple[int, ...]


class TfidfMultiTaskClassifier(BaseEstimator):
    """TF-IDF features shared by all tasks, with one logistic-regression head per task (one per label for
    multi-label tasks).

    Args:
        tasks: the tasks to learn, `TaskSpec`s or their dicts (label names travel with the model; the model
            never reads the taxonomy file).
        word_ngram_range: word n-gram range, or None to drop word features.
        char_ngram_range: char_wb n-gram range, or None to drop char features.
        max_features: n-grams kept per block (word, char), most frequent first; None keeps all.
        min_df: minimum document frequency of an n-gram (int count or float proportion).
        C: inverse L2 regularization strength of every head.
        class_weight: "balanced" (default) or None. Balanced weights learn rare labels and classes: on the
            public corpora they beat unweighted heads on every single-label task (macro-F1) and at any
            threshold policy on the multi-label / binary ones (bench/public_corpora.py).
        max_iter: lbfgs iterations per head.
        threshold_strategy: "fixed", "tuned" or "shrunk" (default; see `models.thresholds`), applied by
            `tune_thresholds`.
        threshold_min_positives: fewer validation positives than this use the prevalence threshold alone.
        threshold_clip: (low, high) range of tuned thresholds.
        threshold_shrink: pseudo-count of positives holding a tuned threshold at the prevalence threshold.
        min_recall: {binary task: recall target}, e.g. {"adverse_event": 0.95}; overrides the F1 rule.

    Labels of a multi task with no positive (or no negative) among the labeled training posts get a constant
    head predicting the smoothed prior (positives + 0.5) / (n + 1), close to 0 (or 1), instead of failing, so a
    fresh taxonomy can be trained before every label has examples; a warning names them.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec | Mapping[str, Any]] | None = None,
        word_ngram_range: tuple[int, int] | None = (1, 2),
        char_ngram_range: tuple[int, int] | None = (3, 5),
        max_features: int | None = None,
        min_df: int | float = 2,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        max_iter: int = 1000,
        threshold_strategy: str = thr.DEFAULT_STRATEGY,
        threshold_min_positives: int = thr.DEFAULT_MIN_POSITIVES,
        threshold_clip: tuple[float, float] = thr.DEFAULT_CLIP,
        threshold_shrink: float = thr.DEFAULT_SHRINK,
        min_recall: Mapping[str, float] | None = None,
    ):
        self.tasks = tasks
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.max_features = max_features
        self.min_df = min_df
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.threshold_strategy = threshold_strategy
        self.threshold_min_positives = threshold_min_positives
        self.threshold_clip = threshold_clip
        self.threshold_shrink = threshold_shrink
        self.min_recall = min_recall

    # -- fit ----------------------------------------------------------------------------------------------

    def fit(self, X: Any, Y: Mapping[str, Any]) -> "TfidfMultiTaskClassifier":
        """Fit the shared features on all texts, then each task's head on the posts labeled for it.

        Args:
            X: texts (list / ndarray / Series) or a DataFrame with a `text` column.
            Y: {task: targets} in the `models.tasks` encoding; UNLABELED rows (or entries) are left out of
                that task's head only, so partially labeled posts still train the other tasks.

        Returns:
            self, with `specs_`, `featurizer_`, `weights_`, `intercepts_`, `heads_`, `thresholds_`.
        """
        specs = _specs(self.tasks)
        self._check_hyperparameters(specs)
        texts = as_texts(X)
        targets = _check_targets(specs, Y, len(texts))
        featurizer = WordCharTfidf(
            word_ngram_range=self.word_ngram_range,
            char_ngram_range=self.char_ngram_range,
            min_df=self.min_df,
            max_features=self.max_features,
        )
        features = featurizer.fit_transform(texts)
        columns: list[np.ndarray] = []
        intercepts: list[np.ndarray] = []
        heads: dict[str, _Head] = {}
        for spec in specs:
            start = sum(c.shape[1] for c in columns)
            # lbfgs on sparse features calls BLAS only on short vectors, where threads cost more than they
            # save (fits measured 3x slower with 2 OpenBLAS threads on a busy 2-core machine)
            with threadpool_limits(limits=1, user_api="blas"):
                link, labels, coef, intercept = self._fit_head(spec, features, targets[spec.name])
            columns.append(coef.T.astype(np.float32))
            intercepts.append(intercept.astype(np.float32))
            heads[spec.name] = _Head(spec.name, link, start, start + coef.shape[0], labels)
        self.specs_ = specs
        self.featurizer_ = featurizer
        self.weights_ = np.ascontiguousarray(np.hstack(columns))
        self.intercepts_ = np.concatenate(intercepts)
        self.heads_ = heads
        self.thresholds_ = default_thresholds(specs)
        return self

    def _check_hyperparameters(self, specs: tuple[TaskSpec, ...]) -> None:
        if not float(self.C) > 0:
            raise ValueError(f"C must be > 0, got {self.C!r}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got {self.class_weight!r}")
        thr.check_policy(self.threshold_strategy, self.threshold_min_positives, self.threshold_clip, self.threshold_shrink)
        thr.check_min_recall(specs, self.min_recall or {})

    def _logreg(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)

    def _fit_head(
        self, spec: TaskSpec, features: sp.csr_matrix, y: np.ndarray
    ) -> tuple[str, tuple[int, ...], np.ndarray, np.ndarray]:
        """Returns (link, label indices, coef (k, n_features), intercept (k,)) for one task."""
        if spec.kind == "multi":
            coefs, intercepts, constant = [], [], []
            for j, label in enumerate(spec.labels):
                keep = y[:, j] != UNLABELED
                yj = y[keep, j]
                n_pos = int(yj.sum())
                if n_pos in (0, yj.size):
                    prior = (n_pos + 0.5) / (yj.size + 1.0)
                    coefs.append(np.zeros(features.shape[1]))
                    intercepts.append(np.log(prior / (1.0 - prior)))
                    constant.append(f"{label} ({n_pos}/{yj.size} positive)")
                    continue
                model = self._fit_logreg(spec, features[keep], yj)
                coefs.append(model.coef_[0])
                intercepts.append(model.intercept_[0])
            if constant:
                warnings.warn(
                    f"task {spec.name!r}: labels {', '.join(constant)} have a single class among the labeled "
                    "training posts; they get a constant head predicting that prior. Label posts of both kinds "
                    "to learn them.",
                    UserWarning,
                    stacklevel=3,
                )
            return "sigmoid", tuple(range(len(spec.labels))), np.vstack(coefs), np.asarray(intercepts)

        keep = y != UNLABELED
        present = np.unique(y[keep])
        if present.size < 2:
            if present.size == 0:
                raise ValueError(
                    f"task {spec.name!r} has no labeled training posts (every target is UNLABELED = {UNLABELED}); "
                    f"label some posts for it or leave {spec.name!r} out of `tasks`"
                )
            raise ValueError(
                f"task {spec.name!r}: all {int(keep.sum())} labeled training posts have label "
                f"{spec.labels[present[0]]!r}, but a classifier needs at least two classes; label posts of "
                f"another class ({', '.join(repr(l) for i, l in enumerate(spec.labels) if i != present[0])}) "
                f"or leave {spec.name!r} out of `tasks`"
            )
        missing = [spec.labels[i] for i in range(len(spec.labels)) if i not in set(present.tolist())]
        if missing:
            warnings.warn(
                f"task {spec.name!r}: no labeled training post has label(s) {missing}; they get probability 0",
                UserWarning,
                stacklevel=3,
            )
        model = self._fit_logreg(spec, features[keep], y[keep])
        labels = tuple(int(c) for c in model.classes_)
        if len(labels) == 2:
            return "binary", labels, model.coef_, model.intercept_
        return "softmax", labels, model.coef_, model.intercept_

    def _fit_logreg(self, spec: TaskSpec, features: sp.csr_matrix, y: np.ndarray) -> LogisticRegression:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model = self._logreg().fit(features, y)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            logger.warning("task %r: logistic regression did not converge in max_iter=%d", spec.name, self.max_iter)
        return model

    # -- predict ------------------------------------------------------------------------------------------

    def predict_proba(self, X: Any) -> dict[str, np.ndarray]:
        """{task: (n, L) float64 probabilities in label order}; each post is featurized once for all tasks."""
        check_is_fitted(self, "weights_")
        texts = as_texts(X)
        n = len(texts)
        out = {s.name: np.zeros((n, len(s.labels))) for s in self.specs_}
        for lo in range(0, n, CHUNK_ROWS):
            hi = min(n, lo + CHUNK_ROWS)
            logits = self.featurizer_.transform(texts[lo:hi]) @ self.weights_
            logits += self.intercepts_
            for head in self.heads_.values():
                z = logits[:, head.start : head.stop].astype(np.float64)
                P = out[head.task]
                if head.link == "sigmoid":
                    P[lo:hi] = expit(z)
                elif head.link == "binary":
                    p = expit(z[:, 0])
                    P[lo:hi, head.labels[1]] = p
                    P[lo:hi, head.labels[0]] = 1.0 - p
                else:
                    P[lo:hi, list(head.labels)] = softmax(z, axis=1)
        return out

    def predict(self, X: Any) -> dict[str, list[Any]]:
        """{task: decisions}: a label per post, or a list of labels per post for multi tasks (`thresholds_`)."""
        proba = self.predict_proba(X)
        return {s.name: decide(s, proba[s.name], self.thresholds_.get(s.name)) for s in self.specs_}

    def tune_thresholds(self, X_val: Any, Y_val: Mapping[str, Any]) -> "TfidfMultiTaskClassifier":
        """Set `thresholds_` from validation posts the heads were not trained on (see `models.thresholds`).

        Uses `threshold_strategy` and its safeguards, and `min_recall` for binary tasks with a recall target.
        Tasks absent from `Y_val` keep 0.5. Returns self.
        """
        check_is_fitted(self, "weights_")
        texts = as_texts(X_val)
        present = [s for s in self.specs_ if s.name in Y_val]
        targets = _check_targets(tuple(present), {s.name: Y_val[s.name] for s in present}, len(texts))
        self.thresholds_ = thr.tune_all(
            self.specs_,
            self.predict_proba(texts),
            targets,
            self.min_recall,
            strategy=self.threshold_strategy,
            min_positives=self.threshold_min_positives,
            clip=tuple(self.threshold_clip),
            shrink=self.threshold_shrink,
        )
        return self

    # -- persistence --------------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write `baseline.joblib` (the fitted model) and `baseline.json` (tasks, thresholds, versions).

        The JSON is the human-readable record of what decides a prediction; its thresholds are the ones
        applied on load, so an operating point can be reviewed (and changed) without unpickling.
        """
        check_is_fitted(self, "weights_")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / MODEL_FILE, compress=3)
        meta = {
            "format": ARTIFACT_FORMAT,
            "format_version": ARTIFACT_FORMAT_VERSION,
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "tasks": [s.to_dict() for s in self.specs_],
            "thresholds": {k: [float(t) for t in v] for k, v in self.thresholds_.items()},
            "params": _jsonable({k: v for k, v in self.get_params(deep=False).items() if k != "tasks"}),
            "n_features": int(self.weights_.shape[0]),
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "TfidfMultiTaskClassifier":
        """Load a model written by `save`. Unpickles: load only artifacts you trust.

        Warns when the artifact was saved with another scikit-learn major.minor version (pickles are not
        guaranteed to load or to predict the same across versions).
        """
        directory = Path(directory)
        meta_path = directory / META_FILE
        meta = read_artifact_meta(meta_path, ARTIFACT_FORMAT, ARTIFACT_FORMAT_VERSION, cls.__name__)
        saved = str(meta.get("sklearn_version", "unknown"))
        if _major_minor(saved) != _major_minor(sklearn.__version__):
            warnings.warn(
                f"{directory}: the baseline was saved with scikit-learn {saved} but {sklearn.__version__} is "
                f"installed; it may fail to load or predict differently. Install scikit-learn=={saved} or "
                "retrain the model.",
                UserWarning,
                stacklevel=2,
            )
        model = joblib.load(directory / MODEL_FILE)
        if not isinstance(model, cls):
            raise TypeError(f"{directory / MODEL_FILE} holds a {type(model).__name__}, expected {cls.__name__}")
        tasks = tuple(TaskSpec.from_dict(t) for t in meta["tasks"])
        if tasks != model.specs_:
            raise ValueError(f"{meta_path}: task specs differ from the pickled model's; the artifact is inconsistent")
        expected = default_thresholds(tasks)
        thresholds = {k: [float(t) for t in v] for k, v in meta["thresholds"].items()}
        if {k: len(v) for k, v in thresholds.items()} != {k: len(v) for k, v in expected.items()}:
            raise ValueError(
                f"{meta_path}: thresholds must give one value per label of each multi task and one per binary "
                f"task ({ {k: len(v) for k, v in expected.items()} }), found { {k: len(v) for k, v in thresholds.items()} }"
            )
        model.thresholds_ = thresholds
        return model


# ----------------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------------


def _specs(tasks: Sequence[TaskSpec | Mapping[str, Any]] | None) -> tuple[TaskSpec, ...]:
    if not tasks:
        raise ValueError("`tasks` is empty: pass the TaskSpecs to learn, e.g. specs_from_taxonomy_dict(taxonomy)")
    specs = tuple(t if isinstance(t, TaskSpec) else TaskSpec.from_dict(t) for t in tasks)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    for s in specs:
        if s.kind not in ("single", "multi", "binary"):
            raise ValueError(f"task {s.name!r}: kind must be single, multi or binary, got {s.kind!r}")
        if len(set(s.labels)) != len(s.labels):
            raise ValueError(f"task {s.name!r}: label names must be unique, got {list(s.labels)}")
        if s.kind == "single" and len(s.labels) < 2:
            raise ValueError(f"task {s.name!r}: a single-label task needs at least two labels, got {list(s.labels)}")
        if s.kind == "binary" and (len(s.labels) != 2 or s.positive not in s.labels):
            raise ValueError(
                f"task {s.name!r}: a binary task needs exactly two labels and `positive` naming one of them, "
                f"got labels {list(s.labels)} and positive {s.positive!r}"
            )
        if s.kind == "multi" and not s.labels:
            raise ValueError(f"task {s.name!r}: a multi-label task needs at least one label")
    return specs


def _check_targets(specs: tuple[TaskSpec, ...], Y: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
    """Targets as arrays in the `models.tasks` encoding, with shapes and values checked."""
    if not isinstance(Y, Mapping):
        raise TypeError(f"Y must be a dict {{task: targets}}, got {type(Y).__name__}")
    names = {s.name for s in specs}
    unknown = sorted(set(Y) - names)
    if unknown:
        raise ValueError(f"Y has targets for unknown task(s) {unknown}; the model's tasks are {sorted(names)}")
    out = {}
    for s in specs:
        if s.name not in Y:
            raise ValueError(
                f"Y has no targets for task {s.name!r}; pass them (UNLABELED = {UNLABELED} for posts without "
                f"a label) or leave {s.name!r} out of `tasks`"
            )
        y = np.asarray(Y[s.name])
        L = len(s.labels)
        if s.kind == "multi":
            if y.shape != (n, L):
                raise ValueError(f"Y[{s.name!r}]: expected shape ({n}, {L}) (posts x labels), got {y.shape}")
            bad = ~np.isin(y, (0, 1, UNLABELED))
            allowed = f"0, 1 or UNLABELED ({UNLABELED})"
        else:
            if y.shape != (n,):
                raise ValueError(f"Y[{s.name!r}]: expected shape ({n},) (one label index per post), got {y.shape}")
            bad = ~np.isin(y, list(range(L)) + [UNLABELED])
            allowed = f"a label index 0..{L - 1} or UNLABELED ({UNLABELED})"
        if bad.any():
            raise ValueError(f"Y[{s.name!r}]: every value must be {allowed}; found {y[bad].ravel()[0]!r}")
        out[s.name] = y.astype(np.int64)
    return out


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


__all__ = ["TfidfMultiTaskClassifier", "WordCharTfidf", "TextInputError", "as_texts"]
