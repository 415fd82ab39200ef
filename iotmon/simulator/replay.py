"""Replay mode: a recorded run (any CSV with a header row; SKAB's `;`-separated files by default) sent as live
readings.

Each mapped column becomes one device's readings. The delimiter (`,` `;` or tab) is sniffed from the header;
the time column (`datetime` by default, SKAB's) holds ISO 8601 (no offset = UTC) or epoch seconds.
Timestamps are moved onto the present, because ingest refuses readings older than the retention and
dashboards show the last hour:

- speed > 0: the first row is sent now and stamped now; row i is stamped
  (t_i - t_0) / speed seconds later and sent then: every recorded interval
  divided by the same factor. A sender that falls behind (a slow transport)
  sends everything due at once, in one publish, and is on time again; stamps
  never depend on when a row happened to go out.
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

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

from eventing.events import batch_event
from eventing.transport import Publisher
from iotmon.core import recorded
from iotmon.simulator.devices import SEED_DEVICES, DeviceProfile, format_timestamp
from iotmon.simulator.sending import Sender

SOURCE = "/iotmon/simulator/replay"
TIME_COLUMN = "datetime"
LABEL_COLUMNS = frozenset({"anomaly", "changepoint"})  # SKAB's ground truth, not sensors
LOCATION = "skab-testbed"
PUBLISH_GROUP = 5000  # readings per publish at most (speed 0, or far behind); one request or Kafka flush each
STAMP_RESOLUTION_S = 1e-6  # stamps carry microseconds: a faster speed would give two rows one stamp
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


def default_mapping(columns: Sequence[str], time_column: str = TIME_COLUMN) -> dict[str, ColumnTarget]:
    """Every sensor column (not the time or the labels) as a `skab-<column>` device."""
    sensors = [c for c in columns if c != time_column and c not in LABEL_COLUMNS]
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


def read_rows(
    path: str | Path, limit: int | None = None, time_column: str = TIME_COLUMN
) -> tuple[list[str], list[Row]]:
    """The header and the rows (at most `limit`) of a recorded run, in time order."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        try:
            columns, lines = recorded.csv_rows(iter(file))
            at = recorded.index_of(columns, time_column, "time")
        except recorded.FileProblem as problem:
            raise ValueError(f"{path}: {problem}") from None
        rows = [_row(columns, cells, at, f"{path}: data row {number}") for number, cells in islice(lines, limit)]
    # Sorted (stably), so that every interval is a wait forward: a recording's rows may be out of order.
    return columns, sorted(rows, key=lambda row: row.at)


def replay_plan(
    rows: Sequence[Row], targets: Mapping[str, ColumnTarget], now: datetime, speed: float = 1.0
) -> Iterator[tuple[float, list[dict[str, Any]]]]:
    """(seconds after the start to send it, readings) for each row, timestamps moved to `now`."""
    if speed < 0:
        raise ValueError(f"speed {speed} must be 0 (as fast as possible) or positive")
    if not rows:
        return
    check_speed(rows, speed)
    first = rows[0].at
    anchor = now - (rows[-1].at - first) if speed == 0 else now
    for row in rows:
        offset = (row.at - first).total_seconds()
        delay = 0.0 if speed == 0 else offset / speed
        at = anchor + timedelta(seconds=offset if speed == 0 else delay)
        yield delay, _readings(row, targets, at)


def check_speed(rows: Sequence[Row], speed: float) -> None:
    """ValueError if the speed would squeeze two rows' intervals below a stamp's resolution (one microsecond)."""
    gaps = [gap for a, b in pairwise(rows) if (gap := (b.at - a.at).total_seconds()) > 0]
    if speed > 0 and gaps and min(gaps) / speed < STAMP_RESOLUTION_S:
        fastest = min(gaps) / STAMP_RESOLUTION_S
        raise ValueError(
            f"speed {speed:g} is too fast: rows {min(gaps)} s apart would share a stamp (at most {fastest:g})"
        )


def run_replay(
    publisher: Publisher,
    path: str | Path,
    mapping: Mapping[str, str | ColumnTarget] | None = None,
    speed: float = 1.0,
    limit: int | None = None,
    source: str = SOURCE,
    stop: threading.Event | None = None,
    register: Callable[[list[ColumnTarget]], object] | None = None,
    time_column: str = TIME_COLUMN,
    min_interval_s: float = 0.0,
) -> ReplaySummary:
    """Send a recorded run to `sensors-data` (see the module doc for timing); blocks until done or `stop`.

    `register` is given the devices the run sends as, before anything is sent. Publishes are at least
    `min_interval_s` apart (an API's rate limit): rows due meanwhile go together, stamped as planned."""
    columns, rows = read_rows(path, limit, time_column)
    targets = resolve_mapping(mapping) if mapping is not None else default_mapping(columns, time_column)
    missing = sorted(set(targets) - set(columns))
    if missing:
        raise ValueError(f"{path}: no column(s) {missing} (found {columns})")
    if register is not None:
        register(list(targets.values()))
    stop = stop or threading.Event()
    sender = Sender(publisher)
    due: list[dict[str, Any]] = []  # readings whose time has come, not sent yet
    started = next_send = time.monotonic()
    for delay, readings in replay_plan(rows, targets, datetime.now(UTC), speed):
        if started + delay > time.monotonic():  # everything due goes out, in one publish, however late
            if due and _wait(stop, min(next_send, started + delay)):  # (the next publish may be sooner)
                break
            if due and time.monotonic() >= next_send:
                due = _send(sender, due, source)
                next_send = time.monotonic() + min_interval_s
            if _wait(stop, started + delay):  # then this row's time
                break
        due.extend(readings)
        if len(due) >= PUBLISH_GROUP:
            due = _send(sender, due, source)
        if stop.is_set():
            break
    if due and not stop.is_set():
        _wait(stop, next_send)  # the last publish keeps the interval too
    _send(sender, due, source)
    return ReplaySummary(len(rows), sender.sent, sender.lost, time.monotonic() - started)


def _wait(stop: threading.Event, until: float) -> bool:
    """Wait until the monotonic time `until` (not at all if it has passed); True if stopped."""
    seconds = until - time.monotonic()
    return stop.wait(seconds) if seconds > 0 else stop.is_set()


def _send(sender: Sender, readings: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """One batch event per device (its readings in order), published together; returns a new empty list."""
    by_device: dict[str, list[dict[str, Any]]] = {}
    for reading in readings:
        by_device.setdefault(reading["deviceId"], []).append(reading)
    for device, group in by_device.items():
        sender.add(batch_event(group, source, key=device), readings=len(group))
    sender.flush()
    return []


def _own_device(column: str, device_id: str) -> ColumnTarget:
    return ColumnTarget(device_id, sensor_type_for(column), SKAB_UNITS.get(column, "unknown"))


def _row(columns: list[str], cells: list[str], at: int, where: str) -> Row:
    try:
        moment = recorded.parse_moment(cells[at])
    except (ValueError, IndexError):
        raise ValueError(f"{where}: {cells[at] if at < len(cells) else None!r} is not a date-time") from None
    # Empty, non-numeric or non-finite cells (gaps in a recording) are skipped, not sent as 0.
    numbers = {column: recorded.parse_number(cell) for column, cell in zip(columns, cells, strict=False)}
    return Row(
        moment, {column: value for column, value in numbers.items() if value is not None and abs(value) < MAX_VALUE}
    )


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
