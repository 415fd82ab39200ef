"""Every input is bounded: body sizes before reading, JSON nesting, control characters in strings (at the API
and on the event log, where a poison reading is dead-lettered and never holds up the partition), and made-up
HTTP methods in /metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from eventing import dead_letters, topics
from eventing.events import reading_event
from iotmon.system import System
from tests.support.auth import bearer
from tests.support.database import sql
from tests.support.load import reading
from tests.support.memory import MIB, PeakGrowth
from tests.support.service import error_of, settle
from tests.support.waiting import wait_for


def _chunks(total: int, size: int = MIB) -> Iterator[bytes]:
    block = b"x" * size
    for _ in range(total // size):
        yield block


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_100_mb_login_is_refused_before_it_is_held(url, declared):
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(100 * MIB)
    with PeakGrowth() as growth:  # the peak, while the body comes: not only what is left after the answer
        try:
            answer = httpx.post(f"{url}/api/auth/login", content=_chunks(100 * MIB), headers=headers, timeout=30)
        except httpx.HTTPError:  # the service may close the connection while the client is still sending
            answer = None
    if answer is not None:
        error_of(answer, 413, "PAYLOAD_TOO_LARGE")
    assert growth.mib < 32, f"the service held the body it refused: +{growth.mib:.0f} MiB at the peak"


@pytest.mark.parametrize(
    ("path", "limit"), [("/api/auth/login", 4 * 1024), ("/api/silences", 64 * 1024), ("/api/readings", 8 * MIB)]
)
def test_each_path_has_its_body_limit(url, database_url, path, limit):
    headers = bearer(url, database_url, "operator")
    answer = httpx.post(f"{url}{path}", content=b" " * (limit + 1), headers=headers, timeout=30)
    assert limit // 1024 // (1024 if limit >= MIB else 1) == int(
        error_of(answer, 413, "PAYLOAD_TOO_LARGE")["message"].split()[3]
    )


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/silences", "/api/readings"])
def test_deep_json_is_a_400_never_a_500(url, database_url, path):
    headers = {**bearer(url, database_url, "operator"), "content-type": "application/json"}
    for depth in (40, 1000, 1900):
        answer = httpx.post(f"{url}{path}", content=b"[" * depth + b"]" * depth, headers=headers)
        assert answer.status_code == 400, (depth, answer.text)


def test_a_deeply_nested_history_import_is_a_400_with_nothing_imported(url, database_url):
    """The history import reads its JSON itself (row by row, from a file spooled to disk), not as a contract."""
    headers = {**bearer(url, database_url, "operator"), "content-type": "application/json"}
    for depth in (1000, 1900):
        document = b"[" * depth + b"]" * depth
        answer = httpx.post(f"{url}/api/devices/device-001/import", content=document, headers=headers)
        assert "nested too deeply" in error_of(answer, 400, "VALIDATION_ERROR")["message"], depth


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/readings", {**reading("device-001", datetime.now(UTC)), "unit": "hz\u0000"}),
        ("/api/readings", {**reading("device-001", datetime.now(UTC)), "location": "line\u001b[31m"}),
        ("/api/auth/login", {"username": "admin\u0000", "password": "x"}),
        ("/api/silences", {"reason": "maintenance\u0000", "endsAt": "2099-01-01T00:00:00Z"}),
        ("/api/alerts/alert-001/acknowledge", {"note": "seen\u0007"}),
    ],
)
def test_control_characters_are_refused_in_every_string(url, database_url, path, body):
    headers = bearer(url, database_url, "operator")
    send = httpx.put if "acknowledge" in path else httpx.post
    error_of(send(f"{url}{path}", json=body, headers=headers), 400, "VALIDATION_ERROR")


def test_a_poison_reading_on_the_event_log_is_dead_lettered_and_does_not_hold_up_the_partition(
    service: System, clean_db: str
):
    at = datetime.now(UTC).replace(microsecond=0)
    poison = reading_event({**reading("device-001", at), "unit": "hz\u0000"}, "/test")
    good = reading_event(reading("device-001", at.replace(second=(at.second + 1) % 60)), "/test")
    service.transport.publish(topics.SENSORS_DATA, [poison, good])
    wait_for(lambda: sql(clean_db, "SELECT count(*) FROM sensor_readings")[0][0] == 1, 10, what="the good reading")
    settle(service)
    _, records = service.transport.pending(topics.SENSORS_DATA_DLQ, f"inspect-{uuid.uuid4().hex}", 10_000)
    letters = [
        letter
        for letter in map(dead_letters.read, records)
        if letter.event and poison["id"] in str(letter.event.get_data())
    ]
    assert [letter.kind for letter in letters] == ["rejected"] and "unit" in letters[0].reason


def test_made_up_methods_are_one_metrics_label(url):
    for n in range(200):
        httpx.request(f"VERB{n}", f"{url}/api/devices")
    metrics = httpx.get(f"{url}/metrics").text
    assert "VERB" not in metrics and 'method="OTHER"' in metrics


@pytest.mark.parametrize("field", ["deviceId", "sensorType", "unit"])
def test_a_trailing_line_break_is_no_way_around_the_patterns(url, database_url, field):
    body = {**reading("device-001", datetime.now(UTC)), field: reading("device-001", datetime.now(UTC))[field] + "\n"}
    error_of(
        httpx.post(f"{url}/api/readings", json=body, headers=bearer(url, database_url, "operator")),
        400,
        "VALIDATION_ERROR",
    )
