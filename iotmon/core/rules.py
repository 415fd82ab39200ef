"""The alert rules, as pure functions over a device's readings (no I/O).

Each rule turns a device's readings into a `Series`: for every reading, one
verdict — BREACH (the alert condition holds), CLEAR (back inside by more than
the hysteresis) or HOLD (in between: neither counts) — with a severity and, on
demand, the message and details an alert carries. The alert state machine
(`alert_machine`) turns verdicts into alert changes.

Rules (their alert types):

- `threshold_exceeded`: value > alert_max; clear at value <= alert_max − hysteresis.
- `threshold_below`: value < alert_min; clear at value >= alert_min + hysteresis.
- `data_anomaly`: modified z-score 0.6745·|x − median| / MAD over the previous
  `ANOMALY_WINDOW` readings > anomaly_sensitivity (at least `MIN_SAMPLES`);
  expected band median ± sensitivity·MAD/0.6745; clear inside the band shrunk by
  the hysteresis.
- `trend_warning`: least-squares line over the last `TREND_WINDOW` readings
  (the current one included), projected from its fitted value now to cross
  alert_max (rising) or alert_min (falling) within trend_horizon_s; the slope
  must be significant (t ≥ `TREND_MIN_T`). Clear when no significant crossing is
  projected within 1.5 × the horizon.

The hysteresis is hysteresis_pct of the normal span (normal_max − normal_min;
when the device has no normal range, the alert range or the threshold's size).

Severity from how far past the threshold, as a share of the normal span:
under 5 % low, under 15 % medium, under 30 % high, else critical (the anomaly:
distance beyond the expected band, same bands). A trend's severity comes from
how soon it will cross: under a quarter of the horizon high, under half medium,
else low.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from iotmon.core import timestamps
from iotmon.core.alerts import SEVERITIES, AlertType

BREACH, HOLD, CLEAR, NONE = (
    1,
    0,
    -1,
    -2,
)  # NONE: the rule cannot judge this reading (too few samples)

SEVERITY_BANDS = (
    0.05,
    0.15,
    0.30,
)  # excess / normal span: < 5 % low, < 15 % medium, < 30 % high, else critical

THRESHOLD_EXCEEDED: AlertType = "threshold_exceeded"
THRESHOLD_BELOW: AlertType = "threshold_below"
DATA_ANOMALY: AlertType = "data_anomaly"
TREND_WARNING: AlertType = "trend_warning"
RULES: tuple[AlertType, ...] = (THRESHOLD_EXCEEDED, THRESHOLD_BELOW, DATA_ANOMALY, TREND_WARNING)

MIN_SAMPLES = 30  # readings needed before the anomaly and trend rules judge
ANOMALY_WINDOW = 120  # previous readings the median and MAD are taken over
TREND_WINDOW = 60  # readings the trend line is fitted to
TREND_MIN_T = 4.0  # |slope| / its standard error: noise alone rarely gets there
TREND_CLEAR_FACTOR = 1.5  # a trend clears when no crossing is projected within 1.5 × the horizon
MAD_CONSISTENCY = 0.6745  # MAD · 1/0.6745 estimates σ of a normal distribution
WINDOW_CAP = max(ANOMALY_WINDOW, TREND_WINDOW)  # readings a device's rolling window must keep


@dataclass(frozen=True, slots=True)
class DeviceRules:
    """A device's rule configuration (the `devices` row)."""

    device_id: str
    normal_min: float | None = None
    normal_max: float | None = None
    alert_min: float | None = None
    alert_max: float | None = None
    anomaly_sensitivity: float = 4.0
    trend_horizon_s: float = 900.0
    breach_count: int = 2
    clear_after_s: float = 30.0
    hysteresis_pct: float = 2.0
    offline_timeout_s: float = 30.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DeviceRules:
        def number(name: str) -> float | None:
            value = row.get(name)
            return None if value is None else float(value)

        defaults = cls(row["device_id"])
        return cls(
            device_id=row["device_id"],
            normal_min=number("normal_min"),
            normal_max=number("normal_max"),
            alert_min=number("alert_min"),
            alert_max=number("alert_max"),
            anomaly_sensitivity=number("anomaly_sensitivity") or defaults.anomaly_sensitivity,
            trend_horizon_s=number("trend_horizon_s") or defaults.trend_horizon_s,
            breach_count=int(row.get("breach_count") or defaults.breach_count),
            clear_after_s=float(row["clear_after_s"])
            if row.get("clear_after_s") is not None
            else defaults.clear_after_s,
            hysteresis_pct=float(row["hysteresis_pct"])
            if row.get("hysteresis_pct") is not None
            else defaults.hysteresis_pct,
            offline_timeout_s=number("offline_timeout_s") or defaults.offline_timeout_s,
        )

    @property
    def normal_span(self) -> float:
        """The scale severities and the hysteresis are measured in."""
        if self.normal_min is not None and self.normal_max is not None and self.normal_max > self.normal_min:
            return self.normal_max - self.normal_min
        if self.alert_min is not None and self.alert_max is not None and self.alert_max > self.alert_min:
            return self.alert_max - self.alert_min
        threshold = self.alert_max if self.alert_max is not None else self.alert_min
        return abs(threshold) if threshold else 1.0

    @property
    def hysteresis(self) -> float:
        return self.normal_span * self.hysteresis_pct / 100.0


@dataclass(frozen=True, slots=True)
class Finding:
    """What an alert says about one reading: message, value, threshold, details."""

    message: str
    value: float | None
    threshold: float | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Series:
    """One rule's verdicts over a run of readings (numpy arrays of equal length)."""

    rule: str
    kinds: np.ndarray  # int8: BREACH, HOLD, CLEAR or NONE
    severities: np.ndarray  # int8 index into SEVERITIES (meaningful where BREACH)
    describe: Callable[[int], Finding]  # the finding at one index, built only when an alert needs it


def severity_index(excess: np.ndarray | float, span: float) -> np.ndarray:
    """Severity indices for distances past a threshold, measured against the normal span."""
    share = np.asarray(excess, dtype=float) / (span if span > 0 else 1.0)
    return np.searchsorted(np.asarray(SEVERITY_BANDS), share, side="right").astype(np.int8)


def severity_for(excess: float, span: float) -> str:
    return SEVERITIES[int(severity_index(excess, span))]


def iso(epoch: float) -> str:
    return timestamps.iso(datetime.fromtimestamp(epoch, UTC))


def _round(value: float, digits: int = 4) -> float:
    return float(round(float(value), digits))


# Thresholds


def threshold_exceeded(rules: DeviceRules, times: np.ndarray, values: np.ndarray) -> Series | None:
    """Above alert_max; clear once below alert_max − hysteresis."""
    if rules.alert_max is None:
        return None
    return _threshold(rules, times, values, THRESHOLD_EXCEEDED, rules.alert_max, direction=1)


def threshold_below(rules: DeviceRules, times: np.ndarray, values: np.ndarray) -> Series | None:
    """Below alert_min; clear once above alert_min + hysteresis."""
    if rules.alert_min is None:
        return None
    return _threshold(rules, times, values, THRESHOLD_BELOW, rules.alert_min, direction=-1)


def _threshold(
    rules: DeviceRules, times: np.ndarray, values: np.ndarray, rule: str, limit: float, direction: int
) -> Series:
    """One threshold rule; `direction` 1 breaches above the limit, -1 below it."""
    h, span = rules.hysteresis, rules.normal_span
    if direction > 0:
        breached, cleared = values > limit, values <= limit - h
    else:  # compared as written, not through a subtraction, so a value exactly at the hysteresis bound clears
        breached, cleared = values < limit, values >= limit + h
    kinds = np.where(breached, BREACH, np.where(cleared, CLEAR, HOLD)).astype(np.int8)
    severities = severity_index(np.maximum((values - limit) * direction, 0.0), span)
    words, measure = (
        ("above the alert maximum", "excess") if direction > 0 else ("below the alert minimum", "shortfall")
    )

    def describe(i: int) -> Finding:
        value = float(values[i])
        return Finding(
            f"{rules.device_id} value {value:g} {words} {limit:g}",
            value,
            limit,
            {
                measure: _round(abs(value - limit)),
                "normalSpan": span,
                "hysteresis": _round(h),
                "readingAt": iso(times[i]),
            },
        )

    return Series(rule, kinds, severities, describe)


# Anomaly: median and MAD of the previous readings


def anomaly_band(window: np.ndarray, sensitivity: float, span: float = 1.0) -> tuple[float, float, float, float]:
    """(median, MAD, low, high) of a window: the band outside which a value is an anomaly."""
    median = float(np.median(window))
    mad = max(float(np.median(np.abs(window - median))), _mad_floor(span))
    half = sensitivity * mad / MAD_CONSISTENCY
    return median, mad, median - half, median + half


def _mad_floor(span: float) -> float:
    # A constant signal has MAD 0; without a floor every change of the last digit would be an anomaly.
    return max(span * 1e-3, 1e-9)


def data_anomaly(rules: DeviceRules, times: np.ndarray, values: np.ndarray, start: int) -> Series | None:
    """Verdicts for readings start… of `values` (the earlier ones are the device's rolling window)."""
    n = len(values) - start
    if n <= 0:
        return None
    medians = np.full(n, np.nan)
    mads = np.full(n, np.nan)
    counts = np.zeros(n, dtype=int)
    positions = np.arange(start, len(values))
    full = positions >= ANOMALY_WINDOW
    if full.any():
        # Reading j is judged against values[j - ANOMALY_WINDOW : j]: row j - ANOMALY_WINDOW of the view.
        windows = sliding_window_view(values, ANOMALY_WINDOW)[positions[full] - ANOMALY_WINDOW]
        m = np.median(windows, axis=1)
        medians[full] = m
        mads[full] = np.median(np.abs(windows - m[:, None]), axis=1)
        counts[full] = ANOMALY_WINDOW
    for k in np.flatnonzero(~full & (positions >= MIN_SAMPLES)):  # warm-up: windows still growing
        window = values[: positions[k]]
        medians[k] = np.median(window)
        mads[k] = np.median(np.abs(window - medians[k]))
        counts[k] = len(window)
    span = rules.normal_span
    mads = np.maximum(mads, _mad_floor(span))
    half = rules.anomaly_sensitivity * mads / MAD_CONSISTENCY
    current = values[start:]
    distance = np.abs(current - medians)
    with np.errstate(invalid="ignore"):
        breach = distance > half
        clear = distance <= np.maximum(half - rules.hysteresis, half / 2)
    kinds = np.where(breach, BREACH, np.where(clear, CLEAR, HOLD)).astype(np.int8)
    kinds[counts < MIN_SAMPLES] = NONE
    severities = severity_index(np.nan_to_num(np.maximum(distance - half, 0.0)), span)

    def describe(i: int) -> Finding:
        value, median = float(current[i]), float(medians[i])
        low, high = median - float(half[i]), median + float(half[i])
        score = MAD_CONSISTENCY * abs(value - median) / float(mads[i])
        edge = high if value > median else low
        return Finding(
            f"{rules.device_id} value {value:g} outside the expected band [{low:.2f}, {high:.2f}]"
            f" (modified z-score {score:.1f} > {rules.anomaly_sensitivity:g})",
            value,
            _round(edge, 2),
            {
                "expectedMin": _round(low),
                "expectedMax": _round(high),
                "median": _round(median),
                "mad": _round(float(mads[i])),
                "score": _round(score, 2),
                "sensitivity": rules.anomaly_sensitivity,
                "samples": int(counts[i]),
                "readingAt": iso(times[start + i]),
            },
        )

    return Series(DATA_ANOMALY, kinds, severities, describe)


# Trend: least-squares line projected to a threshold


@dataclass(frozen=True, slots=True)
class Forecast:
    slope: float  # units per second
    fitted: float  # the line's value at the last reading
    t_stat: float
    threshold: float | None  # the threshold the line heads for
    seconds: float  # until it crosses it (inf if never; <= 0 if already past)


def fit_trend(times: np.ndarray, values: np.ndarray, rules: DeviceRules) -> Forecast:
    """The trend of one window of readings (the last one is "now")."""
    slope, fitted, t_stat, threshold, seconds = _forecasts(times[None, :], values[None, :], rules)
    return Forecast(
        float(slope[0]),
        float(fitted[0]),
        float(t_stat[0]),
        threshold[0],
        float(seconds[0]),
    )


def _forecasts(t: np.ndarray, v: np.ndarray, rules: DeviceRules) -> tuple[np.ndarray, ...]:
    """Row-wise least squares over windows (rows of t and v)."""
    n = t.shape[1]
    tc = t - t.mean(axis=1, keepdims=True)
    vm = v.mean(axis=1)
    sxx = (tc * tc).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 0, (tc * (v - vm[:, None])).sum(axis=1) / sxx, 0.0)
        residuals = v - (vm[:, None] + slope[:, None] * tc)
        dof = max(n - 2, 1)
        se = np.sqrt((residuals * residuals).sum(axis=1) / dof / np.where(sxx > 0, sxx, np.inf))
        t_stat = np.where(se > 0, np.abs(slope) / se, np.where(slope != 0, np.inf, 0.0))
    fitted = vm + slope * tc[:, -1]
    threshold = np.full(len(slope), np.nan)
    if rules.alert_max is not None:
        threshold = np.where(slope > 0, rules.alert_max, threshold)
    if rules.alert_min is not None:
        threshold = np.where(slope < 0, rules.alert_min, threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        seconds = np.where(
            np.isnan(threshold),
            np.inf,
            (threshold - fitted) / np.where(slope != 0, slope, np.nan),
        )
    seconds = np.where(np.isnan(seconds), np.inf, seconds)
    threshold_out = np.array([None if np.isnan(x) else float(x) for x in threshold], dtype=object)
    return slope, fitted, t_stat, threshold_out, seconds


def trend_warning(rules: DeviceRules, times: np.ndarray, values: np.ndarray, start: int) -> Series | None:
    if rules.alert_max is None and rules.alert_min is None:
        return None
    n = len(values) - start
    if n <= 0:
        return None
    positions = np.arange(start, len(values))
    kinds = np.full(n, NONE, dtype=np.int8)
    severities = np.zeros(n, dtype=np.int8)
    slope = np.zeros(n)
    fitted = np.zeros(n)
    t_stat = np.zeros(n)
    seconds = np.full(n, np.inf)
    threshold = np.full(n, None, dtype=object)
    # Reading j: the line through values[j - TREND_WINDOW + 1 : j + 1] (fewer while the window fills).
    full = positions >= TREND_WINDOW - 1
    if full.any():
        rows = positions[full] - (TREND_WINDOW - 1)
        columns = _forecasts(
            sliding_window_view(times, TREND_WINDOW)[rows],
            sliding_window_view(values, TREND_WINDOW)[rows],
            rules,
        )
        slope[full], fitted[full], t_stat[full], threshold[full], seconds[full] = columns
    for k in np.flatnonzero(~full & (positions >= MIN_SAMPLES - 1)):
        j = positions[k]
        columns = _forecasts(times[None, : j + 1], values[None, : j + 1], rules)
        slope[k], fitted[k], t_stat[k], threshold[k], seconds[k] = (column[0] for column in columns)
    judged = full | (positions >= MIN_SAMPLES - 1)
    horizon = rules.trend_horizon_s
    significant = t_stat >= TREND_MIN_T
    breach = judged & significant & (seconds > 0) & (seconds <= horizon)
    hold = judged & ~breach & (t_stat >= TREND_MIN_T / 2) & (seconds <= horizon * TREND_CLEAR_FACTOR)
    kinds[judged] = CLEAR
    kinds[hold] = HOLD
    kinds[breach] = BREACH
    severities[:] = np.where(seconds < horizon / 4, 2, np.where(seconds < horizon / 2, 1, 0))

    def describe(i: int) -> Finding:
        at = float(times[start + i])
        limit = threshold[i]
        direction = "up" if slope[i] > 0 else "down"
        crosses = at + float(seconds[i])
        return Finding(
            f"{rules.device_id} trending {direction} ({slope[i]:+.4g}/s): projected to cross {limit:g}"
            f" at {iso(crosses)}, in {seconds[i]:.0f} s",
            float(values[start + i]),
            limit,
            {
                "crossesAt": iso(crosses),
                "secondsToThreshold": _round(seconds[i], 1),
                "slopePerSecond": _round(slope[i], 6),
                "direction": direction,
                "fittedValue": _round(fitted[i]),
                "tStat": _round(min(t_stat[i], 1e6), 2),
                "horizonSeconds": horizon,
                "readingAt": iso(at),
            },
        )

    return Series(TREND_WARNING, kinds, severities, describe)


def evaluate(rules: DeviceRules, times: np.ndarray, values: np.ndarray, start: int = 0) -> list[Series]:
    """Every applicable rule over readings start… of a device's readings in time order.

    `times` (epoch seconds) and `values` hold the device's rolling window
    (positions < start, already judged) followed by the new readings.
    """
    new_times, new_values = times[start:], values[start:]
    found = [
        threshold_exceeded(rules, new_times, new_values),
        threshold_below(rules, new_times, new_values),
        data_anomaly(rules, times, values, start),
        trend_warning(rules, times, values, start),
    ]
    return [series for series in found if series is not None]
