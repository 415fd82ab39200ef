"""Readings POSTed under steady load, remembering exactly which ones the system accepted (answered 202).

Fault tests compare that list with what PostgreSQL holds afterwards: every accepted reading must be stored
exactly once. Each reading has its own (device, timestamp), so the comparison is exact.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.auth import gateway_headers

SEED_DEVICES = ("device-001", "device-002", "device-003", "device-004", "device-005")
Key = tuple[str, datetime]


class ReadingLoad:
    def __init__(self, url: str, batch: int = 100, devices: tuple[str, ...] = SEED_DEVICES) -> None:
        self.url, self.batch, self.devices = url, batch, devices
        self.accepted: list[Key] = []
        self.failed_requests = 0  # refused or unanswered: those readings may or may not be stored
        # One reading per millisecond from a whole second an hour ago: unique, and exact in milliseconds.
        self._base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self._sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reading-load", daemon=True)

    def start(self) -> ReadingLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _next_batch(self) -> list[Key]:
        keys = [
            (self.devices[n % len(self.devices)], self._base + timedelta(milliseconds=n))
            for n in range(self._sent, self._sent + self.batch)
        ]
        self._sent += self.batch
        return keys

    def _run(self) -> None:
        with httpx.Client(timeout=10, headers=gateway_headers()) as client:
            while not self._stop.is_set():
                keys = self._next_batch()
                body = {"readings": [reading(device, at) for device, at in keys]}
                try:
                    answer = client.post(f"{self.url}/api/readings", json=body)
                except httpx.HTTPError:
                    answer = None
                if answer is not None and answer.status_code == 202:
                    self.accepted += keys
                else:
                    self.failed_requests += 1
                    self._stop.wait(0.2)


def reading(device: str, at: datetime) -> dict[str, object]:
    return {
        "deviceId": device,
        "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sensorType": "temperature",
        "value": 50.0,
        "unit": "celsius",
        "status": "active",
    }
