"""Streaming anomaly detector (provisional: an exponentially weighted robust z-score)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

BASELINE_PERIODS = 120.0
WARM_UP_PERIODS = 30.0
DETECTOR = "ewma-robust-z"
DEFAULT_SENSITIVITY = 4.0


@dataclass(frozen=True, slots=True)
class DetectorParams:
    period_s: float
    sensitivity: float


@dataclass(slots=True)
class DetectorState:
    level: float | None = None
    spread: float = 0.0
    seen_s: float = 0.0
    at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DetectorState:
        return cls(**data) if data else cls()


@dataclass(frozen=True, slots=True)
class Observation:
    score: float
    expected: float
    low: float
    high: float
    kind: str
    warming_up: bool


def observe(state: DetectorState, t: float, x: float, params: DetectorParams) -> Observation:
    if state.level is None or state.at is None:
        state.level, state.at = x, t
        return Observation(0.0, x, x, x, "warming up", True)
    gap = t - state.at
    state.at = t
    alpha = 1.0 - math.exp(-gap / (BASELINE_PERIODS * params.period_s))
    scale = max(state.spread * 1.2533, abs(state.level) * 1e-6, 1e-9)
    half = params.sensitivity * scale
    score = abs(x - state.level) / half
    expected = state.level
    warming = state.seen_s < WARM_UP_PERIODS * params.period_s
    state.seen_s += gap
    state.spread += alpha * (abs(x - state.level) - state.spread)
    state.level += alpha * (x - state.level)
    return Observation(score, expected, expected - half, expected + half, "outside the expected band", warming)
