"""How well the author pass matches a ground truth: author-type macro-F1, specialty accuracy, link precision/recall.

Link figures are over *pairs of accounts*: a predicted pair is two accounts given one `person_id`; it is right
when the truth gives them one person too. Precision is what matters most (a wrong link merges two people's
voices, reach and leader scores), recall what a reviewer still has to find.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Mapping

import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, f1_score

from labeling.authors.classify import AUTHOR_TYPES, CLINICIAN_TYPES


def _pairs(groups: Mapping[str, list[str]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for members in groups.values():
        out.update(combinations(sorted(members), 2))
    return out


def evaluate_authors(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict[str, Any]:
    """`predicted`: authors.parquet as a frame; `truth`: author_id, author_type[, specialty][, person_id].

    Only authors present in both count (an author of the truth file who posted nothing in the run is not an
    error of the pass).
    """
    joined = predicted.merge(truth, on="author_id", suffixes=("", "_true"))
    out: dict[str, Any] = {"authors": int(len(joined))}
    if joined.empty:
        return out
    labels = [t for t in AUTHOR_TYPES if t in set(joined["author_type_true"]) | set(joined["author_type"])]
    out["type_macro_f1"] = round(float(f1_score(joined["author_type_true"], joined["author_type"], labels=labels,
                                                average="macro", zero_division=0)), 4)
    out["type_accuracy"] = round(float(accuracy_score(joined["author_type_true"], joined["author_type"])), 4)
    report = classification_report(joined["author_type_true"], joined["author_type"], labels=labels,
                                   output_dict=True, zero_division=0)
    out["type_f1_by_type"] = {t: round(float(report[t]["f1-score"]), 4) for t in labels}
    clinician_truth = joined["author_type_true"].isin(CLINICIAN_TYPES)
    out["clinician_recall"] = round(float(joined.loc[clinician_truth, "author_type"].isin(CLINICIAN_TYPES).mean()), 4) \
        if clinician_truth.any() else None
    said_clinician = joined["author_type"].isin(CLINICIAN_TYPES)
    out["clinician_precision"] = round(float(joined.loc[said_clinician, "author_type_true"].isin(CLINICIAN_TYPES).mean()), 4) \
        if said_clinician.any() else None
    if "specialty_true" in joined:
        known = joined[clinician_truth & joined["specialty_true"].fillna("").astype(str).ne("")]
        out["specialty_accuracy"] = round(float((known["specialty"].fillna("") == known["specialty_true"]).mean()), 4) \
            if len(known) else None
        out["specialty_coverage"] = round(float(known["specialty"].notna().mean()), 4) if len(known) else None
    if "person_id_true" in joined:
        predicted_pairs = _pairs(joined.groupby("person_id")["author_id"].apply(list).to_dict())
        true_pairs = _pairs(joined.groupby("person_id_true")["author_id"].apply(list).to_dict())
        hits = len(predicted_pairs & true_pairs)
        out["link_pairs_predicted"] = len(predicted_pairs)
        out["link_pairs_true"] = len(true_pairs)
        out["link_precision"] = round(hits / len(predicted_pairs), 4) if predicted_pairs else None
        out["link_recall"] = round(hits / len(true_pairs), 4) if true_pairs else None
    return out
