"""The alert rules, judged one reading at a time in event time (pure, no I/O).

For each reading a rule gives a `Verdict`: BREACH (the alert condition
holds), CLEAR (back inside by more than the hysteresis), HOLD (in between:
neither counts) or NONE (it cannot judge yet), with a severity and, for a
breach, the `Finding` an alert would carry. The alert state machine
(`alert_machine`) turns verdicts into alert changes; `judge` runs both over a
device's readings, for evaluate-rule and for the backtest alike.

Rules (their alert types):

- `threshold_exceeded`: value > alert_max, from the first such reading (a
  device may ask for several in a row, or for the breach to last, before it
  alerts: breach_count, breach_for_s); clear at value <= alert_max − hysteresis.
- `threshold_below`: the same below alert_min.
- `data_anomaly`: the streaming detector (`iotmon.core.detector`) scores the
  reading against what it expected; score >= 1 is a breach, < 0.5 a clear.
- `trend_warning`: the line through about the last trend window of readings
  (`online_trend`) is projected to cross alert_max (rising) or alert_min
  (falling) within trend_horizon_s, and its slope is significant (t >=
  `TREND_MIN_T`). Clear when no significant crossing is projected within
  1.5 × the horizon.

Windows are in seconds. Those left unset follow the device's reporting period
(`update_period_ms`, or the interval between its readings when that is unset),
so a rule means the same at a reading a second and one every five minutes.

The hysteresis is hysteresis_pct of the normal span (normal_max − normal_min;
when the device has no normal range, the alert range or the threshold's size).
A threshold's severity comes from how far past it, as a share of the normal
span: under 5 % low, under 15 % medium, under 30 % high, else critical. An
anomaly's from its score: under 2 low, under 4 medium, else high. A trend's
from how soon it will cross: under a quarter of the horizon high, under half
medium, else low.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iotmon.core import detector, online_trend, timestamps
from iotmon.core.alerts import SEVERITIES, AlertType
from iotmon.core.forecast import clamp, physical_bounds
from iotmon.core.stats import TREND_MIN_T

BREACH, HOLD, CLEAR, NONE = 1, 0, -1, -2  # NONE: the rule cannot judge this reading (too little history)

SEVERITY_BANDS = (0.05, 0.15, 0.30)  # threshold excess / normal span: < 5 % low, < 15 % medium, < 30 % high
ANOMALY_BANDS = (2.0, 4.0)  # anomaly score: < 2 low, < 4 medium, else high

THRESHOLD_EXCEEDED: AlertType = "threshold_exceeded"
THRESHOLD_BELOW: AlertType = "threshold_below"
DATA_ANOMALY: AlertType = "data_anomaly"
TREND_WARNING: AlertType = "trend_warning"
RULES: tuple[AlertType, ...] = (THRESHOLD_EXCEEDED, THRESHOLD_BELOW, DATA_ANOMALY, TREND_WARNING)

DEFAULT_PERIOD_S = 1.0  # a device's reporting period before it is known
TREND_PERIODS = 60  # the trend window, in reporting periods, unless set
ANOMALY_CLEAR_PERIODS = 10  # an anomaly clears after this many periods back to normal (one disturbance, one alert)
ANOMALY_RENEW_PERIODS = 100  # an anomaly alert open this long, and...
ANOMALY_RENEW_QUIET_PERIODS = 20  # ...this long without a breach, renews on a reading scoring above all it has seen
TREND_CLEAR_FACTOR = 1.5  # a trend clears when no crossing is projected within 1.5 × the horizon
ANOMALY_CLEAR_SCORE = 0.5  # below this score a reading is clearly normal again


@dataclass(frozen=True, slots=True)
class DeviceRules:
    """A device's rule configuration (the `devices` row)."""

    device_id: str
    normal_min: float | None = None
    normal_max: float | None = None
    alert_min: float | None = None
    alert_max: float | None = None
    update_period_ms: int | None = None  # the reporting period; None: learnt from the readings
    anomaly_sensitivity: float = detector.DEFAULT_SENSITIVITY
    trend_horizon_s: float = 900.0
    trend_window_s: float | None = None  # None: TREND_PERIODS reporting periods
    breach_count: int = 1
    breach_for_s: float = 0.0
    clear_after_s: float = 30.0
    hysteresis_pct: float = 2.0
    offline_timeout_s: float = 30.0
    physical_min: float | None = None  # what the sensor can give: as configured, else what its unit implies
    physical_max: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DeviceRules:
        """From a `devices` row; a column left NULL (or absent) takes the default."""
        defaults = cls(row["device_id"])

        def number(name: str) -> float | None:
            value = row.get(name)
            return None if value is None else float(value)

        def setting(name: str) -> float:
            value = number(name)
            return float(getattr(defaults, name)) if value is None else value

        period = row.get("update_period_ms")
        window = number("trend_window_s")
        low, high = physical_bounds(row.get("unit"), number("physical_min"), number("physical_max"))
        return cls(
            device_id=row["device_id"],
            normal_min=number("normal_min"),
            normal_max=number("normal_max"),
            alert_min=number("alert_min"),
            alert_max=number("alert_max"),
            update_period_ms=None if period is None else int(period),
            anomaly_sensitivity=setting("anomaly_sensitivity"),
            trend_horizon_s=setting("trend_horizon_s"),
            trend_window_s=window,
            breach_count=int(setting("breach_count")),
            breach_for_s=setting("breach_for_s"),
            clear_after_s=setting("clear_after_s"),
            hysteresis_pct=setting("hysteresis_pct"),
            offline_timeout_s=setting("offline_timeout_s"),
            physical_min=low,
            physical_max=high,
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

    def period_s(self, learnt: float | None) -> float:
        """The reporting period: configured, else learnt from the readings, else a second."""
        if self.update_period_ms is not None:
            return self.update_period_ms / 1000.0
        return learnt if learnt else DEFAULT_PERIOD_S

    def trend_window(self, period_s: float) -> float:
        return self.trend_window_s if self.trend_window_s is not None else TREND_PERIODS * period_s


@dataclass(frozen=True, slots=True)
class Finding:
    """What an alert says about one reading: message, value, threshold, details."""

    message: str
    value: float | None
    threshold: float | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: int  # BREACH, HOLD, CLEAR or NONE
    severity: int = 0  # index into SEVERITIES (meaningful for a BREACH)
    finding: Finding | None = None  # built for a BREACH only
    strength: float = 0.0  # how strong a BREACH is (the anomaly score): a stronger one can renew an open alert


QUIET = Verdict(CLEAR)
UNJUDGED = Verdict(NONE)


def severity_index(share: float, bands: tuple[float, ...]) -> int:
    """The index of the first band `share` is below (len(bands) beyond the last)."""
    return next((i for i, bound in enumerate(bands) if share < bound), len(bands))


def severity_for(excess: float, span: float) -> str:
    return SEVERITIES[severity_index(excess / (span if span > 0 else 1.0), SEVERITY_BANDS)]


def iso(epoch: float) -> str:
    return timestamps.iso(datetime.fromtimestamp(epoch, UTC))


def _number(value: float) -> str:
    """A value as a person reads it: four significant digits, never in exponent notation."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _round(value: float, digits: int = 4) -> float:
    return float(round(float(value), digits))


# Thresholds


def threshold_exceeded(rules: DeviceRules, at: float, value: float) -> Verdict:
    """Above alert_max; clear once at or below alert_max − hysteresis."""
    limit = rules.alert_max
    if limit is None:
        return UNJUDGED
    if value > limit:
        return _threshold_breach(rules, at, value, limit, "above the alert maximum", "excess")
    return QUIET if value <= limit - rules.hysteresis else Verdict(HOLD)


def threshold_below(rules: DeviceRules, at: float, value: float) -> Verdict:
    """Below alert_min; clear once at or above alert_min + hysteresis."""
    limit = rules.alert_min
    if limit is None:
        return UNJUDGED
    if value < limit:
        return _threshold_breach(rules, at, value, limit, "below the alert minimum", "shortfall")
    return QUIET if value >= limit + rules.hysteresis else Verdict(HOLD)


def _threshold_breach(rules: DeviceRules, at: float, value: float, limit: float, words: str, measure: str) -> Verdict:
    span = rules.normal_span
    finding = Finding(
        f"{rules.device_id} value {value:g} {words} {limit:g}",
        value,
        limit,
        {
            measure: _round(abs(value - limit)),
            "normalSpan": span,
            "hysteresis": _round(rules.hysteresis),
            "readingAt": iso(at),
        },
    )
    return Verdict(BREACH, severity_index(abs(value - limit) / span, SEVERITY_BANDS), finding)


# Anomaly: the streaming detector's score


def data_anomaly(rules: DeviceRules, at: float, value: float, seen: detector.Observation) -> Verdict:
    """The detector's observation of this reading as a verdict."""
    if seen.warming_up:
        return UNJUDGED
    if seen.score < ANOMALY_CLEAR_SCORE:
        return QUIET
    if seen.score < 1.0:
        return Verdict(HOLD)
    # The band as a person reads it: nothing the sensor cannot give (a count's band does not reach below 0).
    bounds = (rules.physical_min, rules.physical_max)
    low, high = clamp(seen.low, bounds), clamp(seen.high, bounds)
    finding = Finding(
        f"{rules.device_id} value {value:g} outside the expected band [{_number(low)}, {_number(high)}]"
        f" ({seen.kind}; score {seen.score:.1f} at sensitivity {rules.anomaly_sensitivity:g})",
        value,
        _round(high if value > seen.expected else low),
        {
            "expected": _round(seen.expected),
            "expectedMin": _round(low),
            "expectedMax": _round(high),
            "score": _round(seen.score, 2),
            "sensitivity": rules.anomaly_sensitivity,
            "detector": detector.DETECTOR,
            "kind": seen.kind,
            "readingAt": iso(at),
        },
    )
    return Verdict(BREACH, severity_index(seen.score, ANOMALY_BANDS), finding, seen.score)


# Trend: the fitted line projected to a threshold


def crossing(rules: DeviceRules, fit: online_trend.Line) -> tuple[float | None, float]:
    """(the alert limit the line heads for, seconds until it crosses it: inf if never, <= 0 if past)."""
    limit = rules.alert_max if fit.slope > 0 else rules.alert_min if fit.slope < 0 else None
    if limit is None:
        return None, float("inf")
    return limit, (limit - fit.fitted) / fit.slope


def trend_warning(rules: DeviceRules, at: float, value: float, fit: online_trend.Line | None) -> Verdict:
    if rules.alert_max is None and rules.alert_min is None:
        return UNJUDGED
    if fit is None:
        return UNJUDGED
    limit, seconds = crossing(rules, fit)
    horizon = rules.trend_horizon_s
    if limit is None or fit.t_stat < TREND_MIN_T / 2 or not 0 < seconds <= horizon * TREND_CLEAR_FACTOR:
        return QUIET
    if fit.t_stat < TREND_MIN_T or seconds > horizon:
        return Verdict(HOLD)
    direction = "up" if fit.slope > 0 else "down"
    crosses = at + seconds
    finding = Finding(
        f"{rules.device_id} trending {direction} ({fit.slope:+.4g}/s): projected to cross {limit:g}"
        f" at {iso(crosses)}, in {seconds:.0f} s",
        value,
        limit,
        {
            "crossesAt": iso(crosses),
            "secondsToThreshold": _round(seconds, 1),
            "slopePerSecond": _round(fit.slope, 6),
            "direction": direction,
            "fittedValue": _round(fit.fitted),
            "tStat": _round(min(fit.t_stat, 1e6), 2),
            "horizonSeconds": horizon,
            "readingAt": iso(at),
        },
    )
    severity = 2 if seconds < horizon / 4 else 1 if seconds < horizon / 2 else 0
    return Verdict(BREACH, severity, finding)
