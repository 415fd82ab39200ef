"""Where a device is heading (pure): the regression line's forecast, with an interval, within the sensor's
physical bounds, and when it reaches an alert limit.

A slope is only a trend when it is significant: |slope| / its standard error
at least `TREND_MIN_T` (noise alone rarely gets there). Otherwise the forecast is the
window's level, flat, and no crossing is projected. Each forecast point comes
with a 95 % prediction interval (where a reading then would fall), and value
and interval are kept inside what the sensor can physically give (a
percentage stays within 0–100, a rate is never negative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from iotmon.core.contracts.analytics import Crossing, ForecastPoint
from iotmon.core.stats import TREND_MIN_T
from iotmon.core.timestamps import iso

FORECAST_MINUTES = (15, 30, 60)
THRESHOLD_HORIZON_S = 7 * 86_400  # a crossing further out than this is reported as none
Z95 = 1.96  # the interval's half-width in standard errors (the fits have many points)

# Units whose readings cannot go below 0 (or above 100), used when a device has no physical bounds set.
UNIT_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "percentage": (0.0, 100.0),
    "percent": (0.0, 100.0),
    "%": (0.0, 100.0),
    "units/hour": (0.0, None),
    "units/h": (0.0, None),
    "count": (0.0, None),
    "hz": (0.0, None),
    "rpm": (0.0, None),
    "kelvin": (0.0, None),
}


@dataclass(frozen=True, slots=True)
class Fit:
    """A least-squares line over a window (x in seconds from the window's start), as PostgreSQL's regr_* give it."""

    n: int
    slope: float
    intercept: float
    mean_x: float
    sxx: float  # Σ(x − x̄)²
    syy: float  # Σ(y − ȳ)²
    sxy: float  # Σ(x − x̄)(y − ȳ)

    @property
    def mean_y(self) -> float:
        return self.intercept + self.slope * self.mean_x

    @property
    def residual_sd(self) -> float:
        if self.n < 3 or self.sxx <= 0:
            return math.sqrt(max(self.syy, 0.0) / self.n) if self.n else 0.0
        return math.sqrt(max(self.syy - self.sxy * self.sxy / self.sxx, 0.0) / (self.n - 2))

    @property
    def t_stat(self) -> float:
        if self.n < 3 or self.sxx <= 0:
            return 0.0
        error = self.residual_sd / math.sqrt(self.sxx)
        return abs(self.slope) / error if error > 0 else (math.inf if self.slope else 0.0)

    @property
    def significant(self) -> bool:
        return self.t_stat >= TREND_MIN_T

    def at(self, x: float) -> tuple[float, float]:
        """(the expected value at x, the half-width of its 95 % prediction interval)."""
        if not self.significant:  # no trend: the level, known as well as the mean is
            spread = self.residual_sd * math.sqrt(1 + 1 / max(self.n, 1))
            return self.mean_y, Z95 * spread
        spread = self.residual_sd * math.sqrt(1 + 1 / self.n + (x - self.mean_x) ** 2 / self.sxx)
        return self.intercept + self.slope * x, Z95 * spread


def physical_bounds(
    unit: str | None, physical_min: float | None, physical_max: float | None
) -> tuple[float | None, float | None]:
    """The device's physical bounds: as configured, else what its unit implies."""
    low, high = UNIT_BOUNDS.get((unit or "").strip().lower(), (None, None))
    return (physical_min if physical_min is not None else low, physical_max if physical_max is not None else high)


def clamp(value: float, bounds: tuple[float | None, float | None]) -> float:
    low, high = bounds
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def forecast(
    fit: Fit, now_x: float, now: datetime, bounds: tuple[float | None, float | None] = (None, None)
) -> list[ForecastPoint]:
    """The expected value 15, 30 and 60 minutes from now (x = now_x), with its interval, within the bounds."""
    points = []
    for minutes in FORECAST_MINUTES:
        value, half = fit.at(now_x + minutes * 60)
        points.append(
            ForecastPoint(
                minutes=minutes,
                timestamp=iso(now + timedelta(minutes=minutes)),
                value=round(clamp(value, bounds), 4),
                low=round(clamp(value - half, bounds), 4),
                high=round(clamp(value + half, bounds), 4),
            )
        )
    return points


def time_to_threshold(
    fitted_now: float, slope: float, alert_min: float | None, alert_max: float | None, now: datetime
) -> Crossing | None:
    """When the line crosses alertMax (rising) or alertMin (falling); now if it is already past one; None if it
    does not within the horizon (pass slope 0 for a trend that is not significant)."""
    limits: tuple[tuple[Literal["alertMax", "alertMin"], float | None, int], ...] = (
        ("alertMax", alert_max, 1),
        ("alertMin", alert_min, -1),
    )
    for bound, value, going in limits:  # past a limit already: that one, now, whichever way the line goes
        if value is not None and (fitted_now - value) * going >= 0:
            return Crossing(threshold=bound, value=value, seconds=0.0, at=iso(now))
    for bound, value, going in limits:
        if value is not None and slope * going > 0:
            seconds = (value - fitted_now) / slope
            if 0 <= seconds <= THRESHOLD_HORIZON_S:
                at = iso(now + timedelta(seconds=seconds))
                return Crossing(threshold=bound, value=value, seconds=round(seconds, 1), at=at)
    return None
