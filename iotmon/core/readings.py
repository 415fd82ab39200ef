"""Reading readings: decoding, validation and the time checks of reading events (pure).

The contract is `iotmon.core.contracts.readings.Reading`; msgspec decodes and
validates against it in one pass, which is what lets ingest keep up with COPY.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from iotmon.core.contracts.readings import MAX_BATCH, Reading, ReadingBatch
from iotmon.core.contracts.unchecked import unchecked

# Semantic limits the JSON Schema cannot express (they depend on "now").
MAX_FUTURE = timedelta(minutes=5)
RETENTION = timedelta(days=92)  # raw readings are kept 3 months
# Readings the API queues go in one event per ordering key, not per device: a gateway's request of 500 devices
# becomes at most this many events (each a record, an HTTP delivery on Knative), not 500.
ORDERING_KEYS = 64


# The shape of a batch without its readings' contract: to say which reading is bad.
class _RawBatch(msgspec.Struct, forbid_unknown_fields=True):
    readings: list[msgspec.Raw]


class _ObjectBatch(msgspec.Struct, forbid_unknown_fields=True):
    readings: list[Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one reading (or a whole payload) was refused, with what was sent."""

    reason: str
    payload: Any  # the original reading or payload, as received
    index: int | None = None  # position in a batch, when it came in one


def ordering_key(device_id: str) -> str:
    """The record key a device's readings are queued under: always the same one for a device, so its readings
    stay in order on one partition of every topic whatever its partition count; shared by the devices that
    hash alike, so that many devices travel in one event."""
    return f"devices-{zlib.crc32(device_id.encode()) % ORDERING_KEYS}"


_reading_decoder = msgspec.json.Decoder(Reading)
_batch_decoder = msgspec.json.Decoder(ReadingBatch)
_unchecked_batch_decoder = msgspec.json.Decoder(unchecked(ReadingBatch))
_raw_batch_decoder = msgspec.json.Decoder(_RawBatch)


def parse_time(timestamp: str) -> datetime:
    """A schema-shaped timestamp as a datetime; ValueError if it is no real date (Feb 30)."""
    try:
        return datetime.fromisoformat(timestamp)
    except ValueError as error:
        raise ValueError(f"timestamp {timestamp!r} is not a real date-time: {error}") from None


def check_time(reading: Reading, now: datetime) -> str | None:
    """The reason a well-formed reading is still refused, or None.

    The schema's pattern fixes the timestamp's shape; whether it is a real
    date (not Feb 30) is checked here, where it is parsed anyway, because a
    per-reading hook in the decoder would cost more than the whole decode.
    """
    return check_timestamp(reading.timestamp, now)


def check_timestamp(timestamp: str, now: datetime) -> str | None:
    """Why a timestamp of the contract's shape is refused (not a real date, too far ahead or back), or None."""
    try:
        at = parse_time(timestamp)
    except ValueError as error:
        return str(error)
    if at > now + MAX_FUTURE:
        return f"timestamp {timestamp} is in the future (clock skew over {MAX_FUTURE})"
    if at < now - RETENTION:
        return f"timestamp {timestamp} is older than the raw-data retention ({RETENTION.days} days)"
    return None


def parse_reading(data: bytes | str | dict[str, Any]) -> Reading:
    """One reading from JSON bytes or an already-decoded object; raises ValueError."""
    try:
        if isinstance(data, (bytes, str)):
            return _reading_decoder.decode(data)
        return msgspec.convert(data, Reading)
    except msgspec.ValidationError as error:
        raise ValueError(str(error)) from None
    except msgspec.DecodeError as error:
        raise ValueError(f"malformed JSON: {error}") from None


def parse_batch(data: bytes | str | dict[str, Any], checked: bool = True) -> tuple[list[Reading], list[Rejection]]:
    """All good readings of a batch and a rejection for each bad one.

    The fast path decodes the whole batch at once; only a batch with a bad
    reading is decoded again reading by reading to say which and why.
    `checked=False` skips the contract's value checks on that fast path (not
    its types): for batches this system checked before it wrote them.
    """
    try:
        if isinstance(data, (bytes, str)):
            return (_batch_decoder if checked else _unchecked_batch_decoder).decode(data).readings, []
        return msgspec.convert(data, ReadingBatch).readings, []
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    try:
        if isinstance(data, (bytes, str)):
            items: list[Any] = _raw_batch_decoder.decode(data).readings
        else:
            items = msgspec.convert(data, _ObjectBatch).readings
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        return [], [Rejection(reason=f"not a reading batch: {error}", payload=as_json(data))]
    if not items:
        return [], [Rejection(reason="batch has no readings (at least 1 required)", payload=as_json(data))]
    if len(items) > MAX_BATCH:
        return [], [
            Rejection(reason=f"batch has {len(items)} readings (at most {MAX_BATCH} allowed)", payload=as_json(data))
        ]
    good: list[Reading] = []
    bad: list[Rejection] = []
    for index, item in enumerate(items):
        raw = bytes(item) if isinstance(item, msgspec.Raw) else item
        try:
            good.append(parse_reading(raw))
        except ValueError as error:
            bad.append(Rejection(reason=str(error), payload=as_json(raw), index=index))
    return good, bad


def batch_positions(good: list[Reading], bad: list[Rejection]) -> list[int]:
    """Each good reading's position in its batch (the bad ones took the others)."""
    skipped = {rejection.index for rejection in bad}
    return [i for i in range(len(good) + len(skipped)) if i not in skipped][: len(good)]


def as_json(data: bytes | bytearray | str | Any) -> Any:
    """A payload in a JSON-friendly form, for a dead-letter record: decoded if it is JSON, else as text."""
    if isinstance(data, (bytes, bytearray)):
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            return bytes(data).decode("utf-8", errors="replace")
    return data


def to_json(reading: Reading) -> dict[str, Any]:
    built: dict[str, Any] = msgspec.to_builtins(reading)
    return built


def utcnow() -> datetime:
    return datetime.now(UTC)
