"""The safety task's operating point, said out loud: did the threshold reach its recall target, and at what cost.

Why its own record: when noisy gold puts the recall target out of reach, the review-workload guard raises the
threshold and the model finds fewer adverse events than promised. That must travel with the model version
(registry tags, the model card, the bundle the scoring run and the report read), not stay one log line at
training time. `occ evaluate` and `occ promote` print it; the report states it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

TAG_PREFIX = "safety."
MISSED_TAG = "safety.recall_target_missed"
"""Present (with a sentence) on every version whose threshold does not reach the recall target on validation."""


@dataclass(frozen=True)
class SafetyOutcome:
    """Where the safety task's threshold settled on validation."""

    task: str
    recall_target: float
    threshold: float
    validation_recall: float
    validation_flag_share: float
    validation_positive_share: float
    target_met: bool
    guard_reason: str | None = None

    @classmethod
    def measure(cls, task: str, target: float, threshold: float, scores: np.ndarray, positive: np.ndarray,
                guard_reason: str | None = None) -> "SafetyOutcome":
        scores = np.asarray(scores, dtype=float)
        positive = np.asarray(positive, dtype=bool)
        flagged = scores >= threshold
        recall = float(flagged[positive].mean()) if positive.any() else float("nan")
        met = guard_reason is None and (not positive.any() or recall >= target - 1e-12)
        return cls(task, float(target), float(threshold), recall, float(flagged.mean()) if scores.size else float("nan"),
                   float(positive.mean()) if positive.size else float("nan"), bool(met), guard_reason)

    def sentence(self) -> str:
        """One line for people: met or missed, with the recall reached and the share of posts flagged."""
        state = "met" if self.target_met else "NOT met"
        line = (f"{self.task} recall target {self.recall_target:.2f} {state} on validation: recall "
                f"{self.validation_recall:.3f} at threshold {self.threshold:.3f}, {self.validation_flag_share:.1%} of "
                f"posts flagged ({self.validation_positive_share:.1%} positive)")
        if not self.target_met and self.guard_reason:
            line += f"; the review-workload guard set the threshold ({self.guard_reason})"
        return line

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "SafetyOutcome | None":
        if not data:
            return None
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def safety_tags(outcome: SafetyOutcome) -> dict[str, str]:
    """Model-version and run tags: the operating point, and `safety.recall_target_missed` when it was missed."""
    tags = {
        f"{TAG_PREFIX}task": outcome.task,
        f"{TAG_PREFIX}recall_target": f"{outcome.recall_target:.4f}",
        f"{TAG_PREFIX}threshold": f"{outcome.threshold:.6f}",
        f"{TAG_PREFIX}validation_recall": f"{outcome.validation_recall:.4f}",
        f"{TAG_PREFIX}validation_flag_share": f"{outcome.validation_flag_share:.4f}",
        f"{TAG_PREFIX}target_met": "true" if outcome.target_met else "false",
    }
    if not outcome.target_met:
        tags[MISSED_TAG] = outcome.sentence()[:5000]
    return tags
