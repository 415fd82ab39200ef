"""One device's rules over its readings, in event time (pure): the code evaluate-rule and the backtest share.

A device's `DeviceState` is everything its rules remember — the newest
reading judged, its learnt reporting period, the anomaly detector's state,
the trend line's sums and each rule's alert machine — bounded in size
whatever the rate or the time a device has run, and serialisable (Redis
keeps it between batches, as MessagePack). `judge` folds readings into it in time order and
returns the alert changes they make; the same readings from the same state
always give the same changes, which is what makes a backtest tell the truth
about what evaluate-rule would have done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import msgspec

from iotmon.core import alert_machine, detector, online_trend, rules
from iotmon.core.alert_machine import RENEW, RESOLVE, TRIGGER, MachineState
from iotmon.core.alerts import AlertType
from iotmon.core.rules import BREACH, DeviceRules, Finding, Verdict

FLAP = alert_machine.Settings()  # the flap window and transitions (the debounce settings come per device)
PERIOD_WEIGHT = 0.05  # how fast the learnt reporting period follows the intervals seen
GAP_CLIP = 10.0  # an interval longer than this many periods is a gap (the device was off), not its period


class DeviceState(msgspec.Struct):
    """A msgspec struct, as are its parts: what Redis keeps decodes straight into it (no dict in between)."""

    last_ts: float | None = None  # the newest reading judged (epoch seconds)
    interval_s: float | None = None  # the learnt reporting period
    detector: detector.DetectorState = msgspec.field(default_factory=detector.DetectorState)
    trend: online_trend.TrendState = msgspec.field(default_factory=online_trend.TrendState)
    machines: dict[str, MachineState] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Change:
    """An alert change a reading makes: a trigger, update, flapping or resolve of one rule's alert."""

    rule: AlertType
    transition: str
    at: float  # the reading's time (epoch seconds)
    severity: int  # index into SEVERITIES: the reading's, for a trigger or an update
    finding: Finding | None  # what the alert says (a trigger or an update)


@dataclass(frozen=True, slots=True)
class _Setup:
    """What the rules need that follows from the configuration and the reporting period alone: made again only
    when the period changes (for a device reporting regularly, once)."""

    period: float
    params: detector.DetectorParams
    trend_window: float
    settings: alert_machine.Settings  # the thresholds' and the trend's machines
    anomaly_settings: alert_machine.Settings


def _setup(config: DeviceRules, period: float, flap: alert_machine.Settings) -> _Setup:
    settings = alert_machine.Settings(
        config.breach_count, config.breach_for_s, config.clear_after_s, flap.flap_window_s, flap.flap_transitions
    )
    # An anomaly's score settles slower than a threshold's value: it clears after a few periods at least, and
    # only a breach (not noise near the band's edge) restarts that wait.
    anomaly_clear = max(config.clear_after_s, rules.ANOMALY_CLEAR_PERIODS * period)
    # A long-open anomaly alert would hide every later anomaly: a stronger one, long after, is a new alert.
    renew, quiet = rules.ANOMALY_RENEW_PERIODS * period, rules.ANOMALY_RENEW_QUIET_PERIODS * period
    anomaly_settings = replace(
        settings, clear_after_s=anomaly_clear, hold_restarts_clear=False, renew_after_s=renew, renew_quiet_s=quiet
    )
    params = detector.DetectorParams(period, min(config.anomaly_sensitivity, detector.MAX_SENSITIVITY))
    return _Setup(period, params, config.trend_window(period), settings, anomaly_settings)


def judge(
    config: DeviceRules,
    state: DeviceState,
    readings: Iterable[tuple[float, float]],
    flap: alert_machine.Settings = FLAP,
) -> list[Change]:
    """Fold (epoch seconds, value) readings into `state` (mutated) in time order; the alert changes made.

    Readings at or before the newest already judged are skipped: a redelivery
    changes nothing, and a reading that comes later than newer ones cannot
    change what they have decided.
    """
    changes: list[Change] = []
    setup: _Setup | None = None
    for at, value in sorted(dict(readings).items()):  # one value per instant, in time order
        if state.last_ts is not None and at <= state.last_ts:
            continue
        _learn_period(state, at)
        period = config.period_s(state.interval_s)
        if setup is None or setup.period != period:
            setup = _setup(config, period, flap)
        for rule, verdict, settings in _verdicts(config, setup, state, at, value):
            machine = state.machines.get(rule)
            if verdict.kind != BREACH and (machine is None or machine.quiet):
                continue  # the common case: nothing is, or is about to be, wrong
            if machine is None:
                machine = state.machines[rule] = MachineState()
            transition = alert_machine.step(machine, verdict.kind, verdict.severity, at, settings, verdict.strength)
            # a renewal is the old alert resolving and a new one triggering, as PostgreSQL and a backtest see it
            moves = (RESOLVE, TRIGGER) if transition == RENEW else (transition,) if transition else ()
            changes.extend(Change(rule, move, at, verdict.severity, verdict.finding) for move in moves)
        state.last_ts = at
    return changes


def _verdicts(
    config: DeviceRules, setup: _Setup, state: DeviceState, at: float, value: float
) -> list[tuple[AlertType, Verdict, alert_machine.Settings]]:
    """Every rule's verdict on one reading, with the machine settings it runs under (updates the rules' state).
    A rule that cannot judge this device (a threshold or the trend without alert limits) is left out: its verdict
    would be NONE, which changes no machine."""
    seen = detector.observe(state.detector, at, value, setup.params)
    online_trend.add(state.trend, at, value, setup.trend_window)
    settings = setup.settings
    found = []
    if config.alert_max is not None:
        found.append((rules.THRESHOLD_EXCEEDED, rules.threshold_exceeded(config, at, value), settings))
    if config.alert_min is not None:
        found.append((rules.THRESHOLD_BELOW, rules.threshold_below(config, at, value), settings))
    found.append((rules.DATA_ANOMALY, rules.data_anomaly(config, at, value, seen), setup.anomaly_settings))
    if config.alert_max is not None or config.alert_min is not None:
        fit = online_trend.line(state.trend)
        found.append((rules.TREND_WARNING, rules.trend_warning(config, at, value, fit), settings))
    return found


def _learn_period(state: DeviceState, at: float) -> None:
    if state.last_ts is None:
        return
    gap = at - state.last_ts
    if state.interval_s is None:
        state.interval_s = gap
        return
    state.interval_s += PERIOD_WEIGHT * (min(gap, GAP_CLIP * state.interval_s) - state.interval_s)
