"""Typed views of the params.yaml sections that training reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labeling.params import section
from models import thresholds as thr


@dataclass(frozen=True)
class ThresholdPolicy:
    strategy: str = thr.DEFAULT_STRATEGY
    min_positives: int = thr.DEFAULT_MIN_POSITIVES
    shrink: float = thr.DEFAULT_SHRINK
    clip: tuple[float, float] = thr.DEFAULT_CLIP
    min_recall: dict[str, float] = field(default_factory=dict)
    min_recall_floor: float = 0.1
    max_flag_ratio: float | None = 3.0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "ThresholdPolicy":
        data = section(params, "thresholds")
        clip = tuple(float(x) for x in data.get("clip", cls.clip))
        if len(clip) != 2 or not 0 <= clip[0] < clip[1] <= 1:
            raise ValueError("thresholds.clip must be two numbers 0 <= low < high <= 1")
        ratio = data.get("max_flag_ratio", cls.max_flag_ratio)
        if ratio is not None and float(ratio) <= 0:
            raise ValueError("thresholds.max_flag_ratio must be a positive number or null")
        return cls(str(data.get("strategy", cls.strategy)), int(data.get("min_positives", cls.min_positives)),
                   float(data.get("shrink", cls.shrink)), clip,  # type: ignore[arg-type]
                   {str(k): float(v) for k, v in (data.get("min_recall") or {}).items()},
                   float(data.get("min_recall_floor", cls.min_recall_floor)),
                   None if ratio is None else float(ratio))


@dataclass(frozen=True)
class RegistryConfig:
    model_name: str = "occ-insights"
    experiment: str = "occ-insights"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "RegistryConfig":
        data = section(params, "registry")
        return cls(str(data.get("model_name", cls.model_name)), str(data.get("experiment", cls.experiment)))


@dataclass(frozen=True)
class PromotionPolicy:
    max_mean_drop: float = 0.01
    max_task_drop: float = 0.03

    def __post_init__(self) -> None:
        if self.max_mean_drop < 0 or self.max_task_drop < 0:
            raise ValueError("promote.max_mean_drop and promote.max_task_drop must not be negative")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "PromotionPolicy":
        data = section(params, "promote")
        return cls(float(data.get("max_mean_drop", 0.01)), float(data.get("max_task_drop", 0.03)))
