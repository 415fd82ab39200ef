"""A streaming anomaly detector for one device's readings (pure: no I/O, no clock).

v0 — under tuning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DAY_S = 86_400.0
DAY_BINS = 24
LEVEL_PERIODS = 10.0
SCALE_PERIODS = 200.0
SHIFT_PERIODS = 4.0
SEASON_DAYS = 3.0
WARMUP_PERIODS = 100.0
HUBER = 3.0
SHIFT_FRACTION = 0.5
MAD_TO_SD = 1.2533
REL_FLOOR = 1e-3
ABS_FLOOR = 1e-9
ADAPT_AFTER_SHIFT = True
TAIL_P = 0.98
TAIL_Z = 2.326
TAIL_RATE = 0.05


@dataclass(frozen=True, slots=True)
class DetectorParams:
    period_s: float
    sensitivity: float = 4.0


@dataclass(frozen=True, slots=True)
class Observation:
    score: float
    expected: float
    low: float
    high: float
    kind: str
    warming_up: bool


class DetectorState:
    __slots__ = ("level", "n", "quantum", "scale", "scale_lo", "season", "shift", "t_first", "t_last", "x_last")

    def __init__(self) -> None:
        self.n = 0
        self.t_first = 0.0
        self.t_last = 0.0
        self.x_last = 0.0
        self.level = 0.0
        self.scale = 0.0
        self.scale_lo = 0.0
        self.shift = 0.0
        self.quantum = 0.0
        self.season = [0.0] * DAY_BINS

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorState:
        state = cls()
        for name in cls.__slots__:
            setattr(state, name, data[name])
        state.season = list(state.season)
        return state


def _alpha(dt: float, tau: float) -> float:
    return 1.0 - math.exp(-dt / tau)


def observe(state: DetectorState, t: float, x: float, params: DetectorParams) -> Observation:
    p = params.period_s
    sens = params.sensitivity
    if state.n == 0:
        state.n = 1
        state.t_first = state.t_last = t
        state.level = state.x_last = x
        return Observation(0.0, x, x, x, "warming up", True)
    dt = t - state.t_last
    state.t_last = t
    n = state.n = state.n + 1
    dx = abs(x - state.x_last)
    state.x_last = x
    if dx > 0.0 and (state.quantum == 0.0 or dx < state.quantum):
        state.quantum = dx
    # seasonal offset, linear between hourly bins
    phase = (t % DAY_S) / DAY_S * DAY_BINS
    i0 = int(phase) % DAY_BINS
    f = phase - int(phase)
    i1 = (i0 + 1) % DAY_BINS
    season = state.season
    s = season[i0] * (1.0 - f) + season[i1] * f
    expected = state.level + s
    r = x - expected
    floor = max(ABS_FLOOR, REL_FLOOR * abs(state.level), 0.5 * state.quantum)
    sc_hi = max(state.scale, floor)
    sc_lo = max(state.scale_lo, floor)
    sc = sc_hi if r >= 0 else sc_lo
    z = r / sc
    warm = (t - state.t_first) < WARMUP_PERIODS * p
    # updates
    inv_n = 1.0 / n
    a_l = max(_alpha(dt, LEVEL_PERIODS * p), inv_n)
    a_s = max(_alpha(dt, SCALE_PERIODS * p), inv_n)
    a_sh = _alpha(dt, SHIFT_PERIODS * p)
    a_se = _alpha(dt * DAY_BINS, SEASON_DAYS * DAY_S)
    lim = HUBER * sc if not warm else math.inf
    e = r if -lim <= r <= lim else math.copysign(lim, r)
    state.shift += a_sh * (e - state.shift)
    shift_z = state.shift / sc
    state.level += a_l * e
    season[i0] += a_se * (1.0 - f) * e
    season[i1] += a_se * f * e
    if warm:
        state.scale += a_s * (MAD_TO_SD * abs(e) - state.scale)
        state.scale_lo = state.scale
    else:
        # multiplicative tracking of the TAIL_P quantile of each side of r, as a standard deviation
        step = TAIL_RATE * min(dt / p, 10.0)
        up = step * TAIL_P
        down = -step * (1.0 - TAIL_P)
        state.scale = sc_hi * math.exp(up if r > sc_hi * TAIL_Z else down)
        state.scale_lo = sc_lo * math.exp(up if -r > sc_lo * TAIL_Z else down)
    spike_score = abs(z) / sens
    shift_score = abs(shift_z) / (SHIFT_FRACTION * sens)
    if spike_score >= shift_score:
        score, kind = spike_score, "spike"
    else:
        score, kind = shift_score, "level shift"
    if score >= 1.0 and kind == "level shift" and ADAPT_AFTER_SHIFT:
        state.level += state.shift
        state.shift = 0.0
    low = expected - sens * sc_lo
    high = expected + sens * sc_hi
    if warm:
        return Observation(0.0, expected, low, high, "warming up", True)
    return Observation(score, expected, low, high, kind, False)
