"""Where a device is heading (pure): the regression line's forecast and when it reaches an alert limit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from iotmon.core.contracts.analytics import Crossing, ForecastPoint
from iotmon.core.timestamps import iso

FORECAST_MINUTES = (15, 30, 60)
THRESHOLD_HORIZON_S = 7 * 86_400  # a crossing further out than this is reported as none


def forecast(fitted_now: float, slope: float, now: datetime) -> list[ForecastPoint]:
    """The line's value 15, 30 and 60 minutes from now."""
    return [
        ForecastPoint(
            minutes=minutes,
            timestamp=iso(now + timedelta(minutes=minutes)),
            value=round(fitted_now + slope * minutes * 60, 4),
        )
        for minutes in FORECAST_MINUTES
    ]


def time_to_threshold(
    fitted_now: float, slope: float, alert_min: float | None, alert_max: float | None, now: datetime
) -> Crossing | None:
    """When the line crosses alertMax (rising) or alertMin (falling); now if it is already past one; None if it
    does not within the horizon."""
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
