"""Realistic sensor values, as pure functions: time and randomness are passed in.

A normal value is the device's baseline plus a daily cycle, a slow
mean-reverting drift (Ornstein-Uhlenbeck) and measurement noise, kept inside
the normal range. Anomalies replace it at a configured rate: a spike beyond an
alert threshold (what threshold rules must catch), a drop below the normal
range (what anomaly rules must catch) or a short run stuck at the last value
(a frozen sensor). Sizes are fractions of the device's normal span, so one
shape fits every kind of device.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from iotmon.simulator.devices import DeviceProfile

DEFAULT_ANOMALY_RATE = 0.05  # share of readings with an injected anomaly (IOTMON_ANOMALY_RATE sets it)

BASELINE_BAND = (0.4, 0.6)  # where in the normal range a device settles
DAILY_AMPLITUDE = 0.08
PEAK_HOUR = 15  # afternoon: warmest hall, busiest shift
DRIFT_SD = 0.05  # stationary spread of the drift
DRIFT_LIMIT = 0.15  # the drift never takes a normal value near the edges on its own
DRIFT_REVERSION_S = 600.0  # drift forgets itself over ~10 minutes
NOISE_SD = 0.015

SPIKE_MARGIN = (0.05, 0.25)  # how far past the alert threshold
DROP_DEPTH = (0.1, 0.3)  # how far below the normal minimum
STUCK_RUN = (3, 7)  # readings in a stuck run
KIND_WEIGHTS = {"spike": 0.5, "drop": 0.25, "stuck": 0.25}

# Values no real sensor of that kind can report, whatever the anomaly.
PHYSICAL_LIMITS: dict[str, tuple[float | None, float | None]] = {
    "quality": (0.0, 100.0),
    "vibration": (0.0, None),
    "production": (0.0, None),
    "pressure": (0.0, None),
}

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Sample:
    value: float
    anomaly: str | None = None  # "spike", "drop" or "stuck"

    @property
    def is_anomaly(self) -> bool:
        return self.anomaly is not None


@dataclass(slots=True)
class SignalState:
    """What one device remembers between samples."""

    baseline: float
    drift: float = 0.0
    last_at: datetime | None = None
    last_normal: float | None = None
    stuck_left: int = 0


def new_state(profile: DeviceProfile, rng: random.Random) -> SignalState:
    low, high = BASELINE_BAND
    baseline = profile.normal_min + profile.span * rng.uniform(low, high)
    drift = _clamp(rng.gauss(0.0, DRIFT_SD * profile.span), -DRIFT_LIMIT * profile.span, DRIFT_LIMIT * profile.span)
    return SignalState(baseline=baseline, drift=drift)


def next_sample(
    profile: DeviceProfile,
    state: SignalState,
    now: datetime,
    rng: random.Random,
    anomaly_rate: float = DEFAULT_ANOMALY_RATE,
) -> Sample:
    """The device's value at `now` (aware, later than the previous call); updates `state`."""
    _advance_drift(profile, state, now, rng)
    if state.stuck_left > 0 and state.last_normal is not None:
        state.stuck_left -= 1
        return Sample(state.last_normal, "stuck")
    if rng.random() < start_probability(anomaly_rate):
        return _anomaly(profile, state, rng)
    value = round(_normal_value(profile, state, now, rng), 2)
    state.last_normal = value
    return Sample(value)


def start_probability(anomaly_rate: float) -> float:
    """Chance to start an anomaly so that `anomaly_rate` of all samples are anomalous.

    A stuck run lasts several samples, so episodes must start less often than
    the rate itself (renewal argument: rate = p·E / (p·E + 1 - p)).
    """
    if not 0.0 <= anomaly_rate <= 1.0:
        raise ValueError(f"anomaly rate {anomaly_rate} is not within [0, 1]")
    mean_run = (STUCK_RUN[0] + STUCK_RUN[1]) / 2
    episode = KIND_WEIGHTS["spike"] + KIND_WEIGHTS["drop"] + KIND_WEIGHTS["stuck"] * mean_run
    return anomaly_rate / (episode * (1.0 - anomaly_rate) + anomaly_rate)


def _advance_drift(profile: DeviceProfile, state: SignalState, now: datetime, rng: random.Random) -> None:
    # Exact OU step for any interval, so irregular sampling keeps the same statistics.
    dt = 0.0 if state.last_at is None else max((now - state.last_at).total_seconds(), 0.0)
    state.last_at = now
    decay = math.exp(-dt / DRIFT_REVERSION_S)
    spread = DRIFT_SD * profile.span * math.sqrt(1.0 - decay * decay)
    limit = DRIFT_LIMIT * profile.span
    state.drift = _clamp(state.drift * decay + rng.gauss(0.0, spread), -limit, limit)


def _normal_value(profile: DeviceProfile, state: SignalState, now: datetime, rng: random.Random) -> float:
    value = state.baseline + daily_offset(profile, now) + state.drift + rng.gauss(0.0, NOISE_SD * profile.span)
    return _physical(profile, _clamp(value, profile.normal_min, profile.normal_max))


def daily_offset(profile: DeviceProfile, now: datetime) -> float:
    """A 24 h cycle by the wall-clock time of `now` (its own time zone), peaking at PEAK_HOUR."""
    seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
    phase = 2 * math.pi * (seconds - PEAK_HOUR * 3600) / DAY_S
    return DAILY_AMPLITUDE * profile.span * math.cos(phase)


def _anomaly(profile: DeviceProfile, state: SignalState, rng: random.Random) -> Sample:
    kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    if kind == "stuck" and state.last_normal is not None:
        state.stuck_left = rng.randint(*STUCK_RUN) - 1
        return Sample(state.last_normal, "stuck")
    if kind == "drop":
        depth = profile.span * rng.uniform(*DROP_DEPTH)
        return Sample(round(_physical(profile, profile.normal_min - depth), 2), "drop")
    return Sample(round(_spike(profile, rng), 2), "spike")


def _spike(profile: DeviceProfile, rng: random.Random) -> float:
    margin = profile.span * rng.uniform(*SPIKE_MARGIN)
    high, low = profile.alert_max, profile.alert_min
    if high is None and low is None:  # no thresholds: leave the normal range instead
        high = profile.normal_max
    if high is not None and (low is None or rng.random() < 0.5):
        return _physical(profile, high + margin)
    return _physical(profile, (low if low is not None else profile.normal_min) - margin)


def _physical(profile: DeviceProfile, value: float) -> float:
    low, high = PHYSICAL_LIMITS.get(profile.sensor_type, (None, None))
    return _clamp(value, low, high)


def _clamp(value: float, low: float | None, high: float | None) -> float:
    if low is not None and value < low:
        return low
    if high is not None and value > high:
        return high
    return value
