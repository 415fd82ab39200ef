"""The devices table as the functions use it: each device's limits, rule settings, unit and status, cached.

A cache, never state: the table is re-read at most every `ttl_s` seconds, so a
configuration change (PUT /api/devices/{id}/config) applies within that time
without a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from iotmon.core.rules import DeviceRules
from iotmon.core.stats import Ranges


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    rules: DeviceRules
    unit: str | None
    monitored: bool  # its status is active: it is expected to send

    @property
    def ranges(self) -> Ranges:
        rules = self.rules
        return Ranges(rules.normal_min, rules.normal_max, rules.alert_min, rules.alert_max)


class DeviceCatalog:
    def __init__(self, pool: ConnectionPool, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.pool, self.ttl_s, self.clock = pool, ttl_s, clock
        self._devices: dict[str, DeviceInfo] = {}
        self._read_at = -float("inf")
        self._lock = threading.Lock()  # functions-framework serves requests on several threads

    def devices(self) -> dict[str, DeviceInfo]:
        with self._lock:
            if self.clock() - self._read_at >= self.ttl_s:
                with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
                    rows = cursor.execute("SELECT * FROM devices").fetchall()
                self._devices = {
                    row["device_id"]: DeviceInfo(DeviceRules.from_row(row), row["unit"], row["status"] == "active")
                    for row in rows
                }
                self._read_at = self.clock()
            return self._devices
