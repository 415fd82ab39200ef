"""The simulator's transport when there is no Kafka: readings sent as a gateway sends them, to `POST
/api/readings` of a running service (the embedded `iotmon up` included) with a gateway API key.

The service puts them on its own `sensors-data` (Kafka or the embedded event log), so they take the
pipeline's whole path. A key allowed to register devices (the `gateway` key `iotmon up` makes is)
registers the devices a run sends as, from their first readings.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from cloudevents.http import CloudEvent

from eventing.events import READING_BATCH
from iotmon.core.contracts.readings import MAX_BATCH


def readings_of(event: CloudEvent) -> list[dict[str, Any]]:
    """The readings a reading or reading-batch event carries."""
    data: Any = event.get_data()
    if isinstance(data, (bytes, str)):
        data = json.loads(data)
    return list(data["readings"]) if event["type"] == READING_BATCH else [data]


class ApiPublisher:
    """A Publisher over the REST API: one request per MAX_BATCH readings of a gateway (the events' key), the
    gateways side by side (`concurrency` requests in flight), each gateway's requests in order, as a plant's
    gateways send."""

    def __init__(self, url: str, api_key: str, timeout_s: float = 30.0, concurrency: int = 4) -> None:
        self.client = httpx.Client(
            base_url=url,
            headers={"X-API-Key": api_key},
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=concurrency),
        )
        self._gateways = ThreadPoolExecutor(concurrency, thread_name_prefix="api-publisher")

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> None:
        """(The topic is the service's to choose: it is always `sensors-data`.)"""
        by_gateway: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            by_gateway[event.get("partitionkey") or ""] += readings_of(event)
        list(self._gateways.map(self._send, by_gateway.values()))  # waits for all; re-raises a request's error

    def _send(self, readings: list[dict[str, Any]]) -> None:
        for start in range(0, len(readings), MAX_BATCH):
            answer = self.client.post("/api/readings", json={"readings": readings[start : start + MAX_BATCH]})
            if answer.status_code != 202:
                raise RuntimeError(f"POST /api/readings answered {answer.status_code}: {answer.text[:300]}")

    def close(self) -> None:
        self._gateways.shutdown()
        self.client.close()
