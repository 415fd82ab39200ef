"""The steady load of a chaos run: readings POSTed at a fixed pace whatever happens, and alert devices driven
through breaches, so that alert changes keep happening during the faults.

Every reading has its own (device, millisecond timestamp), stamped now, so the run can say exactly which
accepted readings PostgreSQL holds. Only a 202 counts as accepted: a refused or unanswered request may or may
not have stored its readings, and those keys are never sent again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from iotmon.core.alerts import alert_id
from tests.support.auth import gateway_headers

log = logging.getLogger("chaos.load")

Key = tuple[str, datetime]


@dataclass(frozen=True)
class SeedDevice:
    device: str
    sensor: str
    unit: str
    low: float  # readings stay in the middle of the normal range: no threshold, anomaly or trend alert
    high: float


SEED_DEVICES = (
    SeedDevice("device-001", "temperature", "celsius", 45, 55),
    SeedDevice("device-002", "pressure", "psi", 25, 35),
    SeedDevice("device-003", "vibration", "hz", 40, 60),
    SeedDevice("device-004", "production", "units/hour", 250, 350),
    SeedDevice("device-005", "quality", "percentage", 90, 95),
)


@dataclass(frozen=True)
class AlertDevice:
    """A device of the run's own that breaches its limit for `breach_s` of every `cycle_s`: an alert opens,
    then resolves once the readings are back (or escalates first when the breach outlasts ESCALATE_AFTER_S)."""

    device: str
    breach_s: float
    cycle_s: float
    offset_s: float

    def value(self, at: float) -> float:
        return 95.0 if (at + self.offset_s) % self.cycle_s < self.breach_s else 50.0


ALERT_DEVICES = (
    AlertDevice("chaos-alert-1", breach_s=3, cycle_s=20, offset_s=0),
    AlertDevice("chaos-alert-2", breach_s=4, cycle_s=25, offset_s=7),
    AlertDevice("chaos-alert-3", breach_s=8, cycle_s=30, offset_s=13),
    AlertDevice("chaos-alert-4", breach_s=30, cycle_s=45, offset_s=21),  # outlasts ESCALATE_AFTER_S
)
PROBE_DEVICE = "chaos-probe"


def prepare_devices(database_url: str) -> None:
    """The run's own devices: alert devices that open after two breaches and clear after 2 s, a probe device
    that never alerts; none goes offline while the run pauses it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, device_type, location, unit, normal_min, normal_max, alert_max,"
            " breach_count, clear_after_s, offline_timeout_s)"
            " SELECT d, 'temperature', 'chaos', 'celsius', 20, 80, 85, 2, 2, 86400 FROM unnest(%s::text[]) d"
            " ON CONFLICT (device_id) DO NOTHING",
            ([d.device for d in ALERT_DEVICES],),
        )
        conn.execute(
            "INSERT INTO devices (device_id, device_type, location, unit, normal_min, normal_max, alert_max,"
            " offline_timeout_s) VALUES (%s, 'temperature', 'chaos', 'celsius', 0, 1000, 10000, 86400)"
            " ON CONFLICT (device_id) DO NOTHING",
            (PROBE_DEVICE,),
        )


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reading(device: str, at: datetime, sensor: str, value: float, unit: str) -> dict[str, object]:
    return {"deviceId": device, "timestamp": stamp(at), "sensorType": sensor, "value": value, "unit": unit}


class Clock:
    """Millisecond timestamps near now, strictly increasing per device: each key is sent at most once."""

    def __init__(self) -> None:
        self._last: dict[str, datetime] = {}

    def next(self, device: str, count: int) -> list[datetime]:
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        start = now - timedelta(milliseconds=count - 1)
        if (last := self._last.get(device)) is not None:
            start = max(start, last + timedelta(milliseconds=1))
        stamps = [start + timedelta(milliseconds=n) for n in range(count)]
        self._last[device] = stamps[-1]
        return stamps


class SteadyLoad:
    """A thread POSTing one batch every `tick_s`: `per_device` readings of each seed device and one of each
    alert device. Remembers the keys answered 202."""

    def __init__(self, url: str, rate: float, tick_s: float = 0.25, seed: int = 0) -> None:
        self.url, self.tick_s = url, tick_s
        self.per_device = max(1, round(rate * tick_s / len(SEED_DEVICES)))
        self.accepted: list[Key] = []
        self.sent = 0
        self.failed_requests = 0
        self.clock = Clock()
        self._random = random.Random(seed)
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)

    @property
    def rate(self) -> float:
        """Readings per second."""
        return (self.per_device * len(SEED_DEVICES) + len(ALERT_DEVICES)) / self.tick_s

    def start(self) -> SteadyLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(30)

    def batch(self) -> tuple[list[dict[str, object]], list[Key]]:
        readings, keys = [], []
        for seed in SEED_DEVICES:
            for at in self.clock.next(seed.device, self.per_device):
                value = round(self._random.uniform(seed.low, seed.high), 2)
                readings.append(reading(seed.device, at, seed.sensor, value, seed.unit))
                keys.append((seed.device, at))
        elapsed = time.monotonic() - self._started
        for device in ALERT_DEVICES:
            (at,) = self.clock.next(device.device, 1)
            readings.append(reading(device.device, at, "temperature", device.value(elapsed), "celsius"))
            keys.append((device.device, at))
        return readings, keys

    def _run(self) -> None:
        with httpx.Client(timeout=10, headers=gateway_headers()) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                readings, keys = self.batch()
                self.sent += len(keys)
                try:
                    answer: httpx.Response | None = client.post(f"{self.url}/api/readings", json={"readings": readings})
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 202:
                    self.accepted += keys
                else:
                    self.failed_requests += 1
                # A steady pace: a slow answer delays the next batch, it does not make a burst afterwards.
                next_at = max(next_at + self.tick_s, time.monotonic())
                self._stop.wait(max(0.0, next_at - time.monotonic()))


class Operator:
    """Now and then, acknowledges an open alert through the API: alert changes made by the service itself (its
    outbox relay), not only by the functions."""

    def __init__(
        self, url: str, database_url: Callable[[], str], headers: dict[str, str], every_s: float, seed: int = 0
    ) -> None:
        self.url, self.database_url, self.headers, self.every_s = url, database_url, headers, every_s
        self.acknowledged = 0
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-operator", daemon=True)

    def start(self) -> Operator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s * self._random.uniform(0.5, 1.5)):
            try:
                self._acknowledge_one()
            except (psycopg.Error, httpx.HTTPError, OSError) as error:  # a fault is on: the next turn tries again
                log.debug("acknowledge skipped", extra={"error": str(error)})

    def _acknowledge_one(self) -> None:
        with psycopg.connect(self.database_url(), connect_timeout=2) as conn:
            row = conn.execute(
                "SELECT id FROM alerts WHERE status IN ('triggered', 'escalated') ORDER BY random() LIMIT 1"
            ).fetchone()
        if row is None:
            return
        answer = httpx.put(
            f"{self.url}/api/alerts/{alert_id(row[0])}/acknowledge",
            json={"note": "chaos"},
            headers=self.headers,
            timeout=10,
        )
        if answer.status_code == 200:
            self.acknowledged += 1
