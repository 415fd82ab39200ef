"""Delivering events over HTTP, as Knative's KafkaSource and PingSource dispatchers do.

One event per request, in binary content mode (`ce-*` headers, the data as the
body, `content-type` from `datacontenttype`). The answer is judged by
`eventing.delivery`: 2xx succeeds (any reply event is discarded, as a source
discards it), 5xx/404/409/429 and no answer at all are retried, anything else
is dead-lettered at once. Each request waits at most the delivery timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from eventing.delivery import Failure

DEFAULT_CONCURRENCY = 16  # requests in flight per function (Knative sends one event per request)
DEFAULT_TIMEOUT = 30.0  # seconds per request when the delivery block sets no timeout
CONNECT_TIMEOUT = 2.0


def _body(data: Any) -> bytes | None:
    if data is None or isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):  # a PingSource's spec.data, sent as it is
        return data.encode()
    return msgspec.json.encode(data)


class OverHttp:
    """A function served over HTTP (functions-framework), at `url`."""

    batch = False

    def __init__(self, name: str, url: str, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.name = name
        self.url = url
        self.destination = url
        self.concurrency = concurrency
        self._client = httpx.Client(
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,  # a 3xx is a failure, as in Knative
        )

    def attempt(self, events: Sequence[CloudEvent], timeout: float | None) -> Failure | None:
        (event,) = events
        try:
            headers, body = to_binary(event, data_marshaller=_body)
        except Exception as error:  # an event this binding cannot write will never go
            return Failure(f"cannot write the event as HTTP: {error}", retryable=False)
        seconds = timeout or DEFAULT_TIMEOUT
        try:
            response = self._client.post(
                self.url,
                content=body or b"",
                headers=headers,
                timeout=httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT)),
            )
        except httpx.TimeoutException:
            return Failure(f"no answer from {self.url} within {seconds:g} s", retryable=True)
        except httpx.TransportError as error:
            return Failure(f"{type(error).__name__}: {error}", retryable=True)
        if response.is_success:
            return None
        return Failure.of_status(response.status_code, response.content)

    def close(self) -> None:
        self._client.close()
