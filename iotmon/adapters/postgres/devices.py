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
        self._versions: dict[str, str] = {}  # each cached device's row version (xmin) as read
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
        """The devices in service (or `only` these) as DeviceInfo. A full read lists each row's version (its xmin,
        which every UPDATE changes) and reads in full only the rows new or changed since: a fleet's re-read every
        few seconds converts a handful of rows, not ten thousand rows of decimals and timestamps."""
        with self.pool.connection() as conn:
            if only is None:
                versions: dict[str, str] = dict(conn.execute(_VERSIONS).fetchall())
                known = self._devices
                changed = [d for d, version in versions.items() if d not in known or self._versions.get(d) != version]
            with conn.cursor() as cursor:
                rows = cursor.execute(_ROWS, {"ids": changed if only is None else only}).fetchall()
                names = [column.name for column in cursor.description or ()]
        found: dict[str, DeviceInfo] = {}
        for row in rows:
            record = dict(zip(names, row, strict=True))
            found[record["device_id"]] = _info(record)
            self._versions[record["device_id"]] = record["row_version"]
        if only is not None:
            return found
        kept = {d: known[d] for d in versions.keys() - set(changed)}
        self._versions = {d: self._versions[d] for d in (*kept, *found)}  # forget the devices gone since
        return {**kept, **found}


_VERSIONS = "SELECT device_id, xmin::text FROM devices WHERE decommissioned_at IS NULL"
_ROWS = "SELECT xmin::text AS row_version, * FROM devices WHERE decommissioned_at IS NULL AND device_id = ANY(%(ids)s)"


def _info(row: dict[str, Any]) -> DeviceInfo:
    return DeviceInfo(DeviceRules.from_row(row), row["unit"], row["status"] == "active")
