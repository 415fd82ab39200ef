"""CloudEvents in Kafka binary content mode, as Knative's KafkaSource reads them.

Attributes travel as `ce_*` headers, the data as the record value and the
`partitionkey` extension as the record key. Event data stays bytes on the way
in, so that a function can decode and validate it in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec
from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, to_binary

Headers = Sequence[tuple[str, bytes]] | dict[str, bytes] | None


def _marshal(data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    return msgspec.json.encode(data)


class Encoded(NamedTuple):
    """A Kafka record's parts: `ce_*` headers, key, value."""

    headers: dict[str, bytes]
    key: bytes | None
    value: bytes


def encode(event: CloudEvent) -> Encoded:
    """The record for one event; `datacontenttype` must be set (the binding needs it)."""
    message = to_binary(event, data_marshaller=_marshal)
    key = message.key.encode() if isinstance(message.key, str) else message.key
    headers = {
        name: value if isinstance(value, bytes) else str(value).encode() for name, value in message.headers.items()
    }
    value = message.value.encode() if isinstance(message.value, str) else bytes(message.value)
    return Encoded(headers, key, value)


def decode(headers: Headers, key: bytes | str | None, value: bytes | None) -> CloudEvent:
    """The event in a record; its data is left as raw bytes. Raises ValueError."""
    header_map = dict(headers or {})
    if not any(name.lower() == "ce_specversion" for name in header_map):
        raise ValueError("record is not a binary-mode CloudEvent (no ce_specversion header)")
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    try:
        return from_binary(KafkaMessage(header_map, key, value or b""), data_unmarshaller=lambda data: data)
    except Exception as error:  # the SDK raises several kinds for bad attributes
        raise ValueError(f"invalid CloudEvent: {error}") from None


def json_data(event: CloudEvent) -> Any:
    """The event's data as a Python object, whether it arrived as bytes or parsed."""
    data = event.get_data()
    if isinstance(data, (bytes, bytearray, str)):
        return msgspec.json.decode(data)
    return data
