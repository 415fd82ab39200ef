"""Socket.IO's inputs are bounded: events per connection, payloads, replays, and what waits for a client.

The service runs in the test process (the session's shared system), so the
memory probe reads this process's RSS, and the per-connection state is read
from the service's Realtime object itself.
"""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import psutil
import psycopg
import pytest
import redis
import socketio
import websocket

from iotmon.service.live_limits import BURST, REFUSED_BEFORE_DISCONNECT
from iotmon.service.live_payloads import MAX_DEPTH, MAX_TEXT
from iotmon.service.realtime import LOOKUPS_AT_ONCE, MAX_MESSAGE_BYTES, REPLAY_LIMIT, Realtime
from iotmon.system import System
from tests.support.live_clients import receive, socketio_clients
from tests.support.waiting import wait_for

Connect = Callable[[], socketio.SimpleClient]


@pytest.fixture
def connect(url: str) -> Iterator[Connect]:
    with socketio_clients() as open_at:
        yield lambda: open_at(url)


def realtime_of(sid: str) -> Realtime:
    """The Socket.IO server the connection `sid` is on (found among the live objects: the system keeps no
    reference to it)."""
    found = [o for o in gc.get_objects() if isinstance(o, Realtime) and o.sio.manager.is_connected(sid, "/")]
    assert len(found) == 1, found
    return found[0]


def until_disconnected(client: socketio.SimpleClient, timeout: float = 10.0) -> list[list[Any]]:
    """The events a client hears until the server disconnects it (SimpleClient may notice only when it next
    waits, so it is asked in short waits)."""
    heard: list[list[Any]] = []
    deadline = time.monotonic() + timeout
    while client.connected:
        assert time.monotonic() < deadline, "the server did not disconnect the client"
        with contextlib.suppress(socketio.exceptions.TimeoutError, socketio.exceptions.DisconnectedError):
            heard.append(client.receive(timeout=0.5))
    return heard


def followed(realtime: Realtime, sid: str) -> bool:
    """Whether the server keeps anything for the connection `sid`."""
    return sid in realtime.limiter or realtime.sent.missing(sid) is not None


def test_a_flood_is_refused_then_disconnected(connect: Connect) -> None:
    client = connect()
    realtime, sid = realtime_of(client.sid), client.sid
    for _ in range(BURST + REFUSED_BEFORE_DISCONNECT + 20):
        client.emit("ping")
    errors = [data[0] for event, *data in until_disconnected(client) if event == "error"]
    # Each event is a task of its own on the server, so the last refusals' answers can still be queued when the
    # disconnect goes out (38 of 40 heard once, under a full suite's load): most are heard, then the door shuts.
    assert len(errors) >= REFUSED_BEFORE_DISCONNECT // 2
    assert all(error["event"] == "ping" and error["message"].startswith("too many events") for error in errors)
    wait_for(lambda: not followed(realtime, sid), 5, what="the flooding connection's state to go")


def test_a_clients_own_disconnect_event_does_not_reset_its_rate(connect: Connect) -> None:
    client = connect()
    for _ in range(BURST):
        client.emit("ping")
    client.emit("disconnect")  # python-socketio would hand it to the disconnect handler, which forgets the bucket
    answers = [client.call("ping") for _ in range(20)]
    assert sum(answer.get("success") is False for answer in answers) >= 10  # a few tokens come back meanwhile


def test_events_within_the_rate_are_answered(connect: Connect) -> None:
    client = connect()
    for _ in range(BURST // 2):
        assert client.call("ping")["status"] == "pong"


def _nested(depth: int) -> Any:
    return {"deviceId": "device-001"} if depth == 0 else [_nested(depth - 1)]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("subscribe-device", "\x00"),
        ("subscribe-device", "device-001\n"),
        ("subscribe-device", {"deviceId": "device\x00-001"}),
        ("subscribe-device", "x" * (MAX_TEXT * 20)),
        ("subscribe-device", _nested(MAX_DEPTH + 30)),
        ("subscribe-device", {f"k{i}": i for i in range(100)}),
        ("subscribe-device", ("device-001", "and more")),
        ("unsubscribe-device", 3.5),
        ("subscribe-alerts", {"since": -1}),
        ("subscribe-alerts", {"since": 10**30}),
        ("subscribe-alerts", {"lastAlertId": "\x00"}),
        ("subscribe-alerts", [1, 2]),
        ("subscribe-system", {"\x1b[31m": 1}),
        ("ping", "\u0085"),
        ("no-such-event", None),
        ("no-such-event", "\x00"),
        ("connect", {"token": "x"}),
        ("disconnect", None),
    ],
)
def test_malformed_events_get_an_error_and_the_connection_goes_on(connect: Connect, event: str, payload: Any) -> None:
    client = connect()
    answer = client.call(event, payload) if payload is not None else client.call(event)
    assert answer["success"] is False and answer["error"]
    error = receive(client, "error")
    assert error["event"] == event and error["message"] == answer["error"]
    assert client.call("ping")["status"] == "pong"
    assert client.call("subscribe-device", "device-001") == {"success": True, "deviceId": "device-001"}


@pytest.mark.parametrize(
    "data",
    [
        '["ping",' + "[" * 3000 + "]" * 3000 + "]",  # past Python's recursion limit
        '["ping", {"a": ',
        '["ping", 1' + "0" * 200 + "]",
        '{"event": "ping"}',
        "[]",
        "[42]",
    ],
)
def test_unreadable_events_get_an_error_and_the_connection_goes_on(url: str, data: str) -> None:
    port = urlsplit(url).port
    assert port is not None
    ws, _sid = _raw_client(port)
    try:
        ws.send(f"427{data}")  # an event (2) asking for Ack 7
        answers = sorted(ws.recv() for _ in range(2))
        assert answers[0].startswith('42["error",{"event":"(unreadable)"')
        assert json.loads(answers[1][3:]) == [{"success": False, "error": json.loads(answers[0][2:])[1]["message"]}]
        ws.send('428["ping"]')
        assert json.loads(ws.recv()[3:])[0]["status"] == "pong"
    finally:
        ws.close()


def test_an_oversized_message_closes_only_its_connection(connect: Connect) -> None:
    big, other = connect(), connect()
    first_sid = big.sid
    big.emit("subscribe-device", "x" * MAX_MESSAGE_BYTES)
    # Engine.IO closes the transport; the client library connects again, as a new connection.
    assert receive(big, "connection-status", timeout=10)["clientId"] != first_sid
    assert other.call("ping")["status"] == "pong"


def _alert_history(database_url: str, changes: int) -> list[int]:
    """One alert with `changes` history rows; their sequences, oldest first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        (number,) = conn.execute(
            "INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at)"
            " VALUES ('device-002', 'threshold_exceeded', 'Pressure above 55 psi', 'high', 58.5, 55, 'triggered',"
            " now()) RETURNING id"
        ).fetchone()  # type: ignore[misc]
        rows = conn.execute(
            "INSERT INTO alert_history (alert_id, action, from_status, to_status, note)"
            " SELECT %s, 'updated', 'triggered', 'triggered', repeat('n', 400) FROM generate_series(1, %s)"
            " RETURNING id",
            (number, changes),
        ).fetchall()
    return sorted(row[0] for row in rows)


def test_a_replay_comes_in_pages_that_the_client_follows(connect: Connect, clean_db: str) -> None:
    sequences = _alert_history(clean_db, 2 * REPLAY_LIMIT + 100)
    client = connect()
    heard: list[int] = []
    since, pages = 0, []
    while True:
        answer = client.call("subscribe-alerts", {"since": since}, timeout=30)
        pages.append(answer["replayed"])
        heard += [receive(client, "alert-triggered")["sequence"] for _ in range(answer["replayed"])]
        if not answer.get("more"):
            break
        assert answer["nextSince"] == heard[-1]
        since = answer["nextSince"]
    assert pages == [REPLAY_LIMIT, REPLAY_LIMIT, 100]
    assert heard == sequences


def test_one_replay_at_a_time_per_connection(connect: Connect, clean_db: str) -> None:
    _alert_history(clean_db, REPLAY_LIMIT)
    client = connect()
    client.emit("subscribe-alerts", {"since": 0})
    answer = client.call("subscribe-alerts", {"since": 0})  # its handler starts while the first one reads
    assert answer == {"success": False, "error": "a replay is under way: ask again after its Ack"}
    assert receive(client, "error")["message"] == answer["error"]


PROBES = 150
# Growth of the service's process while PROBES clients that never read ask for a replay of REPLAY_LIMIT
# changes each: without the bounds it grew by about 1 MB per client.
RSS_GROWTH_BOUND_MB = 40


def _raw_client(port: int, receive_buffer: int | None = None) -> tuple[websocket.WebSocket, str]:
    """A Socket.IO client spoken by hand over Engine.IO's WebSocket, connected; and its sid."""
    options = () if receive_buffer is None else ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", timeout=10, sockopt=options
    )
    assert ws.recv().startswith("0")  # Engine.IO open
    ws.send("40")  # Socket.IO connect
    while not (connected := ws.recv()).startswith("40"):  # `connection-status` comes first
        pass
    return ws, json.loads(connected[2:])["sid"]


def _probe(port: int) -> tuple[websocket.WebSocket, str]:
    """A client with a tiny receive buffer that asks for every alert change, then never reads again."""
    ws, sid = _raw_client(port, receive_buffer=4096)
    ws.send('42["subscribe-alerts",{"since":0}]')
    return ws, sid


def _redis_clients(redis_url: str) -> int:
    return len(redis.Redis.from_url(redis_url).client_list())


def test_clients_that_never_read_do_not_grow_the_service(service: System, clean_db: str, redis_url: str) -> None:
    _alert_history(clean_db, REPLAY_LIMIT * 2)
    port = urlsplit(service.url).port
    assert port is not None
    first = _probe(port)
    realtime = realtime_of(first[1])
    process = psutil.Process()
    gc.collect()
    rss_before, redis_before = process.memory_info().rss, _redis_clients(redis_url)
    with ThreadPoolExecutor(max_workers=30) as pool:  # many at once, as the clients of a probe come
        probes = [first, *pool.map(lambda _: _probe(port), range(PROBES - 1))]
    peak_rss, peak_redis, peak_database = rss_before, redis_before, 0
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        peak_rss = max(peak_rss, process.memory_info().rss)
        peak_redis = max(peak_redis, _redis_clients(redis_url))
        stats = realtime.context.db.get_stats()  # connections lent out now (earlier tests may have grown the pool)
        peak_database = max(peak_database, stats["pool_size"] - stats.get("pool_available", 0))
        time.sleep(0.2)
    for ws, _sid in probes:
        ws.sock.close()  # gone without a goodbye, as a dead client goes
    growth_mb = (peak_rss - rss_before) / 2**20
    print(
        f"\n{PROBES} probes: RSS +{growth_mb:.1f} MB, Redis clients {redis_before}->{peak_redis}, pool {peak_database}"
    )
    assert growth_mb < RSS_GROWTH_BOUND_MB
    # Socket.IO reads with at most LOOKUPS_AT_ONCE pooled connections (the pool also keeps one spare), and
    # uses Redis for none of its clients' events.
    assert peak_database <= LOOKUPS_AT_ONCE + 1
    assert peak_redis <= redis_before + 1
    wait_for(
        lambda: not any(followed(realtime, sid) for _ws, sid in probes),
        30,
        what="the state of the closed connections to go",
    )
