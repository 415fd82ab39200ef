"""evaluate-rule: metrics → threshold, anomaly and trend rules → alerts in PostgreSQL → `alerts`.

A batch of readings (`io.iotmon.reading.batch.v1` from ingest) is judged per
device by the rules of `iotmon.rules`, configured by the device's row in
PostgreSQL (cached for `config_ttl_s`, so an edit applies within seconds, no
restart), and each (device, rule) runs the no-spam state machine of
`iotmon.alert_machine` on the readings' own timestamps. Alert changes go to
PostgreSQL (one open alert per device and type, history rows), then as events
to the `alerts` topic, then the seed's `alerts:active` is rebuilt.

State, per device, in Redis (pipelined: two round trips per batch, whatever
its size):
- `rules:<device>:window`: list of the last `rules.WINDOW_CAP` readings as "epoch,value";
- `rules:<device>:state`: hash {lastTs, machines (JSON)}, the machines' states
  and the last reading time judged.
Both expire after `STATE_TTL_S`. The state is written only if its lastTs moves
forward (a Lua compare-and-set), and readings at or before lastTs are ignored:
a redelivered batch changes nothing. Lost state starts again from open alerts
in PostgreSQL (the truth).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import msgspec
import numpy as np
from cloudevents.http import CloudEvent

from eventing import topics
from eventing.binding import json_data
from eventing.delivery import Rejected
from eventing.events import READING, READING_BATCH, alert_event
from eventing.sources import unwrap
from eventing.transport import Publisher
from functions import environment
from functions.serving import entry_point
from iotmon.adapters.postgres import alerts
from iotmon.core import alert_machine, rules
from iotmon.core.alert_machine import FLAPPING, RESOLVE, TRIGGER, MachineState
from iotmon.core.rules import SEVERITIES, DeviceRules, Series

log = logging.getLogger(__name__)

SOURCE = "/iotmon/evaluate-rule"
STATE_TTL_S = 86_400
CONFIG_TTL_S = 5.0
FLAP = alert_machine.Settings()  # flap window and transitions (breach_count and clear_after_s come per device)
RULE_TYPES = rules.RULES

# KEYS: state, window. ARGV: lastTs, machines JSON, ttl, cap, window entries…
_SAVE_STATE = """
local last = redis.call('HGET', KEYS[1], 'lastTs')
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'lastTs', ARGV[1], 'machines', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if #ARGV > 4 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 5))
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""


def state_key(device_id: str) -> str:
    return f"rules:{device_id}:state"


def window_key(device_id: str) -> str:
    return f"rules:{device_id}:window"


@dataclass
class DeviceRun:
    """One device's readings in a batch, with its state from Redis."""

    device_id: str
    times: np.ndarray
    values: np.ndarray
    start: int  # where the new readings begin (before: the rolling window)
    last_ts: float | None
    machines: dict[str, MachineState]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def readings_by_device(
    events: Sequence[CloudEvent],
) -> tuple[dict[str, list[tuple[float, float]]], list[str]]:
    """(epoch seconds, value) per device from reading and batch events, and why others are refused (pure)."""
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    refused: list[str] = []
    for event in map(unwrap, events):
        if event["type"] not in (READING, READING_BATCH):
            refused.append(f"event {event['id']}: unknown type {event['type']!r}")
            continue
        try:
            data = json_data(event)
        except msgspec.DecodeError as error:
            refused.append(f"event {event['id']}: malformed JSON: {error}")
            continue
        if not isinstance(data, dict):
            refused.append(f"event {event['id']}: data is not a JSON object")
            continue
        items = data.get("readings", []) if event["type"] == READING_BATCH else [data]
        for item in items:
            try:
                at = datetime.fromisoformat(item["timestamp"]).timestamp()
                found[item["deviceId"]].append((at, float(item["value"])))
            except (KeyError, TypeError, ValueError):
                log.warning("reading ignored", extra={"event": event["id"]})
    return found, refused


def run_machines(
    config: DeviceRules,
    series: Sequence[Series],
    times: np.ndarray,
    machines: dict[str, MachineState],
    flap: alert_machine.Settings,
) -> list[tuple[str, str, int]]:
    """(rule, transition, index) in time order, for a device's new readings (pure; mutates `machines`)."""
    settings = alert_machine.Settings(
        config.breach_count,
        config.clear_after_s,
        flap.flap_window_s,
        flap.flap_transitions,
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
        pool,  # type: ignore[no-untyped-def]
        redis,
        publisher: Publisher,
        *,
        config_ttl_s: float = CONFIG_TTL_S,
        flap: alert_machine.Settings = FLAP,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.publisher = publisher
        self.config_ttl_s = config_ttl_s
        self.flap = flap
        self._config: dict[str, DeviceRules] = {}
        self._config_at = float("-inf")
        self._lock = threading.Lock()
        self._save = redis.register_script(_SAVE_STATE)

    def __call__(self, events: Sequence[CloudEvent]) -> list[dict[str, Any]]:
        """Handle events; raises to ask for redelivery, or, once the rest is done, Rejected for events that are not readings."""
        found, refused = readings_by_device(events)
        changes = self._handle(found) if found else []
        if refused:
            raise Rejected("; ".join(refused[:10]))
        return changes

    def _handle(self, found: dict[str, list[tuple[float, float]]]) -> list[dict[str, Any]]:
        runs = self._load_state(found)
        if not runs:
            return []
        config = self._device_config()
        changes: list[dict[str, Any]] = []
        with self.pool.connection() as conn:
            self._rebuild_lost_state(conn, [run for run in runs if run.last_ts is None])
            for run in runs:
                device = config.get(run.device_id)
                if device is None:
                    continue  # not registered (yet): no rules to apply
                series = rules.evaluate(device, run.times, run.values, run.start)
                transitions = run_machines(device, series, run.times[run.start :], run.machines, self.flap)
                by_rule = {s.rule: s for s in series}
                for rule, transition, i in transitions:
                    at = datetime.fromtimestamp(float(run.times[run.start + i]), UTC)
                    made = self._apply(conn, run.device_id, by_rule[rule], transition, i, at)
                    if made is not None:
                        changes.append(made)
            if changes:
                self.publisher.publish(topics.ALERTS, [alert_event(change, SOURCE) for change in changes])
                alerts.refresh_active(conn, self.redis)
        self._save_state(runs)
        return changes

    # Redis state

    def _load_state(self, found: dict[str, list[tuple[float, float]]]) -> list[DeviceRun]:
        devices = list(found)
        pipe = self.redis.pipeline(transaction=False)
        for device in devices:
            pipe.hgetall(state_key(device))
            pipe.lrange(window_key(device), 0, -1)
        replies = pipe.execute()
        runs = []
        for n, device in enumerate(devices):
            state = {_text(name): _text(value) for name, value in replies[2 * n].items()}
            window = [_text(entry) for entry in replies[2 * n + 1]]
            last_ts = float(state["lastTs"]) if state.get("lastTs") else None
            machines = {}
            if state.get("machines"):
                machines = {rule: MachineState.from_dict(data) for rule, data in json.loads(state["machines"]).items()}
            new = sorted(dict(found[device]).items())  # one value per instant, in time order
            if last_ts is not None:
                new = [(t, v) for t, v in new if t > last_ts]
            if not new:
                continue  # a redelivery: all judged already
            past = [tuple(map(float, entry.split(","))) for entry in window] if last_ts is not None else []
            past = [(t, v) for t, v in past if t < new[0][0]]
            both = np.array(past + new, dtype=float).reshape(-1, 2)
            runs.append(
                DeviceRun(
                    device,
                    both[:, 0].copy(),
                    both[:, 1].copy(),
                    len(past),
                    last_ts,
                    machines,
                )
            )
        return runs

    def _save_state(self, runs: list[DeviceRun]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for run in runs:
            tail = zip(run.times[-rules.WINDOW_CAP :], run.values[-rules.WINDOW_CAP :])
            entries = [f"{float(t)!r},{float(v)!r}" for t, v in tail][-(len(run.times) - run.start) :]
            machines = json.dumps({rule: machine.to_dict() for rule, machine in run.machines.items()})
            self._save(
                keys=[state_key(run.device_id), window_key(run.device_id)],
                args=[
                    repr(float(run.times[-1])),
                    machines,
                    STATE_TTL_S,
                    rules.WINDOW_CAP,
                    *entries,
                ],
                client=pipe,
            )
        pipe.execute()

    def _rebuild_lost_state(self, conn, runs: list[DeviceRun]) -> None:  # type: ignore[no-untyped-def]
        """Devices without state: machines of their open alerts start open (PostgreSQL is the truth)."""
        if not runs:
            return
        by_device = {run.device_id: run for run in runs}
        for alert in alerts.open_alerts(conn, list(by_device)):
            if alert["type"] in RULE_TYPES:
                by_device[alert["deviceId"]].machines[alert["type"]] = alert_machine.opened(alert["severity"])

    # PostgreSQL

    def _device_config(self) -> dict[str, DeviceRules]:
        with self._lock:
            if time.monotonic() - self._config_at >= self.config_ttl_s:
                with self.pool.connection() as conn:
                    cursor = conn.execute("SELECT * FROM devices")
                    names = [column.name for column in cursor.description]
                    self._config = {row[0]: DeviceRules.from_row(dict(zip(names, row))) for row in cursor.fetchall()}
                self._config_at = time.monotonic()
            return self._config

    def _apply(
        self,
        conn,
        device_id: str,
        series: Series,
        transition: str,
        i: int,
        at: datetime,
    ):  # type: ignore[no-untyped-def]
        if transition == RESOLVE:
            return alerts.resolve_open(conn, device_id, series.rule, at=at, note="condition cleared")
        if transition == FLAPPING:
            return alerts.mark_flapping(conn, device_id, series.rule, at=at)
        finding = series.describe(i)
        fields = {
            "severity": SEVERITIES[
                int(series.severities[i])
            ],  # the reading's: a trigger's, or the higher one of an update
            "message": finding.message,
            "value": finding.value,
            "threshold": finding.threshold,
            "details": finding.details,
            "at": at,
        }
        if transition == TRIGGER:
            return alerts.trigger(conn, device_id, series.rule, **fields)
        return alerts.raise_severity(conn, device_id, series.rule, **fields)


# functions-framework entry point: one event per HTTP request, from a KafkaSource.


@cache
def _instance() -> EvaluateRule:
    return EvaluateRule(environment.database(), environment.redis_client(), environment.kafka())


handle = entry_point(_instance)
