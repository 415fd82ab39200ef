"""Recorded data files (pure): CSV with a header row, or JSON rows, read as a stream of (time, value) points.

History import (`iotmon import`, `POST /api/devices/:id/import`) and replay (`iotmon simulate replay`) read
the same files the same way: the delimiter sniffed from the header (`,` `;` or tab), columns chosen by name,
timestamps in ISO 8601 with or without an offset (none = UTC) or epoch seconds. A row that cannot be read
is a `Problem` with its row number (counting data rows from 1, the header not counted); a file that cannot
be read at all (no header, a missing column, JSON of another shape) raises `FileProblem`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import msgspec

from iotmon.core.contracts.common import DECIMAL_LIMIT

DELIMITERS = (",", ";", "\t")
TIME_COLUMN, VALUE_COLUMN = "timestamp", "value"
# Older times are refused: each month an import touches is a partition of its own, so a stray year (a value
# column taken for epoch seconds, a typo) must not make hundreds of them.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_PROBLEMS = 20  # problems an import reports one by one (all are counted)


class FileProblem(ValueError):
    """The file as a whole cannot be read: nothing of it is imported."""


@dataclass(frozen=True, slots=True)
class Point:
    row: int
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Problem:
    row: int
    reason: str


@dataclass(frozen=True, slots=True)
class Columns:
    time: str = TIME_COLUMN
    value: str = VALUE_COLUMN


@dataclass
class Tally:
    """What reading a file found: rows read, the first problems, the time range of the good rows."""

    read: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None

    def count(self, item: Point | Problem) -> None:
        self.read += 1
        if isinstance(item, Problem):
            self.rejected += 1
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append(item)
            return
        self.first = item.at if self.first is None else min(self.first, item.at)
        self.last = item.at if self.last is None else max(self.last, item.at)


def sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: whichever of `,` `;` tab it holds most of (one column: `,`)."""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def parse_moment(text: str) -> datetime:
    """ISO 8601 with or without an offset (none = UTC), or epoch seconds; ValueError otherwise."""
    cell = text.strip()
    try:
        seconds = float(cell)
    except ValueError:
        at = datetime.fromisoformat(cell)  # ValueError names what it could not read
        return at if at.tzinfo else at.replace(tzinfo=UTC)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{cell!r} is out of range as epoch seconds") from None


def parse_number(text: str) -> float | None:
    """A finite number, or None (an empty or non-numeric cell)."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def point(row: int, time_cell: Any, value_cell: Any, latest: datetime) -> Point | Problem:
    """One row's point, or why it is refused: a time from EARLIEST to `latest`, a finite value within DECIMAL(10,2)."""
    if time_cell is None or str(time_cell).strip() == "":
        return Problem(row, "no time")
    try:
        at = parse_moment(str(time_cell))
    except ValueError:
        return Problem(row, f"time {str(time_cell)[:40]!r} is neither ISO 8601 nor epoch seconds")
    if at < EARLIEST or at > latest:
        return Problem(row, f"time {str(time_cell)[:40]!r} is not between {EARLIEST:%Y-%m-%d} and now")
    value = None if isinstance(value_cell, bool) or value_cell is None else parse_number(str(value_cell))
    if value is None:
        return Problem(row, f"value {str(value_cell)[:40]!r} is not a number")
    if abs(round(value, 2)) > DECIMAL_LIMIT:  # as PostgreSQL rounds it
        return Problem(row, f"value {value} is beyond ±{DECIMAL_LIMIT:,} (stored as DECIMAL(10,2))")
    return Point(row, at, value)


def csv_rows(lines: Iterator[str]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header (its delimiter sniffed) and the numbered data rows of a CSV; blank lines are skipped."""
    try:
        first = next(lines, "")
    except UnicodeDecodeError:
        raise FileProblem("the file is not UTF-8 text") from None
    if not first.strip():
        raise FileProblem("the file is empty: a header row naming the columns is expected")
    reader = csv.reader(chain([first], lines), delimiter=sniff_delimiter(first))
    header = [name.strip().lstrip("\ufeff") for name in next(reader)]
    rows = ((number, cells) for number, cells in enumerate(reader, start=1) if any(cell.strip() for cell in cells))
    return header, rows


def index_of(header: list[str], name: str, what: str) -> int:
    if name not in header:
        raise FileProblem(f"no {what} column {name!r} (the columns are {', '.join(header)[:300]})")
    return header.index(name)


def csv_points(lines: Iterator[str], columns: Columns, latest: datetime) -> Iterator[Point | Problem]:
    """The points of a CSV with a header row, one per data row, in file order."""
    header, rows = csv_rows(lines)
    at, value = index_of(header, columns.time, "time"), index_of(header, columns.value, "value")
    number = 0
    try:
        for number, cells in rows:
            yield point(number, _cell(cells, at), _cell(cells, value), latest)
    except csv.Error as error:  # a broken quote or a huge field: the rows after it cannot be told apart
        raise FileProblem(f"unreadable CSV after data row {number}: {error}") from None
    except UnicodeDecodeError:
        raise FileProblem(f"the file is not UTF-8 text after data row {number}") from None


class _Rows(msgspec.Struct):
    readings: list[msgspec.Raw]


_array = msgspec.json.Decoder(list[msgspec.Raw])
_object = msgspec.json.Decoder(_Rows)


def json_points(document: bytes, columns: Columns, latest: datetime) -> Iterator[Point | Problem]:
    """The points of a JSON array of objects, or of `{"readings": [...]}`; each row is decoded as it is reached."""
    try:
        rows = _array.decode(document) if document.lstrip()[:1] == b"[" else _object.decode(document).readings
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise FileProblem(f'expected a JSON array of objects or {{"readings": [...]}}: {error}') from None
    except RecursionError:  # past the decoder's own limit: no row of readings nests anywhere near so deep
        raise FileProblem("the JSON is nested too deeply") from None
    for number, raw in enumerate(rows, start=1):
        row = msgspec.json.decode(raw)  # one row at a time: the document holds only their raw text
        if not isinstance(row, dict):
            yield Problem(number, "not an object")
            continue
        yield point(number, _scalar(row.get(columns.time)), _scalar(row.get(columns.value)), latest)


def _cell(cells: list[str], index: int) -> str | None:
    return cells[index] if index < len(cells) else None


def _scalar(value: Any) -> Any:
    # Nested JSON in a cell is no time or value; its text would only make the reason long.
    return "(nested JSON)" if isinstance(value, (dict, list)) else value
