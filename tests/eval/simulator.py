"""The simulator's five seed devices through the project's rules: is every injected anomaly alerted, and how
many alerts open on normal readings (per device-hour)?

Each device's signal (iotmon/simulator/signals.py: daily cycle, drift, noise; 5 % of readings anomalous:
spikes past an alert limit, drops below the normal range, runs stuck at one value) is generated for `hours`
at the device's own period and judged by the backtest with the device's seed configuration — the same code
evaluate-rule runs. An anomaly (a stuck run is one) is alerted when an alert opened at or before its last
reading (or the reading after it) is open at some reading of it. An alert that opens at a normal reading that
does not follow an anomaly is false. The first WARMUP of each device is left out: before the anomaly
detector has seen enough to judge (`iotmon.core.detector.WARMUP_PERIODS` periods) only the limits can alert.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from iotmon.core import detector
from iotmon.core.backtest import WouldBeAlert, backtest
from iotmon.core.rules import DeviceRules
from iotmon.simulator.devices import SEED_DEVICES, DeviceProfile
from iotmon.simulator.signals import DEFAULT_ANOMALY_RATE, new_state, next_sample

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, midnight: the daily cycle is in the run


@dataclass(frozen=True, slots=True)
class Episode:
    start: float
    end: float
    kind: str


@dataclass(frozen=True, slots=True)
class DeviceResult:
    device_id: str
    anomalies: int
    alerted: int
    missed_kinds: dict[str, int]
    false_alerts: int
    hours: float
    open_share: float  # the share of the time some alert of the device was open


def run(hours: float = 6.0, seed: int = 1, rate: float = DEFAULT_ANOMALY_RATE) -> list[DeviceResult]:
    return [_device(profile, hours, seed, rate) for profile in SEED_DEVICES]


def _device(profile: DeviceProfile, hours: float, seed: int, rate: float) -> DeviceResult:
    rng = random.Random(seed * 1000 + SEED_DEVICES.index(profile))
    signal = new_state(profile, rng)
    readings: list[tuple[float, float]] = []
    episodes: list[Episode] = []
    for i in range(int(hours * 3600 / profile.period_s)):
        at = START + timedelta(seconds=i * profile.period_s)
        sample = next_sample(profile, signal, at, rng, rate)
        t = at.timestamp()
        readings.append((t, sample.value))
        if sample.anomaly is None:
            continue
        if (
            sample.anomaly == "stuck"
            and episodes
            and episodes[-1].kind == "stuck"
            and episodes[-1].end == t - profile.period_s
        ):
            episodes[-1] = Episode(episodes[-1].start, t, "stuck")
        else:
            episodes.append(Episode(t, t, sample.anomaly))
    config = DeviceRules(
        profile.device_id,
        normal_min=profile.normal_min,
        normal_max=profile.normal_max,
        alert_min=profile.alert_min,
        alert_max=profile.alert_max,
        update_period_ms=int(profile.period_s * 1000),
    )
    alerts = backtest(config, readings).alerts
    judged_from = readings[0][0] + detector.WARMUP_PERIODS * profile.period_s
    late = profile.period_s  # an alert may open at the reading after the anomaly (a level test needs two)
    judged = [e for e in episodes if e.start >= judged_from]
    missed: dict[str, int] = {}
    for episode in judged:
        if not any(
            a.opened_at <= episode.end + late and (a.resolved_at is None or a.resolved_at >= episode.start)
            for a in alerts
        ):
            missed[episode.kind] = missed.get(episode.kind, 0) + 1
    false = [
        a
        for a in alerts
        if a.opened_at >= judged_from and not any(e.start <= a.opened_at <= e.end + late for e in episodes)
    ]
    judged_hours = (readings[-1][0] - judged_from) / 3600
    return DeviceResult(
        profile.device_id,
        len(judged),
        len(judged) - sum(missed.values()),
        missed,
        len(false),
        judged_hours,
        _open_share(alerts, judged_from, readings[-1][0]),
    )


def _open_share(alerts: list[WouldBeAlert], start: float, end: float) -> float:
    """The share of [start, end] during which at least one alert was open (overlaps counted once)."""
    spans = sorted((max(a.opened_at, start), min(a.resolved_at or end, end)) for a in alerts)
    covered, reached = 0.0, start
    for opened, resolved in spans:
        if resolved > reached:
            covered += resolved - max(opened, reached)
            reached = resolved
    return covered / (end - start) if end > start else 0.0
