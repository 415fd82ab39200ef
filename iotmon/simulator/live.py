"""The live simulator: devices sending readings at their own pace (each its `update_period_ms`).

One scheduler loop keeps a heap of next-due times instead of a thread per
device. Each device sends its first reading at once (the dashboard fills
immediately), then one every period ± jitter, so devices do not stay in
lock-step. A failed publish loses that reading, is logged and counted, and the
loop goes on: a broker outage must not end the simulation.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventing.events import reading_event
from eventing.topics import SENSORS_DATA
from eventing.transport import Publisher
from iotmon.simulator.devices import SEED_DEVICES, DeviceProfile, make_reading
from iotmon.simulator.signals import DEFAULT_ANOMALY_RATE, SignalState, new_state, next_sample, start_probability

log = logging.getLogger(__name__)

SOURCE = "/iotmon/simulator"
JITTER = 0.1  # ±10 % of the period


@dataclass
class _Device:
    profile: DeviceProfile
    state: SignalState
    rng: random.Random
    sent: int = 0
    last_sent: str | None = None


def _new_device(profile: DeviceProfile, seed: int | str | None) -> _Device:
    # One random stream per device: its values depend neither on the others nor on timing.
    rng = random.Random(None if seed is None else f"{seed}:{profile.device_id}")
    return _Device(profile, new_state(profile, rng), rng)


class Simulator:
    def __init__(
        self,
        publisher: Publisher,
        devices: Sequence[DeviceProfile] = SEED_DEVICES,
        anomaly_rate: float = DEFAULT_ANOMALY_RATE,
        seed: int | str | None = None,
        source: str = SOURCE,
        jitter: float = JITTER,
    ) -> None:
        start_probability(anomaly_rate)  # refuse a bad rate now, not in the thread
        self.publisher = publisher
        self.anomaly_rate = anomaly_rate
        self.source = source
        self.jitter = jitter
        self._devices = [_new_device(profile, seed) for profile in devices]
        self._schedule_rng = random.Random(None if seed is None else f"{seed}:schedule")
        self._lock = threading.Lock()
        self._sent = 0
        self._errors = 0
        self._anomalies = 0
        self._running = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, stop: threading.Event) -> None:
        """Send readings until `stop` is set (blocks; see start() for a thread)."""
        self._running = True
        try:
            now = time.monotonic()
            due = [(now, index) for index in range(len(self._devices))]
            while due and not stop.is_set():
                at, index = due[0]
                if stop.wait(max(at - time.monotonic(), 0.0)):
                    break
                heapq.heapreplace(due, (self._next_due(at, self._devices[index].profile), index))
                self._emit(self._devices[index])
            stop.wait()  # with no devices there is nothing to do but wait
        finally:
            self._running = False

    def start(self) -> None:
        """Run in a daemon thread (the service's embedded simulator)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name="simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop and wait for the loop; it ends at once unless a publish is in flight."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "status": "running" if self._running else "stopped",
                "readingsSent": self._sent,
                "errors": self._errors,
                "anomalies": self._anomalies,
                "anomalyRate": self.anomaly_rate,
                "devices": {d.profile.device_id: {"sent": d.sent, "lastSent": d.last_sent} for d in self._devices},
            }

    def _next_due(self, at: float, profile: DeviceProfile) -> float:
        # From the scheduled time, so periods do not stretch by the work done;
        # after a stall (a slow publish) resume from now rather than burst.
        step = profile.period_s * (1.0 + self._schedule_rng.uniform(-self.jitter, self.jitter))
        return max(at + step, time.monotonic())

    def _emit(self, device: _Device) -> None:
        now = datetime.now(UTC)
        sample = next_sample(device.profile, device.state, now, device.rng, self.anomaly_rate)
        reading = make_reading(device.profile, sample.value, now)
        try:
            self.publisher.publish(SENSORS_DATA, [reading_event(reading, self.source)])
        except Exception as error:  # any transport failure: count it and carry on
            with self._lock:
                self._errors += 1
            log.warning(
                "simulator could not publish a reading",
                extra={
                    "deviceId": device.profile.device_id,
                    "topic": SENSORS_DATA,
                    "error": f"{type(error).__name__}: {error}",
                },
            )
            return
        with self._lock:
            self._sent += 1
            self._anomalies += sample.is_anomaly
            device.sent += 1
            device.last_sent = reading["timestamp"]
