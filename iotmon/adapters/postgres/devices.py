"""The devices table as the functions use it: each device's limits, rule settings, unit and status, cached.

A cache, never state: the table is re-read at most every `ttl_s` seconds, so a
configuration change (PUT /api/devices/{id}, PUT /api/devices/{id}/config)
applies within that time without a restart. A device that is asked for and not
in the cache is looked up at once (one query for all such devices), so a device
registered with its limits is judged by them from its first reading; an id still
not found is not asked again until the next full read. Decommissioned devices
are left out: their readings still in flight are not judged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

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
        self._absent: set[str] = set()  # looked up since the last full read, and not found
        self._rows: dict[str, tuple[Any, ...]] = {}  # each cached device's row as read
        self._lock = threading.Lock()  # functions-framework serves requests on several threads

    def devices(self, wanted: Collection[str] = ()) -> dict[str, DeviceInfo]:
        """Every device in service; `wanted` ones missing from the cache are looked up first."""
        with self._lock:
            if self.clock() - self._read_at >= self.ttl_s:
                self._devices = self._read()
                self._absent = set()
                self._read_at = self.clock()
            elif missing := [d for d in wanted if d not in self._devices and d not in self._absent]:
                found = self._read(missing)
                self._devices = {**self._devices, **found}
                self._absent.update(set(missing) - set(found))
            return self._devices

    def _read(self, only: list[str] | None = None) -> dict[str, DeviceInfo]:
        """The rows as DeviceInfo; a row unchanged since the last read keeps its DeviceInfo (rows are compared as
        tuples, in C: a fleet's full re-read builds only what changed)."""
        where = "decommissioned_at IS NULL" + (" AND device_id = ANY(%(only)s)" if only is not None else "")
        with self.pool.connection() as conn, conn.cursor() as cursor:
            rows = cursor.execute(f"SELECT * FROM devices WHERE {where}", {"only": only}).fetchall()
            names = [column.name for column in cursor.description or ()]
        seen, known, key = self._rows, self._devices, names.index("device_id")
        found: dict[str, DeviceInfo] = {}
        for row in rows:
            device_id = row[key]
            info = known.get(device_id)
            if info is None or seen.get(device_id) != row:
                info = _info(dict(zip(names, row, strict=True)))
                seen[device_id] = row
            found[device_id] = info
        if only is None:  # forget the rows of devices gone since
            self._rows = {device_id: seen[device_id] for device_id in found}
        return found


def _info(row: dict[str, Any]) -> DeviceInfo:
    return DeviceInfo(DeviceRules.from_row(row), row["unit"], row["status"] == "active")
