"""Load mode: many synthetic devices at a chosen total rate, sent as gateway batches.

Throughput comes from batch events (docs/architecture.md, "Data flow"): each gateway sends one
CloudEvent carrying `batch_size` readings of its own devices, keyed by the
gateway so several partitions share the work. `generate_batches` is pure, so a
benchmark can build the data first and time only the sending; `run_load` paces
the same batches to hold a rate.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import count as counting
from typing import Any

from eventing.events import batch_event
from eventing.transport import Publisher
from iotmon.simulator.devices import SEED_DEVICES, DeviceProfile, make_reading
from iotmon.simulator.sending import Sender
from iotmon.simulator.signals import DEFAULT_ANOMALY_RATE, new_state, next_sample, start_probability

SOURCE = "/iotmon/simulator/load"
GATEWAYS = 8  # enough keys that a 4-partition topic is likely fully used
MAX_BATCH = 10_000  # schema/events: a batch carries at most 10 000 readings
PUBLISH_GROUP = 50  # batch events sent in one publish call when behind schedule

Batch = tuple[str, list[dict[str, Any]]]  # (gateway key, readings)


@dataclass(frozen=True, slots=True)
class LoadSummary:
    sent: int  # readings the transport accepted
    batches: int
    errors: int  # batch events it refused
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "batches": self.batches,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate, 1),
        }


def load_devices(count: int) -> list[DeviceProfile]:
    """`load-00001`, `load-00002`, …, cycling through the five seed devices' kinds (ranges, units, locations)."""
    return [replace(SEED_DEVICES[i % len(SEED_DEVICES)], device_id=f"load-{i + 1:05d}") for i in range(count)]


def gateway_for(index: int, gateways: int = GATEWAYS) -> str:
    return f"gateway-{index % gateways + 1:02d}"


def generate_batches(
    total: int | None,
    devices: int = 1000,
    batch_size: int = 100,
    rate: float = 1000.0,
    start: datetime | None = None,
    gateways: int = GATEWAYS,
    anomaly_rate: float = DEFAULT_ANOMALY_RATE,
    seed: int | str | None = None,
) -> Iterator[Batch]:
    """`total` readings (None: without end) as gateway batches, without pacing.

    Reading k belongs to device k mod `devices` and is timestamped
    start + k/rate, so each device reports every devices/rate seconds and no
    two readings of one device share a timestamp (microsecond precision).
    """
    _check(devices, batch_size, rate, gateways, anomaly_rate)
    return _batches(total, devices, batch_size, rate, start or datetime.now(UTC), gateways, anomaly_rate, seed)


def _batches(
    total: int | None,
    devices: int,
    batch_size: int,
    rate: float,
    start: datetime,
    gateways: int,
    anomaly_rate: float,
    seed: int | str | None,
) -> Iterator[Batch]:
    rng = random.Random(seed)
    profiles = load_devices(devices)
    states = [new_state(profile, rng) for profile in profiles]
    pending: dict[str, list[dict[str, Any]]] = {}
    for k in range(total) if total is not None else counting():
        index = k % devices
        at = start + timedelta(microseconds=round(k * 1e6 / rate))
        sample = next_sample(profiles[index], states[index], at, rng, anomaly_rate)
        gateway = gateway_for(index, gateways)
        readings = pending.setdefault(gateway, [])
        readings.append(make_reading(profiles[index], sample.value, at, "microseconds"))
        if len(readings) == batch_size:
            yield gateway, pending.pop(gateway)
    yield from pending.items()  # the last, partial batches


def run_load(
    publisher: Publisher,
    devices: int = 1000,
    rate: float = 1000.0,
    batch_size: int = 100,
    duration: float | None = None,
    count: int | None = None,
    gateways: int = GATEWAYS,
    anomaly_rate: float = DEFAULT_ANOMALY_RATE,
    seed: int | str | None = None,
    source: str = SOURCE,
    stop: threading.Event | None = None,
) -> LoadSummary:
    """Send `count` readings (else rate × `duration`, else until `stop`) at `rate` per second.

    Pacing is a schedule, not a sleep per batch: batch n goes out when its
    last reading is due, so time spent publishing is not added to the period,
    and batches that fall behind are sent together to catch up.
    """
    total = _total(count, duration, rate, stop)
    stop = stop or threading.Event()
    batches = generate_batches(total, devices, batch_size, rate, None, gateways, anomaly_rate, seed)
    sender = Sender(publisher)
    started = time.monotonic()
    produced = 0
    for key, readings in batches:
        sender.add(batch_event(readings, source, key), len(readings))
        produced += len(readings)
        ahead = started + produced / rate - time.monotonic()
        if ahead > 0 and stop.wait(ahead):
            break
        if ahead > 0 or len(sender.pending) >= PUBLISH_GROUP:
            sender.flush()
        if stop.is_set():
            break
    sender.flush()
    return LoadSummary(sender.sent, sender.events, sender.errors, time.monotonic() - started)


def _total(count: int | None, duration: float | None, rate: float, stop: threading.Event | None) -> int | None:
    if count is not None:
        return count
    if duration is not None:
        return round(rate * duration)
    if stop is None:
        raise ValueError("give a count, a duration or a stop event")
    return None


def _check(devices: int, batch_size: int, rate: float, gateways: int, anomaly_rate: float) -> None:
    start_probability(anomaly_rate)
    if devices < 1 or gateways < 1:
        raise ValueError("load mode needs at least one device and one gateway")
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size {batch_size} is not within 1..{MAX_BATCH}")
    if rate <= 0:
        raise ValueError(f"rate {rate} must be positive")
