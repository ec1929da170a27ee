"""Inter-annotator agreement: how far the labels can be trusted before a model learns from them.

Why: a model cannot learn a distinction its annotators do not draw the same way, and an annotator far below
the others is a guideline or training problem to find before their labels become gold. Three figures, each
answering its own question:

- Cohen's kappa (Cohen 1960) for each pair of annotators on the posts both labeled: who disagrees with whom.
- Fleiss' kappa (Fleiss 1971) over all posts with two or more annotators: one figure for the task.
- Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability", the
  coincidence-matrix method): the same question, with any number of annotators per post, missing ratings
  allowed and a small-sample correction; posts with a single rating are not pairable and drop out.

Unequal numbers of annotators per post (the usual case: 2 on some posts, 3 on others). Fleiss' 1971 formula
assumes the same number n of raters on every item. Here it is generalised the standard way: a post with n_i
ratings has observed agreement P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1)), P-bar is the plain mean of P_i
over the posts with n_i >= 2, and chance agreement uses the pooled category shares p_j = sum_i n_ij / sum_i n_i.
With equal n_i this is exactly Fleiss' kappa; posts with fewer than two ratings are left out. Krippendorff's
alpha needs no such choice (it weights each post's pairs by 1 / (n_i - 1)), which is why both are reported.

Agreement with the others' consensus, per annotator: on every post the annotator labeled together with at
least one other annotator, the consensus is the label the OTHER annotators' vote gives (the single most
frequent one, the same rule as gold labels); posts where the others tie are left out (and counted). The
figure is Cohen's kappa between the annotator and that consensus (with the share of posts where they match).
With one other annotator on a post the consensus is that annotator's label, so in a two-annotator project it
equals the pairwise kappa. Annotators whose kappa is below `min_agreement` are flagged.

Multi-label tasks are judged label by label: a post's value for an annotator is whether they chose the label
("chosen" / "not chosen"), for annotators who annotated that post for that task (an empty-label row counts as
annotated with none chosen).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from common.errors import OccError
from labeling.annotations import NONE_LABEL, check_annotations
from labeling.dataset import DatasetError
from labeling.taxonomy import Task, Taxonomy

CHOSEN = "chosen"
NOT_CHOSEN = "not chosen"
"""The two values of one label of a multi-label task, as the agreement figures see it."""


class AgreementError(OccError, ValueError):
    """An agreement function was called with input it cannot use (mismatched lengths, negative counts...)."""


class AgreementUndefined(AgreementError):
    """The figure does not exist for this data (no overlap, one category only); the message is the reason."""


# --------------------------------------------------------------------------------------------- the statistics


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa for two raters' nominal labels on the same items (a[i] and b[i] rate item i).

    kappa = (p_o - p_e) / (1 - p_e), p_o the share of items with the same label and p_e the chance agreement
    from each rater's own label shares. Raises AgreementUndefined when there are no items or both raters used
    one and the same label throughout (p_e = 1: agreement beyond chance has no meaning).
    """
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise AgreementError(f"cohen_kappa needs the two raters' labels on the same items; got {len(a)} and {len(b)} labels")
    if any(_missing(v) for v in a + b):
        raise AgreementError("cohen_kappa needs a label from both raters on every item; drop the items either rater skipped")
    n = len(a)
    if n == 0:
        raise AgreementUndefined("no item rated by both")
    codes, categories = pd.factorize(pd.Series(a + b, dtype=object))
    if len(categories) == 1:
        raise AgreementUndefined(f"both gave {categories[0]!r} on all {n} item(s): with one category in use, "
                                 "agreement beyond chance is undefined")
    first, second = codes[:n], codes[n:]
    k = len(categories)
    p_o = float(np.mean(first == second))
    p_e = float(np.bincount(first, minlength=k) @ np.bincount(second, minlength=k)) / (n * n)
    return (p_o - p_e) / (1.0 - p_e)


def _count_matrix(counts: Any) -> np.ndarray:
    matrix = np.asarray(counts, dtype=float)
    if matrix.ndim != 2:
        raise AgreementError(f"expected an items x categories matrix of rater counts; got {matrix.ndim} dimension(s)")
    if matrix.size and (np.any(matrix < 0) or np.any(matrix != np.round(matrix)) or not np.all(np.isfinite(matrix))):
        raise AgreementError("rater counts must be non-negative whole numbers (how many raters put item i in category j)")
    return matrix


def _pairable(matrix: np.ndarray) -> np.ndarray:
    rows = matrix[matrix.sum(axis=1) >= 2]
    if rows.shape[0] == 0:
        raise AgreementUndefined("no item has two or more ratings")
    used = np.flatnonzero(rows.sum(axis=0) > 0)
    if len(used) < 2:
        raise AgreementUndefined("every rating is in one category: with one category in use, agreement beyond "
                                 "chance is undefined")
    return rows


def fleiss_kappa(counts: Any) -> float:
    """Fleiss' kappa from an items x categories matrix: counts[i, j] = raters who put item i in category j.

    Items may have different numbers of raters: items with fewer than two are left out, and the formula is the
    generalised one described in the module docstring (it equals Fleiss 1971 when every item has the same
    number of raters). Raises AgreementUndefined when no item has two ratings or one category holds them all.
    """
    rows = _pairable(_count_matrix(counts))
    per_item = rows.sum(axis=1)
    observed = float(np.mean((rows * (rows - 1)).sum(axis=1) / (per_item * (per_item - 1))))
    shares = rows.sum(axis=0) / rows.sum()
    chance = float((shares ** 2).sum())
    return (observed - chance) / (1.0 - chance)


def krippendorff_alpha_from_counts(counts: Any) -> float:
    """Krippendorff's alpha (nominal) from an items x categories matrix of how many ratings each item got.

    The coincidence-matrix method of Krippendorff (2011): each item (unit) with m_u >= 2 ratings adds
    n_uc * n_uk / (m_u - 1) coincidences for every pair of categories (c != k) and n_uc (n_uc - 1) / (m_u - 1)
    for c = k; alpha = 1 - (n - 1) * (off-diagonal coincidences) / (n^2 - sum_c n_c^2), n the pairable values.
    Raises AgreementUndefined when no item has two ratings or one category holds them all.
    """
    rows = _pairable(_count_matrix(counts))
    weights = 1.0 / (rows.sum(axis=1) - 1.0)
    coincidences = (rows * weights[:, None]).T @ rows - np.diag((rows * weights[:, None]).sum(axis=0))
    totals = rows.sum(axis=0)  # n_c: row sums of the coincidence matrix
    n = float(totals.sum())
    disagreeing = n - float(np.trace(coincidences))
    expected = n * n - float((totals ** 2).sum())
    return 1.0 - (n - 1.0) * disagreeing / expected


def krippendorff_alpha_nominal(reliability_data: Sequence[Sequence[Hashable | None]]) -> float:
    """Krippendorff's alpha (nominal) from a reliability data matrix: one row per observer, one column per unit.

    A missing rating is None (or NaN). Any number of observers may rate a unit; units with a single rating are
    not pairable and drop out (Krippendorff 2011, section C).
    """
    rows = [list(row) for row in reliability_data]
    if not rows:
        raise AgreementUndefined("no observers")
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise AgreementError(f"every observer's row needs one entry per unit (None where missing); row lengths are "
                             f"{sorted({len(row) for row in rows})}")
    values = pd.Series([v for row in rows for v in row], dtype=object)
    present = ~values.map(_missing).to_numpy(dtype=bool)
    codes = np.full(len(values), -1)
    if present.any():
        codes[present] = pd.factorize(values[present])[0]
    codes = codes.reshape(len(rows), width)
    k = int(codes.max()) + 1
    counts = np.stack([(codes == c).sum(axis=0) for c in range(k)], axis=1) if k else np.zeros((width, 0))
    return krippendorff_alpha_from_counts(counts)


# ------------------------------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Figure:
    """One agreement figure and the number of posts behind it; `value` is None (with `reason`) when undefined."""

    value: float | None
    n: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": None if self.value is None else round(self.value, 4), "n": self.n, "reason": self.reason}

    def cell(self) -> str:
        return f"{'n/a' if self.value is None else f'{self.value:.3f}'} ({self.n})"


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's kappa between two annotators on the posts both annotated for the task."""

    annotators: tuple[str, str]
    kappa: Figure

    def to_dict(self) -> dict[str, Any]:
        return {"annotators": list(self.annotators), **self.kappa.to_dict()}


@dataclass(frozen=True)
class ConsensusAgreement:
    """One annotator against the consensus of the others (see the module docstring for the rule)."""

    annotator: str
    kappa: Figure
    percent_agreement: float | None
    others_tied: int  # shared posts left out because the other annotators tied

    def to_dict(self) -> dict[str, Any]:
        return {"annotator": self.annotator, "kappa": self.kappa.to_dict(),
                "percent_agreement": None if self.percent_agreement is None else round(self.percent_agreement, 4),
                "others_tied": self.others_tied}


@dataclass(frozen=True)
class Flag:
    """An annotator whose kappa against the others' consensus is below `min_agreement`."""

    annotator: str
    task: str
    label: str | None  # the label, for a multi-label task
    kappa: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"annotator": self.annotator, "task": self.task, "label": self.label,
                "kappa": round(self.kappa, 4), "n": self.n}

    def describe(self) -> str:
        return f"{self.annotator}{f' on {self.label}' if self.label else ''} ({self.kappa:.3f}, {self.n} posts)"


@dataclass
class LabelAgreement:
    """The figures for a single-label or binary task (`label` None), or for one label of a multi-label task."""

    label: str | None
    fleiss_kappa: Figure
    krippendorff_alpha: Figure
    pairwise: list[PairAgreement] = field(default_factory=list)
    consensus: list[ConsensusAgreement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "fleiss_kappa": self.fleiss_kappa.to_dict(),
                "krippendorff_alpha": self.krippendorff_alpha.to_dict(),
                "pairwise_cohen_kappa": [p.to_dict() for p in self.pairwise],
                "consensus": [c.to_dict() for c in self.consensus]}


@dataclass
class TaskAgreement:
    task: str
    kind: str
    posts: int  # posts annotated for the task
    multiply_annotated: int  # of which by two or more annotators
    annotators: list[str]
    labels: list[LabelAgreement]
    flagged: list[Flag]
    note: str | None = None

    def figures(self, label: str | None = None) -> LabelAgreement:
        for entry in self.labels:
            if entry.label == label:
                return entry
        raise KeyError(f"task {self.task!r} has no figures for label {label!r}; it has {[e.label for e in self.labels]}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "posts": self.posts, "multiply_annotated": self.multiply_annotated,
                "annotators": self.annotators, "note": self.note, "flagged": [f.to_dict() for f in self.flagged],
                "labels": [entry.to_dict() for entry in self.labels]}


@dataclass
class AgreementReport:
    min_agreement: float
    annotators: list[str]
    tasks: list[TaskAgreement]

    def task(self, name: str) -> TaskAgreement:
        for entry in self.tasks:
            if entry.task == name:
                return entry
        raise KeyError(f"no agreement figures for task {name!r}; tasks: {[t.task for t in self.tasks]}")

    @property
    def flagged(self) -> list[Flag]:
        return [flag for entry in self.tasks for flag in entry.flagged]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every figure as {value, n, reason}, values rounded to 4 places."""
        return {"min_agreement": self.min_agreement, "annotators": self.annotators,
                "flagged": [f.to_dict() for f in self.flagged],
                "tasks": {entry.task: entry.to_dict() for entry in self.tasks}}

    def table(self) -> str:
        """Plain text for a terminal: per task, the overall figures, each pair, each annotator, the flags.

        Cells read `value (posts)`; `n/a` cells are explained under the task's tables.
        """
        heading = (f"Inter-annotator agreement: {len(self.annotators)} annotator(s) ({', '.join(self.annotators)}); "
                   f"flagged below {self.min_agreement:g} kappa against the others' consensus")
        lines = [heading]
        for entry in self.tasks:
            lines.append("")
            lines.append(f"{entry.task} ({entry.kind}): {entry.posts} post(s) annotated, "
                         f"{entry.multiply_annotated} by two or more annotators")
            if entry.note:
                lines.append(f"  {entry.note}")
            if not entry.multiply_annotated:
                continue
            first = "label" if entry.kind == "multi" else "task"
            names = [e.label or entry.task for e in entry.labels]
            lines += _indent(_render([first, "Fleiss' kappa (posts)", "Krippendorff's alpha (posts)"],
                                     [[n, e.fleiss_kappa.cell(), e.krippendorff_alpha.cell()]
                                      for n, e in zip(names, entry.labels)]))
            pairs = [p.annotators for p in entry.labels[0].pairwise] if entry.labels else []
            if pairs:
                lines.append("  Cohen's kappa per pair of annotators (posts both annotated):")
                lines += _indent(_render([first, *(f"{a}~{b}" for a, b in pairs)],
                                         [[n, *(p.kappa.cell() for p in e.pairwise)] for n, e in zip(names, entry.labels)]))
            who = [c.annotator for c in entry.labels[0].consensus] if entry.labels else []
            if who:
                lines.append("  Each annotator against the others' consensus: Cohen's kappa (posts), % same:")
                lines += _indent(_render([first, *who], [[n, *(_consensus_cell(c) for c in e.consensus)]
                                                         for n, e in zip(names, entry.labels)]))
            flagged = "; ".join(f.describe() for f in entry.flagged) or "none"
            lines.append(f"  Below {self.min_agreement:g}: {flagged}")
            reasons: dict[str, list[str]] = {}
            for e in entry.labels:
                where = f"{e.label}: " if e.label else ""
                for what, fig in [("Fleiss", e.fleiss_kappa), ("alpha", e.krippendorff_alpha),
                                  *((f"{p.annotators[0]}~{p.annotators[1]}", p.kappa) for p in e.pairwise),
                                  *((c.annotator, c.kappa) for c in e.consensus)]:
                    if fig.value is None and fig.reason:
                        reasons.setdefault(fig.reason, []).append(where + what)
            for reason, cells in reasons.items():
                shown = ", ".join(cells[:6]) + (f" and {len(cells) - 6} more" if len(cells) > 6 else "")
                lines.append(f"  n/a ({shown}): {reason}")
        return "\n".join(lines) + "\n"


def _consensus_cell(entry: ConsensusAgreement) -> str:
    share = "" if entry.percent_agreement is None else f" {100 * entry.percent_agreement:.1f}%"
    return entry.kappa.cell() + share


def _render(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    out = []
    for row in [headers, *rows]:
        cells = [str(row[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(row[1:], widths[1:])]
        out.append("  ".join(cells).rstrip())
    return out


def _indent(lines: list[str]) -> list[str]:
    return ["  " + line for line in lines]


def votes_by_annotator(annotations: pd.DataFrame, task: Task) -> pd.Series:
    """Each annotator's answer per post for one task, indexed by (post_id, annotator), sorted.

    Single-label and binary tasks: the label (an annotator who labeled a post twice counts once, with their
    last label, as in `labeling.gold`). Multi-label tasks: the frozenset of chosen labels (empty = none apply).
    """
    rows = annotations[annotations["task"] == task.name]
    if rows.empty:
        return pd.Series([], index=pd.MultiIndex.from_tuples([], names=["post_id", "annotator"]), dtype=object)
    if not task.is_multi:
        last = rows.drop_duplicates(["post_id", "annotator"], keep="last")
        return last.set_index(["post_id", "annotator"])["label"].astype(object).sort_index()
    annotated = rows[["post_id", "annotator"]].drop_duplicates()
    chosen = rows[rows["label"] != NONE_LABEL].groupby(["post_id", "annotator"])["label"].agg(frozenset)
    index = pd.MultiIndex.from_frame(annotated)
    sets = chosen.reindex(index)
    values = [s if isinstance(s, frozenset) else frozenset() for s in sets]
    return pd.Series(values, index=index, dtype=object).sort_index()


def _unit_matrices(votes: pd.Series, task: Task) -> list[tuple[str | None, pd.DataFrame, list[str]]]:
    """(label or None, posts x annotators matrix of category names with NaN where not annotated, categories)."""
    if votes.empty:
        if not task.is_multi:
            return [(None, pd.DataFrame(), task.label_names)]
        return [(label, pd.DataFrame(), [NOT_CHOSEN, CHOSEN]) for label in task.label_names]
    if not task.is_multi:
        return [(None, votes.unstack("annotator"), task.label_names)]
    units = []
    for label in task.label_names:
        marked = votes.map(lambda s, label=label: CHOSEN if label in s else NOT_CHOSEN)
        units.append((label, marked.unstack("annotator"), [NOT_CHOSEN, CHOSEN]))
    return units


def _figure(function: Any, *args: Any, n: int) -> Figure:
    try:
        return Figure(float(function(*args)), n)
    except AgreementUndefined as exc:
        return Figure(None, n, str(exc))


def _unit_agreement(label: str | None, matrix: pd.DataFrame, categories: list[str], task: Task,
                    min_agreement: float) -> tuple[LabelAgreement, list[Flag]]:
    annotators = [str(c) for c in matrix.columns]
    values = matrix.to_numpy(dtype=object)
    codes = np.full(values.shape, -1)
    for index, category in enumerate(categories):
        codes[values == category] = index
    names = np.array(categories, dtype=object)
    counts = np.stack([(codes == c).sum(axis=1) for c in range(len(categories))], axis=1) if codes.size \
        else np.zeros((0, len(categories)))
    pairable = int((counts.sum(axis=1) >= 2).sum())
    entry = LabelAgreement(label, _figure(fleiss_kappa, counts, n=pairable),
                           _figure(krippendorff_alpha_from_counts, counts, n=pairable))
    for i, j in combinations(range(len(annotators)), 2):
        both = (codes[:, i] >= 0) & (codes[:, j] >= 0)
        n = int(both.sum())
        figure = _figure(cohen_kappa, names[codes[both, i]], names[codes[both, j]], n=n) if n \
            else Figure(None, 0, "no post annotated by both")
        entry.pairwise.append(PairAgreement((annotators[i], annotators[j]), figure))
    flags = []
    for i, annotator in enumerate(annotators):
        own = codes[:, i]
        mine = own >= 0
        others = counts.copy()
        others[np.flatnonzero(mine), own[mine]] -= 1
        shared = mine & (others.sum(axis=1) >= 1)
        top = others.max(axis=1) if len(others) else np.zeros(0)
        unique = (others == top[:, None]).sum(axis=1) == 1
        use = shared & unique
        tied = int((shared & ~unique).sum())
        n = int(use.sum())
        consensus = others.argmax(axis=1) if len(others) else np.zeros(0, dtype=int)
        if n:
            figure = _figure(cohen_kappa, names[own[use]], names[consensus[use]], n=n)
            share = float(np.mean(own[use] == consensus[use]))
        else:
            reason = "the other annotators tied on every shared post" if tied else "no post shared with another annotator"
            figure, share = Figure(None, 0, reason), None
        entry.consensus.append(ConsensusAgreement(annotator, figure, share, tied))
        if figure.value is not None and figure.value < min_agreement:
            flags.append(Flag(annotator, task.name, label, figure.value, n))
    return entry, flags


def agreement_report(annotations: pd.DataFrame, taxonomy: Taxonomy, min_agreement: float) -> AgreementReport:
    """Agreement figures for every task of the taxonomy (see the module docstring for what each one means).

    Raises DatasetError for unknown tasks or labels, and when no post has two annotators for any task (there is
    nothing to compare). Figures that cannot be computed for a task, label, pair or annotator are None with a
    reason, never an error.
    """
    if not -1.0 <= float(min_agreement) <= 1.0:
        raise AgreementError(f"min_agreement is a kappa between -1 and 1 (0.6 is a common bar); got {min_agreement}")
    check_annotations(annotations, taxonomy)
    frame = annotations[["post_id", "task", "label", "annotator"]].astype(str)
    overlap = frame.groupby(["post_id", "task"])["annotator"].nunique() if len(frame) else pd.Series(dtype=int)
    if overlap.empty or int(overlap.max()) < 2:
        annotators = sorted(frame["annotator"].unique())
        raise DatasetError(f"agreement needs at least two annotators on some posts; in these {len(frame)} annotation "
                           f"row(s) from {len(annotators)} annotator(s) ({', '.join(annotators[:5]) or 'none'}) no post "
                           "was annotated by two people for the same task: have a share of posts (e.g. 10-25%) "
                           "labeled by two or more annotators")
    tasks = []
    for task in taxonomy.tasks:
        votes = votes_by_annotator(frame, task)
        raters = votes.groupby(level="post_id").size() if len(votes) else pd.Series(dtype=int)
        multiple = int((raters >= 2).sum())
        note = None
        if votes.empty:
            note = "no annotations for this task"
        elif not multiple:
            note = "no post has two annotators for this task: its figures need posts labeled by two or more people"
        entries, flags = [], []
        for label, matrix, categories in _unit_matrices(votes, task):
            entry, unit_flags = _unit_agreement(label, matrix, categories, task, float(min_agreement))
            entries.append(entry)
            flags += unit_flags
        annotators = sorted(votes.index.get_level_values("annotator").unique()) if len(votes) else []
        tasks.append(TaskAgreement(task.name, task.kind, len(raters), multiple, annotators, entries, flags, note))
    return AgreementReport(float(min_agreement), sorted(frame["annotator"].unique()), tasks)
