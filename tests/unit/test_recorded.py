"""Recorded files (iotmon/core/recorded.py): delimiters, time formats, column choice, bad rows (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from iotmon.core.recorded import Columns, FileProblem, Point, Problem, csv_points, json_points, parse_moment

LATEST = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed_from_the_header(delimiter: str) -> None:
    text = f"when{delimiter}temp{delimiter}other\n2024-01-01 10:00:00{delimiter}21.5{delimiter}x\n"
    (point,) = csv_points(iter(text.splitlines(keepends=True)), Columns("when", "temp"), LATEST)
    assert point == Point(1, datetime(2024, 1, 1, 10, tzinfo=UTC), 21.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T12:00:00+02:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01 10:00:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),  # naive = UTC
        ("1704103200", datetime(2024, 1, 1, 10, tzinfo=UTC)),  # epoch seconds
        ("1704103200.5", datetime(2024, 1, 1, 10, tzinfo=UTC) + timedelta(milliseconds=500)),
    ],
)
def test_times_in_iso_8601_or_epoch_seconds(text: str, expected: datetime) -> None:
    assert parse_moment(text) == expected


def test_bad_rows_are_problems_with_their_row_number_and_the_rest_are_read() -> None:
    text = "timestamp,value\n2024-01-01T00:00:00Z,1\nsoon,2\n2024-01-01T00:00:02Z,\n\n1990-01-01T00:00:00Z,3\n"
    text += "2024-01-01T00:00:04Z,1e12\n2024-01-01T00:00:05Z,5\n"
    items = list(csv_points(iter(text.splitlines(keepends=True)), Columns(), LATEST))
    assert [(type(item).__name__, item.row) for item in items] == [
        ("Point", 1),
        ("Problem", 2),
        ("Problem", 3),
        ("Problem", 5),  # the blank line is no row, but keeps its number
        ("Problem", 6),
        ("Point", 7),
    ]
    reasons = [item.reason for item in items if isinstance(item, Problem)]
    assert "neither ISO 8601" in reasons[0] and "not a number" in reasons[1]
    assert "between 2000-01-01" in reasons[2] and "DECIMAL(10,2)" in reasons[3]


def test_json_rows_as_an_array_or_under_readings() -> None:
    rows = b'[{"t": "2024-01-01T00:00:00Z", "v": 1.5}, [1, 2], {"t": 1704067200, "v": true}]'
    items = list(json_points(rows, Columns("t", "v"), LATEST))
    assert items[0] == Point(1, datetime(2024, 1, 1, tzinfo=UTC), 1.5)
    assert items[1] == Problem(2, "not an object") and isinstance(items[2], Problem)
    wrapped = b'{"readings": [{"timestamp": "2024-01-01T00:00:00Z", "value": 2}]}'
    assert list(json_points(wrapped, Columns(), LATEST)) == [Point(1, datetime(2024, 1, 1, tzinfo=UTC), 2.0)]


@pytest.mark.parametrize(
    ("text", "message"), [("", "empty"), ("time,value\n", "no time column 'timestamp' (the columns are time, value)")]
)
def test_a_file_without_its_header_or_columns_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(FileProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(csv_points(iter(text.splitlines(keepends=True)), Columns(), LATEST))
    with pytest.raises(FileProblem, match="expected a JSON array"):
        list(json_points(b'"rows"', Columns(), LATEST))
