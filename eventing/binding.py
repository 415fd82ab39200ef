"""CloudEvents in Kafka binary content mode, as Knative's KafkaSource reads them.

Attributes travel as `ce_*` headers, the data as the record value and the
`partitionkey` extension as the record key. Event data stays bytes on the way
in, so that a function can decode and validate it in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import msgspec
from cloudevents.http import CloudEvent
from cloudevents.kafka import KafkaMessage, from_binary, to_binary

Headers = Sequence[tuple[str, bytes]] | dict[str, bytes] | None
_REQUIRED = ("ce_id", "ce_source", "ce_type")
# RFC 3339, as the CloudEvents spec requires of `time`.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


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


def claims_cloudevent(headers: Headers) -> bool:
    """Whether a record carries CloudEvent attributes (`ce_*` headers), valid or not."""
    return any(name.lower().startswith("ce_") for name in dict(headers or {}))


def broken_attributes(headers: Mapping[str, bytes]) -> str | None:
    """Why a record's `ce_*` headers do not make a valid CloudEvent 1.0, or None.

    Stricter than the SDK, which invents an id when there is none and takes any `time`."""
    text = {name.lower(): value.decode("utf-8", "replace") for name, value in headers.items()}
    if text.get("ce_specversion") != "1.0":
        return f"specversion {text.get('ce_specversion')!r} is not 1.0"
    if missing := [name[3:] for name in _REQUIRED if not text.get(name)]:
        return f"required attribute(s) missing or empty: {', '.join(missing)}"
    if "ce_time" in text and not _RFC3339.match(text["ce_time"]):
        return f"time {text['ce_time']!r} is not an RFC 3339 timestamp"
    return None


def decode(headers: Headers, key: bytes | str | None, value: bytes | None) -> CloudEvent:
    """The event in a record; its data is left as raw bytes. Raises ValueError (with the reason)."""
    header_map = dict(headers or {})
    if not any(name.lower() == "ce_specversion" for name in header_map):
        raise ValueError("invalid CloudEvent: no ce_specversion header (not a binary-mode CloudEvent)")
    if reason := broken_attributes(header_map):
        raise ValueError(f"invalid CloudEvent: {reason}")
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
