"""Replay mode: a recorded run (a SKAB-style `;`-separated CSV) sent as live readings.

Each mapped column becomes one device's readings. Timestamps are moved onto
the present, because ingest refuses readings older than the retention and
dashboards show the last hour:

- speed > 0: the first row is sent now and stamped now; row i follows after
  (t_i - t_0) / speed seconds, stamped when it is sent.
- speed = 0: everything is sent at once, intervals kept as recorded and the
  last row stamped now (a backfill of the run's length into the recent past).

The default mapping sends every sensor column to a device of its own,
`skab-<column>` (e.g. `skab-temperature`, sensorType `temperature`, unit from
SKAB's documentation) rather than onto the five seed devices of
`schema/003_seed_devices.sql`: SKAB's pump readings (pressure in bar around 0,
say) would sit permanently in their alert zones. The replay registers its devices before it sends. Map a
column onto a seed device by name to take that device's type, unit and
location (`{"Temperature": "device-001"}`).
"""

from __future__ import annotations

import csv
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventing.events import reading_event
from eventing.transport import Publisher
from iotmon.simulator.devices import SEED_DEVICES, DeviceProfile, format_timestamp
from iotmon.simulator.sending import Sender

SOURCE = "/iotmon/simulator/replay"
TIME_COLUMN = "datetime"
LABEL_COLUMNS = frozenset({"anomaly", "changepoint"})  # SKAB's ground truth, not sensors
LOCATION = "skab-testbed"
PUBLISH_GROUP = 1000  # reading events per publish call when catching up
CATCH_UP_S = 0.1  # a row later than this has fallen behind and waits to go out in a group
MAX_VALUE = 99_999_999.99  # readings are DECIMAL(10,2)

# Units of the SKAB testbed's sensors (SKAB README: accelerometers in g,
# current in A, pressure in bar, temperatures in °C, voltage in V, flow in l/min).
SKAB_UNITS = {
    "Accelerometer1RMS": "g",
    "Accelerometer2RMS": "g",
    "Current": "ampere",
    "Pressure": "bar",
    "Temperature": "celsius",
    "Thermocouple": "celsius",
    "Voltage": "volt",
    "Volume Flow RateRMS": "l/min",
}


@dataclass(frozen=True, slots=True)
class ColumnTarget:
    """The device a column's values are sent as."""

    device_id: str
    sensor_type: str
    unit: str
    location: str | None = LOCATION


@dataclass(frozen=True, slots=True)
class Row:
    at: datetime  # as recorded (naive times are taken as UTC)
    values: dict[str, float]  # column -> value, for the cells that hold a number


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    rows: int
    sent: int  # readings the transport accepted
    errors: int  # readings it refused
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "sent": self.sent, "errors": self.errors, "seconds": round(self.seconds, 3)}


def sensor_type_for(column: str) -> str:
    """A valid sensorType from a column name: lower case, other characters → `_`."""
    name = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"s_{name}"
    return name[:50].rstrip("_")


def device_id_for(column: str) -> str:
    # The reading schema allows no `_` in device ids, so the slug uses hyphens.
    return f"skab-{sensor_type_for(column).replace('_', '-')}"[:50]


def default_mapping(columns: Sequence[str]) -> dict[str, ColumnTarget]:
    """Every sensor column (not the time or the labels) as a `skab-<column>` device."""
    sensors = [c for c in columns if c != TIME_COLUMN and c not in LABEL_COLUMNS]
    return {column: _own_device(column, device_id_for(column)) for column in sensors}


def resolve_mapping(
    mapping: Mapping[str, str | ColumnTarget], devices: Sequence[DeviceProfile] = SEED_DEVICES
) -> dict[str, ColumnTarget]:
    """Targets for a column → device mapping; a known device id lends its type, unit and location."""
    known = {profile.device_id: profile for profile in devices}
    resolved: dict[str, ColumnTarget] = {}
    for column, target in mapping.items():
        if isinstance(target, ColumnTarget):
            resolved[column] = target
        elif target in known:
            profile = known[target]
            resolved[column] = ColumnTarget(profile.device_id, profile.sensor_type, profile.unit, profile.location)
        else:
            resolved[column] = _own_device(column, target)
    return resolved


def parse_mapping(text: str) -> dict[str, str]:
    """`"Temperature=device-001,Pressure=device-002"` (a CLI option) as a mapping."""
    mapping: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        column, sep, device = part.partition("=")
        if not sep or not column.strip() or not device.strip():
            raise ValueError(f"column mapping {part!r} is not COLUMN=DEVICE")
        mapping[column.strip()] = device.strip()
    return mapping


def read_rows(path: str | Path, limit: int | None = None, delimiter: str = ";") -> tuple[list[str], list[Row]]:
    """The header and the rows (at most `limit`) of a recorded run."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file, delimiter=delimiter)
        columns = list(reader.fieldnames or [])
        if TIME_COLUMN not in columns:
            raise ValueError(f"{path}: no {TIME_COLUMN!r} column (found {columns})")
        rows: list[Row] = []
        for line in reader:
            if limit is not None and len(rows) >= limit:
                break
            rows.append(_row(line, reader.line_num, path))
    return columns, rows


def replay_plan(
    rows: Sequence[Row], targets: Mapping[str, ColumnTarget], now: datetime, speed: float = 1.0
) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """(seconds after the start to send it, readings) for each row, timestamps moved to `now`."""
    if speed < 0:
        raise ValueError(f"speed {speed} must be 0 (as fast as possible) or positive")
    if not rows:
        return
    first = rows[0].at
    anchor = now - (rows[-1].at - first) if speed == 0 else now
    for row in rows:
        offset = (row.at - first).total_seconds()
        delay = 0.0 if speed == 0 else offset / speed
        at = anchor + timedelta(seconds=offset if speed == 0 else delay)
        yield delay, _readings(row, targets, at)


def run_replay(
    publisher: Publisher,
    path: str | Path,
    mapping: Mapping[str, str | ColumnTarget] | None = None,
    speed: float = 1.0,
    limit: int | None = None,
    source: str = SOURCE,
    stop: threading.Event | None = None,
    register: Callable[[list[ColumnTarget]], object] | None = None,
) -> ReplaySummary:
    """Send a recorded run to `sensors-data` (see the module doc for timing); blocks until done or `stop`.

    `register` is given the devices the run sends as, before anything is sent."""
    columns, rows = read_rows(path, limit)
    targets = resolve_mapping(mapping) if mapping is not None else default_mapping(columns)
    missing = sorted(set(targets) - set(columns))
    if missing:
        raise ValueError(f"{path}: no column(s) {missing} (found {columns})")
    if register is not None:
        register(list(targets.values()))
    stop = stop or threading.Event()
    sender = Sender(publisher)
    started = time.monotonic()
    for delay, readings in replay_plan(rows, targets, datetime.now(UTC), speed):
        ahead = started + delay - time.monotonic()
        if ahead > 0:  # on time: send what fell behind, then wait for this row
            sender.flush()
            if stop.wait(ahead):
                break
        for reading in readings:
            sender.add(reading_event(reading, source))
        # Rows more than CATCH_UP_S late (or all, at speed 0) go out together.
        if (speed > 0 and ahead > -CATCH_UP_S) or len(sender.pending) >= PUBLISH_GROUP:
            sender.flush()
        if stop.is_set():
            break
    sender.flush()
    return ReplaySummary(len(rows), sender.sent, sender.lost, time.monotonic() - started)


def _own_device(column: str, device_id: str) -> ColumnTarget:
    return ColumnTarget(device_id, sensor_type_for(column), SKAB_UNITS.get(column, "unknown"))


def _row(line: dict[str, str], line_number: int, path: str | Path) -> Row:
    try:
        at = datetime.fromisoformat(line[TIME_COLUMN].strip())
    except (ValueError, AttributeError):
        raise ValueError(f"{path}:{line_number}: {line.get(TIME_COLUMN)!r} is not a date-time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    values = {column: value for column, cell in line.items() if (value := _number(cell)) is not None}
    return Row(at, values)


def _number(cell: str | None) -> float | None:
    # Empty, non-numeric or non-finite cells (gaps in a recording) are skipped, not sent as 0.
    try:
        value = float(cell) if cell is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) < MAX_VALUE else None


def _readings(row: Row, targets: Mapping[str, ColumnTarget], at: datetime) -> list[dict[str, Any]]:
    # Microseconds: at high speed, 1 s steps shrink below a millisecond.
    timestamp = format_timestamp(at, "microseconds")
    return [
        {
            "deviceId": target.device_id,
            "timestamp": timestamp,
            "sensorType": target.sensor_type,
            "value": round(row.values[column], 2),
            "unit": target.unit,
            "location": target.location,
            "status": "active",
        }
        for column, target in targets.items()
        if column in row.values
    ]
