"""evaluate-rule: metrics → threshold, anomaly and trend rules → alerts in PostgreSQL → `alerts`.

A batch of readings (`io.iotmon.reading.batch.v1` from ingest) is judged per
device by the rules of `iotmon.core.rules`, configured by the device's row in
PostgreSQL (cached for `config_ttl_s`, so an edit applies within seconds, no
restart), and each (device, rule) runs the no-spam state machine of
`iotmon.core.alert_machine` on the readings' own timestamps. Alert changes go
to PostgreSQL (one open alert per device and type, history rows), then as
events to the `alerts` topic, then `alerts:active` is rewritten.

The rules' rolling windows and the machines live in Redis
(iotmon.adapters.redis.rule_state): two round trips per batch, whatever its
size. Readings at or before the last one judged are ignored, so a redelivered
batch changes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import numpy as np
import psycopg
import redis
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing.delivery import Rejected
from eventing.events import alert_sender
from eventing.sources import readings_of
from eventing.transport import Publisher
from functions import environment
from functions.serving import entry_point
from iotmon.adapters import faults
from iotmon.adapters.postgres import alerts, outbox
from iotmon.adapters.postgres.devices import DeviceCatalog
from iotmon.adapters.redis import active_alerts
from iotmon.adapters.redis.rule_state import RuleStates, Stored, Update
from iotmon.core import alert_machine, rules
from iotmon.core.alert_machine import FLAPPING, RESOLVE, TRIGGER, MachineState
from iotmon.core.alerts import SEVERITIES
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.readings import parse_time
from iotmon.core.rules import DeviceRules, Series

log = logging.getLogger(__name__)

SOURCE = "/iotmon/evaluate-rule"
CONFIG_TTL_S = 5.0
FLAP = alert_machine.Settings()  # flap window and transitions (breach_count and clear_after_s come per device)


@dataclass
class DeviceRun:
    """One device's readings in a batch, after its rolling window, with its machines."""

    device_id: str
    times: np.ndarray
    values: np.ndarray
    start: int  # where the new readings begin (before: the rolling window)
    last_ts: float | None  # the newest reading judged before this batch (None: no state was found)
    machines: dict[str, MachineState]


def readings_by_device(events: Sequence[CloudEvent]) -> tuple[dict[str, list[tuple[float, float]]], list[str]]:
    """(epoch seconds, value) per device from reading and batch events, and why others are refused (pure)."""
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    readings, refused = readings_of(events)
    for reading in readings:
        found[reading.device_id].append((parse_time(reading.timestamp).timestamp(), reading.value))
    return found, refused


def device_run(device_id: str, readings: list[tuple[float, float]], stored: Stored) -> DeviceRun | None:
    """The readings still to judge after the device's window (pure); None when all were judged already."""
    new = sorted(dict(readings).items())  # one value per instant, in time order
    if stored.last_ts is not None:
        new = [(t, v) for t, v in new if t > stored.last_ts]
    if not new:
        return None  # a redelivery
    past = [(t, v) for t, v in stored.window if t < new[0][0]]
    both = np.array(past + new, dtype=float).reshape(-1, 2)
    return DeviceRun(device_id, both[:, 0].copy(), both[:, 1].copy(), len(past), stored.last_ts, dict(stored.machines))


def run_machines(
    config: DeviceRules,
    series: Sequence[Series],
    times: np.ndarray,
    machines: dict[str, MachineState],
    flap: alert_machine.Settings,
) -> list[tuple[str, str, int]]:
    """(rule, transition, index) in time order, for a device's new readings (pure; mutates `machines`)."""
    settings = alert_machine.Settings(
        config.breach_count, config.clear_after_s, flap.flap_window_s, flap.flap_transitions
    )
    found: list[tuple[float, str, str, int]] = []
    for rule_series in series:
        machine = machines.setdefault(rule_series.rule, MachineState())
        kinds, severities = rule_series.kinds, rule_series.severities
        breaches = np.flatnonzero(kinds == rules.BREACH)
        if machine.quiet and not len(breaches):
            continue  # the common case: nothing is or is about to be wrong
        first = 0 if not machine.quiet else int(breaches[0])
        for i in range(first, len(kinds)):
            at = float(times[i])
            transition = alert_machine.step(machine, int(kinds[i]), int(severities[i]), at, settings)
            if transition is not None:
                found.append((at, rule_series.rule, transition, i))
    found.sort(key=lambda item: item[0])
    return [(rule, transition, i) for _, rule, transition, i in found]


class EvaluateRule:
    """The function's core: takes a batch of events in-process; returns the alert changes made."""

    def __init__(
        self,
        pool: ConnectionPool,
        redis_client: redis.Redis,
        publisher: Publisher,
        *,
        config_ttl_s: float = CONFIG_TTL_S,
        flap: alert_machine.Settings = FLAP,
    ) -> None:
        self.pool = pool
        self.redis = redis_client
        self.flap = flap
        self.devices = DeviceCatalog(pool, config_ttl_s)
        self.states = RuleStates(redis_client, rules.WINDOW_CAP)
        self._send = alert_sender(publisher)
        self._relayed = False  # this instance has not yet relayed what a crashed one may have left

    def __call__(self, events: Sequence[CloudEvent]) -> list[AlertChange]:
        """Handle events; raises to ask for redelivery, or, once the rest is done, Rejected for events that are
        not readings."""
        found, refused = readings_by_device(events)
        changes = self._handle(found) if found else []
        if refused:
            raise Rejected("; ".join(refused[:10]))
        return changes

    def _handle(self, found: dict[str, list[tuple[float, float]]]) -> list[AlertChange]:
        stored = self.states.load(list(found))
        runs = [run for device, readings in found.items() if (run := device_run(device, readings, stored[device]))]
        if not runs:
            return []
        devices = self.devices.devices([run.device_id for run in runs])
        changes: list[AlertChange] = []
        with self.pool.connection() as conn:
            self._restore_open_machines(conn, [run for run in runs if run.last_ts is None])
            for run in runs:
                if (device := devices.get(run.device_id)) is not None:  # not in service: no rules to apply
                    changes += self._judge(conn, run, device.rules)
            faults.point("after-alert-commit")
            if changes or not self._relayed:
                outbox.relay(conn, self._send)
                self._relayed = True
            if changes:
                active_alerts.store(self.redis, alerts.open_alerts(conn))
        self.states.save([_update(run) for run in runs])
        return changes

    def _judge(self, conn: psycopg.Connection, run: DeviceRun, config: DeviceRules) -> list[AlertChange]:
        series = rules.evaluate(config, run.times, run.values, run.start)
        by_rule = {s.rule: s for s in series}
        changes = []
        for rule, transition, i in run_machines(config, series, run.times[run.start :], run.machines, self.flap):
            at = datetime.fromtimestamp(float(run.times[run.start + i]), UTC)
            if (made := _apply(conn, run.device_id, by_rule[rule], transition, i, at)) is not None:
                changes.append(made)
        return changes

    def _restore_open_machines(self, conn: psycopg.Connection, runs: list[DeviceRun]) -> None:
        """Devices without state: the machines of their open alerts start open (PostgreSQL is the truth)."""
        if not runs:
            return
        by_device = {run.device_id: run for run in runs}
        for alert in alerts.open_alerts(conn, list(by_device)):
            if alert.type in rules.RULES:
                by_device[alert.device_id].machines[alert.type] = alert_machine.opened(alert.severity)


def _update(run: DeviceRun) -> Update:
    new = list(zip(run.times[run.start :].tolist(), run.values[run.start :].tolist(), strict=True))
    return Update(run.device_id, float(run.times[-1]), run.machines, new)


def _apply(
    conn: psycopg.Connection, device_id: str, series: Series, transition: str, i: int, at: datetime
) -> AlertChange | None:
    """The alert move a transition makes (None: already made, by a redelivery or another evaluator)."""
    if transition == RESOLVE:
        return alerts.resolve_open(conn, device_id, series.rule, at=at, source=SOURCE, note="condition cleared")
    if transition == FLAPPING:
        return alerts.mark_flapping(conn, device_id, series.rule, at=at, source=SOURCE)
    finding = series.describe(i)
    severity = SEVERITIES[int(series.severities[i])]  # the reading's: a trigger's, or the higher one of an update
    move = alerts.trigger if transition == TRIGGER else alerts.raise_severity
    return move(
        conn,
        device_id,
        series.rule,
        severity=severity,
        message=finding.message,
        value=finding.value,
        threshold=finding.threshold,
        details=finding.details,
        at=at,
        source=SOURCE,
    )


# functions-framework entry point: one event per HTTP request, from a KafkaSource.


@cache
def _instance() -> EvaluateRule:
    return EvaluateRule(environment.database(), environment.redis_client(), environment.kafka())


handle = entry_point(_instance)
