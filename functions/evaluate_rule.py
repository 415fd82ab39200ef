"""evaluate-rule: metrics → threshold, anomaly and trend rules → alerts in PostgreSQL → `alerts`.

A batch of readings (`io.iotmon.reading.batch.v1` from ingest) is judged per
device, in event time, by `iotmon.core.judge` (the rules of
`iotmon.core.rules` and, per (device, rule), the no-spam state machine of
`iotmon.core.alert_machine`), configured by the device's row in PostgreSQL
(cached for `config_ttl_s`, so an edit applies within seconds, no restart).
The backtest runs the same code. Alert changes go to PostgreSQL (one open
alert per device and type, history rows), then as events to the `alerts`
topic, then `alerts:active` is rewritten.

A device presence report (`io.iotmon.device.presence.v1`, passed on by
ingest from a bridge: the plant says a device is gone or back) opens the
device's `device_offline` alert at once, or resolves it, through the same
alert moves and outbox as the rules (escalate-cron raises the same alert when
a device falls silent, and does not resolve one the plant reported until data
newer than the report arrives). A redelivered report changes nothing: an
offline report at or before the alert's resolution opens nothing, an online
report resolves only an alert opened at or before it.

Each device's rule state lives in Redis (iotmon.adapters.redis.rule_state):
two round trips per batch, whatever its size. A device without one (new, or
Redis lost it) has it rebuilt from its last stored readings, in one query for
all such devices of a batch. Readings at or before the last one judged are
ignored, so a redelivered batch changes nothing.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

import psycopg
import redis
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing.delivery import Rejected
from eventing.events import alert_sender
from eventing.sources import presences_of, readings_of
from eventing.transport import Publisher
from functions import environment
from functions.serving import entry_point
from iotmon.adapters import faults
from iotmon.adapters.postgres import alerts, history, outbox
from iotmon.adapters.postgres.devices import DeviceCatalog, DeviceInfo
from iotmon.adapters.redis import active_alerts
from iotmon.adapters.redis.rule_state import RuleStates
from iotmon.core import alert_machine, detector, judge, rules
from iotmon.core.alert_machine import FLAPPING, RESOLVE, TRIGGER
from iotmon.core.alerts import DEVICE_OFFLINE, SEVERITIES
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.contracts.presence import DevicePresence
from iotmon.core.judge import Change, DeviceState
from iotmon.core.readings import parse_time

log = logging.getLogger(__name__)

SOURCE = "/iotmon/evaluate-rule"
CONFIG_TTL_S = 5.0
REBUILD_READINGS = 2 * int(detector.WARMUP_PERIODS)  # what a device's lost rule state is rebuilt from


def readings_by_device(events: Sequence[CloudEvent]) -> tuple[dict[str, list[tuple[float, float]]], list[str]]:
    """(epoch seconds, value) per device from reading and batch events, and why others are refused (pure)."""
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    readings, refused = readings_of(events)
    for reading in readings:
        found[reading.device_id].append((parse_time(reading.timestamp).timestamp(), reading.value))
    return found, refused


class EvaluateRule:
    """The function's core: takes a batch of events in-process; returns the alert changes made."""

    def __init__(
        self,
        pool: ConnectionPool,
        redis_client: redis.Redis,
        publisher: Publisher,
        *,
        config_ttl_s: float = CONFIG_TTL_S,
        flap: alert_machine.Settings = judge.FLAP,
    ) -> None:
        self.pool = pool
        self.redis = redis_client
        self.flap = flap
        self.devices = DeviceCatalog(pool, config_ttl_s)
        self.states = RuleStates(redis_client)
        self._send = alert_sender(publisher)
        self._relayed = False  # this instance has not yet relayed what a crashed one may have left

    def __call__(self, events: Sequence[CloudEvent]) -> list[AlertChange]:
        """Handle events; raises to ask for redelivery, or, once the rest is done, Rejected for events that are
        not readings."""
        found, refused = readings_by_device(events)
        presences, bad = presences_of(events)
        changes = self._handle(found, presences) if found or presences else []
        refused += bad
        if refused:
            raise Rejected("; ".join(refused[:10]))
        return changes

    def _handle(
        self, found: dict[str, list[tuple[float, float]]], presences: Sequence[DevicePresence] = ()
    ) -> list[AlertChange]:
        stored = self.states.load(list(found))
        fresh = [device for device, state in stored.items() if state is None]
        states = {device: state or DeviceState() for device, state in stored.items()}
        devices = self.devices.devices([*found, *(p.device_id for p in presences)])
        with self.pool.connection() as conn:
            self._rebuild(conn, {device: min(at for at, _ in found[device]) for device in fresh}, states, devices)
            self._restore_open_machines(conn, fresh, states)
            made = [
                (device_id, change)
                for device_id in sorted(found)  # one order for every evaluator: their alert locks never cross
                if (device := devices.get(device_id)) is not None  # not in service: no rules to apply
                for change in judge.judge(device.rules, states[device_id], found[device_id], self.flap)
            ]
            with conn.transaction():  # one commit for the batch's alert changes
                changes = [c for device_id, change in made if (c := _apply(conn, device_id, change)) is not None]
                changes += [c for p in presences if (c := _presence(conn, p, devices.get(p.device_id))) is not None]
            faults.point("after-alert-commit")
            if changes:  # first, so that a dashboard hearing of a change never refetches a cached view without it
                active_alerts.changed(self.redis, lambda: alerts.open_alerts_document(conn))
            if changes or not self._relayed:
                outbox.relay(conn, self._send)
                self._relayed = True
        self.states.save(states)
        return changes

    def _rebuild(
        self,
        conn: psycopg.Connection,
        first_new: dict[str, float],
        states: dict[str, DeviceState],
        devices: dict[str, DeviceInfo],
    ) -> None:
        """Devices without state (new, or Redis lost it): their rules' memory is rebuilt from the readings
        PostgreSQL has before this batch, so a lost cache does not mean a new warm-up. The alert changes
        those readings made then are not made again: the machines start from the open alerts instead."""
        if not first_new:
            return
        for device_id, readings in history.recent(conn, first_new, REBUILD_READINGS).items():
            if readings and (device := devices.get(device_id)) is not None:
                judge.judge(device.rules, states[device_id], readings, self.flap)
                states[device_id].machines.clear()

    def _restore_open_machines(
        self, conn: psycopg.Connection, fresh: list[str], states: dict[str, DeviceState]
    ) -> None:
        """Devices without state: the machines of their open alerts start open (PostgreSQL is the truth)."""
        if not fresh:
            return
        for alert in alerts.open_alerts(conn, fresh):
            if alert.type in rules.RULES:
                states[alert.device_id].machines[alert.type] = alert_machine.opened(alert.severity)


def _apply(conn: psycopg.Connection, device_id: str, change: Change) -> AlertChange | None:
    """The alert move a change makes (None: already made, by a redelivery or another evaluator)."""
    at = datetime.fromtimestamp(change.at, UTC)
    if change.transition == RESOLVE:
        return alerts.resolve_open(conn, device_id, change.rule, at=at, source=SOURCE, note="condition cleared")
    if change.transition == FLAPPING:
        return alerts.mark_flapping(conn, device_id, change.rule, at=at, source=SOURCE)
    finding = change.finding
    assert finding is not None  # a trigger or an update always says why
    move = alerts.trigger if change.transition == TRIGGER else alerts.raise_severity
    return move(
        conn,
        device_id,
        change.rule,
        severity=SEVERITIES[change.severity],  # the reading's: a trigger's, or the higher one of an update
        message=finding.message,
        value=finding.value,
        threshold=finding.threshold,
        details=finding.details,
        at=at,
        source=SOURCE,
    )


def _presence(conn: psycopg.Connection, presence: DevicePresence, device: DeviceInfo | None) -> AlertChange | None:
    """The `device_offline` move a presence report makes (None: none, or already made)."""
    if device is None:
        return None  # decommissioned since ingest passed it on
    at = parse_time(presence.timestamp)
    reported = f" ({presence.reason})" if presence.reason else ""
    details = {"reportedBy": "plant", "reason": presence.reason, "reportedAt": alerts.iso(at)}
    if presence.state == "online":
        note = f"reported online by the plant{reported}"
        return alerts.resolve_open(
            conn, presence.device_id, DEVICE_OFFLINE, at=at, source=SOURCE, note=note, details=details, opened_by=at
        )
    if not device.monitored:
        return None  # in maintenance, or inactive: not expected to be online (as escalate-cron)
    return alerts.trigger(
        conn,
        presence.device_id,
        DEVICE_OFFLINE,
        severity="high",
        message=f"{presence.device_id} is offline, as the plant reports{reported}",
        value=None,
        threshold=None,
        details=details,
        at=at,
        source=SOURCE,
    )


# functions-framework entry point: one event per HTTP request, from a KafkaSource.


@cache
def _instance() -> EvaluateRule:
    return EvaluateRule(environment.database(), environment.redis_client(), environment.kafka())


handle = entry_point(_instance)
