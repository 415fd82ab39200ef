"""MQTT topics and JSON payloads into readings, by configuration (pure: no I/O).

A rule names a topic pattern (MQTT's `+` and `#`, and `{name}` for a level
whose text the rule reuses), where the reading's device, sensor type, unit and
location come from (templates over the named levels, or JSON paths into the
payload), and the JSON paths of the value and the time. The default topic
convention is one such rule:
`iotmon/{location}/{deviceId}/{sensorType}` with `{"value", "unit", "timestamp"?}`.

A message without a time gets the bridge's receive time. Ingest stores a
reading once per (device, timestamp), so only a device's own timestamp makes a
message the broker delivers twice (after a bridge crash) count once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from iotmon.core.bridging import Rejected, Translation
from iotmon.core.contracts.common import DECIMAL_LIMIT
from iotmon.core.readings import as_json, check_timestamp, parse_reading

_NAMED = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_TEMPLATE_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")
EPOCH_MS_FROM = 1e11  # a number of seconds this large is past the year 5000: it is milliseconds


class MappingError(ValueError):
    """A rule that cannot work: said when the configuration is read, never when a message comes."""


_TEXT, _ANY, _NAME, _REST = range(4)  # what a pattern level matches


@dataclass(frozen=True, slots=True)
class TopicPattern:
    """An MQTT topic filter whose `{name}` levels are captured."""

    levels: tuple[str, ...]
    _steps: tuple[tuple[int, str], ...]  # each level's kind and its text or name, read once (matched per message)

    @classmethod
    def parse(cls, pattern: str) -> TopicPattern:
        levels = tuple(pattern.split("/"))
        steps: list[tuple[int, str]] = []
        for position, level in enumerate(levels):
            if level == "#" and position != len(levels) - 1:
                raise MappingError(f"topic pattern {pattern!r}: `#` may only be the last level")
            named = _NAMED.match(level)
            if any(mark in level for mark in "+#{}") and level not in ("+", "#") and not named:
                raise MappingError(
                    f"topic pattern {pattern!r}: level {level!r} must be text, `+`, `#` or a whole `{{name}}`"
                )
            kind = _NAME if named else {"+": _ANY, "#": _REST}.get(level, _TEXT)
            steps.append((kind, named.group(1) if named else level))
        names = [name for kind, name in steps if kind == _NAME]
        if len(names) != len(set(names)):
            raise MappingError(f"topic pattern {pattern!r}: a name is used twice")
        return cls(levels, tuple(steps))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for kind, name in self._steps if kind == _NAME)

    @property
    def subscription(self) -> str:
        """The MQTT topic filter to subscribe to: each `{name}` is a `+`."""
        return "/".join(
            "+" if kind == _NAME else level for (kind, _), level in zip(self._steps, self.levels, strict=True)
        )

    def match(self, topic: str) -> dict[str, str] | None:
        """The named levels' text when the topic matches, else None."""
        parts = topic.split("/")
        captured: dict[str, str] = {}
        for position, (kind, text) in enumerate(self._steps):
            if kind == _REST:
                return captured
            if position >= len(parts):
                return None
            part = parts[position]
            if kind == _NAME:
                if not part:
                    return None
                captured[text] = part
            elif kind == _TEXT and text != part:
                return None
        return captured if len(parts) == len(self._steps) else None


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A small JSONPath: `$`, `$.a.b`, `$.items[0].value`, `$["key.with.dots"]` (the `$` may be left out)."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        rest = text[1:] if text.startswith("$") else ("." + text if text and text[0] not in ".[" else text)
        steps: list[str | int] = []
        position = 0
        while position < len(rest):
            step = _PATH_STEP.match(rest, position)
            if step is None:
                raise MappingError(f"JSON path {text!r}: cannot read it from {rest[position:]!r} on")
            key, index, double, single = step.groups()
            steps.append(int(index) if index is not None else next(s for s in (key, double, single) if s is not None))
            position = step.end()
        return cls(text, tuple(steps))

    def find(self, document: Any) -> Any:
        """What the path points at; KeyError when it is not there."""
        for step in self.steps:
            in_list = isinstance(step, int) and isinstance(document, list) and step < len(document)
            if not (in_list or (isinstance(step, str) and isinstance(document, dict) and step in document)):
                raise KeyError(self.text)
            document = document[step]
        return document


class Template:
    """Text with `{name}` fields filled from a topic's named levels."""

    def __init__(self, text: str, names: Sequence[str], what: str) -> None:
        if unknown := [name for name in _TEMPLATE_FIELD.findall(text) if name not in names]:
            raise MappingError(f"{what} {text!r} uses {', '.join(unknown)}, which the topic pattern does not name")
        self.text = text
        whole = _NAMED.match(text)
        self._only = whole.group(1) if whole else None  # the usual "{deviceId}": a lookup, no substitution

    def fill(self, captured: Mapping[str, str]) -> str:
        if self._only is not None:
            return captured[self._only]
        return _TEMPLATE_FIELD.sub(lambda field: captured[field.group(1)], self.text)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a text field of the reading comes from: a template over the topic, else a JSON path, else absent."""

    template: Template | None = None
    path: JsonPath | None = None

    def value(self, captured: Mapping[str, str], payload: Any) -> str | None:
        if self.path is not None:
            try:
                found = self.path.find(payload)
            except KeyError:
                found = None
            if found is not None:
                return str(found)
        return None if self.template is None else self.template.fill(captured)


@dataclass(frozen=True, slots=True)
class Rule:
    """One mapping: topics matching `topic` become readings as the sources say."""

    topic: TopicPattern
    device_id: Source
    sensor_type: Source
    unit: Source
    location: Source
    value: JsonPath
    timestamp: JsonPath | None

    def reading(self, captured: Mapping[str, str], payload: Any, received_at: datetime) -> dict[str, Any]:
        """The reading in the contract's JSON shape (not yet validated); ValueError says what is missing."""
        value = _number(self.value, payload)
        built: dict[str, Any] = {
            "deviceId": self.device_id.value(captured, payload),
            "sensorType": self.sensor_type.value(captured, payload),
            "unit": self.unit.value(captured, payload),
        }
        if not all(built.values()):
            missing = next(name for name, text in built.items() if not text)
            raise ValueError(f"no {missing} in the message (topic pattern {'/'.join(self.topic.levels)})")
        if (location := self.location.value(captured, payload)) is not None:
            built["location"] = location
        built["value"] = value
        built["timestamp"] = _timestamp(self.timestamp, payload, received_at)
        return built


def _number(path: JsonPath, payload: Any) -> float:
    try:
        found = path.find(payload)
    except KeyError:
        raise ValueError(f"no value at {path.text}") from None
    if isinstance(found, bool) or not isinstance(found, (int, float, str)):
        raise ValueError(f"the value at {path.text} is not a number: {found!r}")
    try:
        return float(found)
    except ValueError:
        raise ValueError(f"the value at {path.text} is not a number: {found!r}") from None


def _timestamp(path: JsonPath | None, payload: Any, received_at: datetime) -> str:
    """The device's time as RFC 3339 UTC (microseconds kept), or the receive time when it sends none."""
    found = None
    if path is not None:
        try:
            found = path.find(payload)
        except KeyError:
            found = None
    if found is None:
        return _rfc3339(received_at)
    if isinstance(found, (int, float)) and not isinstance(found, bool):
        seconds = found / 1000 if found >= EPOCH_MS_FROM else found
        try:
            return _rfc3339(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"timestamp {found!r} is not a time (epoch seconds or milliseconds)") from None
    if isinstance(found, str):
        try:
            moment = datetime.fromisoformat(found)
        except ValueError:
            raise ValueError(f"timestamp {found!r} is not an ISO 8601 time") from None
        return _rfc3339(moment if moment.tzinfo else moment.replace(tzinfo=UTC))  # no offset: UTC
    raise ValueError(f"timestamp {found!r} is neither ISO 8601 text nor epoch seconds")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def decode_payload(payload: bytes) -> Any:
    """JSON when it is JSON, else the text (a bare `72.5` is JSON; `on` is text); ValueError if not UTF-8."""
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError:
        pass
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("the payload is neither JSON nor UTF-8 text") from None


class RulesTranslator:
    """A `Translator` over rules tried in order: the first whose topic pattern matches handles the message."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        self._valid = ValidLabels()

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.topic.subscription for rule in self.rules))

    def translate(self, topic: str, payload: bytes, received_at: datetime) -> Translation | None:
        for rule in self.rules:
            if (captured := rule.topic.match(topic)) is not None:
                return self._translate(rule, captured, topic, payload, received_at)
        return None

    def _translate(
        self, rule: Rule, captured: dict[str, str], topic: str, payload: bytes, received_at: datetime
    ) -> Translation:
        try:
            document = decode_payload(payload)
            built = rule.reading(captured, document, received_at)
            if not self._valid.vouch_for(built):
                parse_reading(built)  # validated here, so that a bad one is dead-lettered with its topic
                self._valid.add(built)
        except ValueError as error:
            return Translation(rejected=(Rejected(str(error), as_json(payload), topic),))
        if reason := check_timestamp(built["timestamp"], received_at):
            return Translation(rejected=(Rejected(reason, as_json(payload), topic),))
        return Translation(readings=(built,))


class ValidLabels:
    """The device, sensor type, unit and location of readings the contract took, so that the next reading with
    the same ones is not matched against their patterns again: that validation (parse_reading) was a third of a
    message's translation, and a plant sends the same few thousand labels over and over.

    What else a built reading holds is valid by construction or checked here the way the contract checks it:
    the value a float within its bounds (NaN is not), the timestamp `_rfc3339`'s text, whose only way out of
    the contract's pattern is a year before 1000."""

    LIMIT = 100_000  # label sets remembered; past that the memory starts again

    def __init__(self) -> None:
        self._seen: set[tuple[Any, ...]] = set()

    @staticmethod
    def _labels(built: Mapping[str, Any]) -> tuple[Any, ...]:
        return (built["deviceId"], built["sensorType"], built["unit"], built.get("location"))

    def vouch_for(self, built: Mapping[str, Any]) -> bool:
        value = built["value"]
        return (
            type(value) is float
            and -DECIMAL_LIMIT <= value <= DECIMAL_LIMIT
            and built["timestamp"][0] != "0"
            and self._labels(built) in self._seen
        )

    def add(self, built: Mapping[str, Any]) -> None:
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        self._seen.add(self._labels(built))
