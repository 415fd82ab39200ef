"""A dashboard's Socket.IO connection in the alerts room, as the dashboard keeps it (frontend/src/live/socket.ts).

On every (re)connect it subscribes to alerts `since` the newest sequence it has heard, so the service replays
what it missed while disconnected. It counts every alert change it receives by `sequence`: after dedup each
change should be there once, and the raw counts show how often the same change came twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

import socketio

log = logging.getLogger("chaos.listener")

ALERT_EVENTS = ("alert-triggered", "alert-resolved")
RECONNECT_EVERY_S = 0.5
RESUBSCRIBE_AFTER_S = 3.0  # a subscribe-alerts unanswered (PostgreSQL was down for its replay) is sent again


class AlertListener:
    def __init__(self, url: str) -> None:
        self.url = url
        self.received: Counter[int] = Counter()
        self.connections = 0
        self.replayed = 0
        self._high = 0  # the newest sequence heard, what a reconnect asks to be replayed after
        self._subscribed = threading.Event()
        self._asked_at = 0.0
        self._lock = threading.Lock()
        self._client: socketio.Client | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_connected, name="chaos-listener", daemon=True)

    def start(self) -> AlertListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)
        if self._client is not None:
            self._client.disconnect()

    @property
    def subscribed(self) -> bool:
        """Connected, and the service has answered the latest subscribe-alerts (its replay sent)."""
        client = self._client
        return client is not None and client.connected and self._subscribed.is_set()

    def sequences(self) -> set[int]:
        with self._lock:
            return set(self.received)

    def duplicates(self) -> int:
        with self._lock:
            return sum(count - 1 for count in self.received.values())

    def _keep_connected(self) -> None:
        # Reconnecting here rather than by python-socketio: it gives up after a disconnect the server asked for,
        # which a stopping service does.
        while not self._stop.is_set():
            client = self._client
            if client is None or not client.connected:
                self._connect()
            elif not self._subscribed.is_set() and time.monotonic() - self._asked_at > RESUBSCRIBE_AFTER_S:
                self._subscribe(client)
            self._stop.wait(RECONNECT_EVERY_S)

    def _connect(self) -> None:
        self._subscribed.clear()
        client = socketio.Client(reconnection=False)
        client.on("connect", lambda: self._on_connect(client))
        for event in ALERT_EVENTS:
            client.on(event, self._on_alert)
        try:
            client.connect(self.url, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return
        self._client = client

    def _on_connect(self, client: socketio.Client) -> None:
        with self._lock:
            self.connections += 1
        self._subscribe(client)

    def _subscribe(self, client: socketio.Client) -> None:
        with self._lock:
            since = self._high
        self._asked_at = time.monotonic()
        client.emit("subscribe-alerts", {"since": since}, callback=self._on_subscribed)

    def _on_subscribed(self, answer: Any) -> None:
        if isinstance(answer, dict) and answer.get("success"):
            with self._lock:
                self.replayed += int(answer.get("replayed") or 0)
            self._subscribed.set()
        else:
            log.warning("subscribe-alerts refused", extra={"answer": answer})

    def _on_alert(self, data: Any) -> None:
        sequence = data.get("sequence") if isinstance(data, dict) else None
        if isinstance(sequence, int):
            with self._lock:
                self.received[sequence] += 1
                self._high = max(self._high, sequence)
