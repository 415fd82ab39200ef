"""Window statistics as pure functions: moments, their merge, summaries and trends.

A window is summarised by its *centred moments* over (time, value) pairs:
count, mean time, mean value, the sums of squared deviations of time and of
value (M2) and the co-moment of the two. They are what Welford's update and
Chan's merge keep exact and numerically stable, they combine (and
un-combine) across buckets, and every statistic the windows report follows from them:

    avg   = mean value
    std   = sqrt(M2_value / n)              population standard deviation (ddof=0)
    slope = C_tv / M2_time                  least-squares slope, value units per second

Trend: the least-squares slope times the window length is the change the
regression line makes across the window. It is "stable" when that change is
smaller than TREND_TOLERANCE (2 %) of the device's normal span (normal_max −
normal_min from the device configuration); a device without a configured span
uses the window's observed range (max − min) instead. Otherwise "increasing" or
"decreasing" by the slope's sign — if the slope is significant (|slope| / its
standard error >= TREND_MIN_T): noise is not called a trend. One reading,
identical timestamps or no span give a slope of 0 and "stable".

Timestamps are seconds (floats); order does not matter anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from iotmon.core.contracts.common import Trend
from iotmon.core.contracts.devices import Level, WindowStats

TREND_TOLERANCE = 0.02
TREND_MIN_T = 4.0  # |slope| / its standard error below this is noise, not a trend (the rules use it too)
STABLE: Trend = "stable"
INCREASING: Trend = "increasing"
DECREASING: Trend = "decreasing"
_CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Moments:
    """Centred moments of (t, v) pairs, plus the extremes of v."""

    n: int = 0
    mean_t: float = 0.0
    mean_v: float = 0.0
    m2_t: float = 0.0
    m2_v: float = 0.0
    c_tv: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def shifted(self, dt: float) -> Moments:
        """The same moments with time measured from an origin `dt` seconds earlier."""
        return Moments(self.n, self.mean_t + dt, self.mean_v, self.m2_t, self.m2_v, self.c_tv, self.min, self.max)


def moments(times: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> Moments:
    """The moments of a window given all its readings (two-pass with numpy: exact to rounding)."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.shape != v.shape:
        raise ValueError("times and values differ in length")
    if t.size == 0:
        return Moments()
    dt = t - t.mean()
    dv = v - v.mean()
    return Moments(
        int(t.size),
        float(t.mean()),
        float(v.mean()),
        float(dt @ dt),
        float(dv @ dv),
        float(dt @ dv),
        float(v.min()),
        float(v.max()),
    )


def merge(a: Moments, b: Moments) -> Moments:
    """The moments of two disjoint windows together (Chan et al.)."""
    if a.n == 0:
        return b
    if b.n == 0:
        return a
    n = a.n + b.n
    dt = b.mean_t - a.mean_t
    dv = b.mean_v - a.mean_v
    weight = a.n * b.n / n
    return Moments(
        n,
        a.mean_t + dt * b.n / n,
        a.mean_v + dv * b.n / n,
        a.m2_t + b.m2_t + dt * dt * weight,
        a.m2_v + b.m2_v + dv * dv * weight,
        a.c_tv + b.c_tv + dt * dv * weight,
        min(a.min, b.min),
        max(a.max, b.max),
    )


def merge_all(parts: Iterable[Moments]) -> Moments:
    """The moments of many disjoint windows together, vectorised."""
    parts = [p for p in parts if p.n]
    if not parts:
        return Moments()
    if len(parts) == 1:
        return parts[0]
    a = np.array([(p.n, p.mean_t, p.mean_v, p.m2_t, p.m2_v, p.c_tv, p.min, p.max) for p in parts], dtype=np.float64)
    n, mt, mv = a[:, 0], a[:, 1], a[:, 2]
    total = n.sum()
    mean_t = float((n * mt).sum() / total)
    mean_v = float((n * mv).sum() / total)
    dt, dv = mt - mean_t, mv - mean_v
    return Moments(
        int(total),
        mean_t,
        mean_v,
        float(a[:, 3].sum() + (n * dt * dt).sum()),
        float(a[:, 4].sum() + (n * dv * dv).sum()),
        float(a[:, 5].sum() + (n * dt * dv).sum()),
        float(a[:, 6].min()),
        float(a[:, 7].max()),
    )


def std(m: Moments) -> float:
    """Population standard deviation (ddof=0); 0 for an empty window."""
    return math.sqrt(max(m.m2_v, 0.0) / m.n) if m.n else 0.0


def slope(m: Moments) -> float:
    """Least-squares slope of value over time (units per second); 0 when time does not vary."""
    if m.n < 2 or m.m2_t <= 0.0:
        return 0.0
    return m.c_tv / m.m2_t


def slope_t(m: Moments) -> float:
    """|slope| / its standard error: how far the slope stands out of the noise around the line."""
    if m.n < 3 or m.m2_t <= 0.0:
        return 0.0
    residual = max(m.m2_v - m.c_tv * m.c_tv / m.m2_t, 0.0) / (m.n - 2)
    error = math.sqrt(residual / m.m2_t)
    return abs(slope(m)) / error if error > 0 else (math.inf if m.c_tv else 0.0)


def trend(
    slope_per_s: float,
    window_s: float,
    span: float | None,
    tolerance: float = TREND_TOLERANCE,
    *,
    t_stat: float = math.inf,
) -> Trend:
    """ "increasing" / "decreasing" / "stable": is the regression's change across the window within tolerance × span,
    or the slope not significant (t_stat < TREND_MIN_T)?"""
    if span is None or not span > 0 or t_stat < TREND_MIN_T:
        return STABLE
    change = slope_per_s * window_s
    if abs(change) < tolerance * span:
        return STABLE
    return INCREASING if change > 0 else DECREASING


def median(values: Sequence[float] | np.ndarray) -> float | None:
    """The median (mean of the two middle values for an even count); None for no values."""
    if len(values) == 0:
        return None
    return float(np.median(np.asarray(values, dtype=np.float64)))


def _rounded(value: float | None, digits: int = 4) -> float | None:
    """Readable figures (values are stored to 2 decimals; 4 keep the statistics honest)."""
    return None if value is None else round(value, digits)


def summary(
    m: Moments,
    *,
    median_value: float | None,
    window_s: float,
    normal_span: float | None,
    window_start: str,
    window_end: str,
    updated_at: str,
) -> WindowStats:
    """A window's statistics (the `device:<id>:stats:<window>` document)."""
    k = slope(m)
    span = normal_span if normal_span and normal_span > 0 else (m.max - m.min if m.n else None)
    return WindowStats(
        avg=_rounded(m.mean_v if m.n else None),
        min=m.min if m.n else None,
        max=m.max if m.n else None,
        count=m.n,
        trend=trend(k, window_s, span, t_stat=slope_t(m)),
        std=_rounded(std(m)),
        median=_rounded(median_value),
        slope=_rounded(k, 9),
        window_start=window_start,
        window_end=window_end,
        updated_at=updated_at,
    )


@dataclass(frozen=True, slots=True)
class Ranges:
    """A device's configured ranges (any bound may be missing)."""

    normal_min: float | None = None
    normal_max: float | None = None
    alert_min: float | None = None
    alert_max: float | None = None

    @property
    def normal_span(self) -> float | None:
        if self.normal_min is None or self.normal_max is None:
            return None
        return self.normal_max - self.normal_min


def status(value: float, ranges: Ranges) -> Level:
    """ "critical" beyond an alert bound (> alert_max or < alert_min), "warning" outside the normal range, else "normal"."""
    if (ranges.alert_max is not None and value > ranges.alert_max) or (
        ranges.alert_min is not None and value < ranges.alert_min
    ):
        return "critical"
    if (ranges.normal_max is not None and value > ranges.normal_max) or (
        ranges.normal_min is not None and value < ranges.normal_min
    ):
        return "warning"
    return "normal"


def stored_value(value: float) -> float:
    """The value as PostgreSQL stores it (DECIMAL(10,2), half away from zero), so live and rebuilt state agree."""
    rounded = round(value, 2)
    if abs(abs(value - rounded) - 0.005) < 1e-9:  # a tie in decimal: decide as PostgreSQL does
        return float(Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP))
    return rounded


__all__ = [
    "Moments",
    "Ranges",
    "median",
    "merge",
    "merge_all",
    "moments",
    "slope",
    "status",
    "std",
    "stored_value",
    "summary",
    "trend",
]
