"""Real Socket.IO clients for tests: connected over WebSocket, each past its `connection-status`, all
disconnected at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import socketio


@contextmanager
def socketio_clients() -> Iterator[Callable[[str], socketio.SimpleClient]]:
    """A function that connects a client to a service URL."""
    clients: list[socketio.SimpleClient] = []

    def open_client(url: str) -> socketio.SimpleClient:
        client = socketio.SimpleClient()
        client.connect(url, transports=["websocket"])
        clients.append(client)
        event, data = client.receive(timeout=5)
        assert event == "connection-status" and data["status"] == "connected"
        return client

    try:
        yield open_client
    finally:
        for client in clients:
            client.disconnect()


def receive(client: socketio.SimpleClient, wanted: str, timeout: float = 5.0) -> Any:
    """The next `wanted` event's payload (other events in between are skipped)."""
    while True:
        event, *data = client.receive(timeout=timeout)
        if event == wanted:
            return data[0] if data else None
