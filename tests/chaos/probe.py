"""When is the system whole again after a fault? When the service answers healthy, a probe reading posted since
the component came back is stored in PostgreSQL and is the device's live value through the API (ingest and
aggregate have handled it), and the Socket.IO listener is subscribed to alerts again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
import psycopg

from tests.chaos.listener import AlertListener
from tests.chaos.load import PROBE_DEVICE, Clock, Key, reading, stamp
from tests.support.auth import gateway_headers

RECOVERY_TIMEOUT_S = 120.0
POLL_S = 0.2
WHOLE = 5  # posted, subscribed, healthy, stored, live


@dataclass(frozen=True)
class Recovery:
    seconds: float | None
    firsts: dict[str, float]  # when each condition first held, in seconds from the start


class Probe:
    def __init__(self, url: str, database_url: Callable[[], str], listener: AlertListener) -> None:
        self.url, self.database_url, self.listener = url, database_url, listener
        self.accepted: list[Key] = []  # probe readings answered 202: they must be stored like any other
        self.clock = Clock()
        self._http = httpx.Client(base_url=url, timeout=3, headers=gateway_headers())

    def close(self) -> None:
        self._http.close()

    def recovery(self, timeout: float = RECOVERY_TIMEOUT_S) -> Recovery:
        """How long until the system is whole again, from now (None: not within `timeout`), and when each part
        of it first held (what kept it waiting)."""
        started = time.monotonic()
        posted: datetime | None = None
        firsts: dict[str, float] = {}
        while (elapsed := time.monotonic() - started) < timeout:
            if posted is None:
                posted = self._post()
            held = {"posted": posted is not None, "subscribed": self.listener.subscribed, "healthy": self._healthy()}
            if posted is not None:
                held |= {"stored": self._stored(posted), "live": self._live(posted)}
            for name in (name for name, ok in held.items() if ok and name not in firsts):
                firsts[name] = round(elapsed, 2)
            if len(held) == WHOLE and all(held.values()):
                return Recovery(time.monotonic() - started, firsts)
            time.sleep(POLL_S)
        return Recovery(None, firsts)

    def _post(self) -> datetime | None:
        (at,) = self.clock.next(PROBE_DEVICE, 1)
        try:
            answer = self._http.post("/api/readings", json=reading(PROBE_DEVICE, at, "temperature", 1.0, "celsius"))
        except httpx.HTTPError:
            return None
        if answer.status_code != 202:
            return None
        self.accepted.append((PROBE_DEVICE, at))
        return at

    def _healthy(self) -> bool:
        try:
            answer = self._http.get("/api/health")
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and answer.json().get("status") == "healthy"

    def _live(self, at: datetime) -> bool:
        try:
            answer = self._http.get(f"/api/devices/{PROBE_DEVICE}/current")
        except httpx.HTTPError:
            return False
        if answer.status_code != 200:
            return False
        body = answer.json()
        current = body["data"].get("current") or {}
        return body["meta"].get("source") == "redis" and current.get("timestamp") == stamp(at)

    def _stored(self, at: datetime) -> bool:
        try:
            with psycopg.connect(self.database_url(), connect_timeout=2) as conn:
                row = conn.execute(
                    "SELECT 1 FROM sensor_readings WHERE device_id = %s AND timestamp = %s", (PROBE_DEVICE, at)
                ).fetchone()
        except (psycopg.Error, OSError):
            return False
        return row is not None
