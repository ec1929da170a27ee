"""Typed views of the params.yaml sections that training reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labeling.params import section


@dataclass(frozen=True)
class ThresholdPolicy:
    strategy: str = "shrunk"
    min_positives: int = 10
    shrink: float = 20.0
    clip: tuple[float, float] = (0.1, 0.9)
    min_recall: dict[str, float] = field(default_factory=dict)
    min_recall_floor: float = 0.1

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "ThresholdPolicy":
        data = section(params, "thresholds")
        clip = tuple(float(x) for x in data.get("clip", (0.1, 0.9)))
        if len(clip) != 2 or not 0 <= clip[0] < clip[1] <= 1:
            raise ValueError("thresholds.clip must be two numbers 0 <= low < high <= 1")
        return cls(str(data.get("strategy", "shrunk")), int(data.get("min_positives", 10)),
                   float(data.get("shrink", 20.0)), clip,  # type: ignore[arg-type]
                   {str(k): float(v) for k, v in (data.get("min_recall") or {}).items()},
                   float(data.get("min_recall_floor", 0.1)))


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
