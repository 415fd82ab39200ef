"""The event wiring, read from the Knative manifests in `knative/`.

The cluster's KafkaSources and PingSources are the one source of truth for
which function hears which topic (in which consumer group, with which retry
policy and dead-letter sink) and which function runs on which schedule; the
local router follows exactly what they say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iotmon import KNATIVE_DIR


@dataclass(frozen=True)
class Delivery:
    """A KafkaSource `delivery` block: retries, backoff and the dead-letter topic."""

    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay: float = 0.2  # seconds
    dead_letter_topic: str | None = None

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based), as Knative computes it."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * attempt
        return self.backoff_delay * 2**attempt


@dataclass(frozen=True)
class KafkaSubscription:
    name: str
    topics: tuple[str, ...]
    group: str
    function: str
    delivery: Delivery = field(default_factory=Delivery)
    consumers: int = 1  # members of the consumer group, sharing the partitions


@dataclass(frozen=True)
class PingSchedule:
    name: str
    schedule: str
    function: str
    data: str = ""
    timezone: str = "UTC"


@dataclass(frozen=True)
class Wiring:
    subscriptions: tuple[KafkaSubscription, ...]
    schedules: tuple[PingSchedule, ...]


_DURATION = re.compile(r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as PT0.2S or PT1M (Knative's backoffDelay)."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def read_manifests(directory: Path = KNATIVE_DIR) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def load_wiring(directory: Path = KNATIVE_DIR) -> Wiring:
    documents = read_manifests(directory)
    sinks = {doc["metadata"]["name"]: doc["spec"]["topic"] for doc in documents if doc.get("kind") == "KafkaSink"}
    subscriptions = tuple(
        KafkaSubscription(
            name=doc["metadata"]["name"],
            topics=tuple(doc["spec"]["topics"]),
            group=doc["spec"].get("consumerGroup") or doc["metadata"]["name"],
            function=doc["spec"]["sink"]["ref"]["name"],
            delivery=_delivery(doc["spec"].get("delivery") or {}, sinks),
            consumers=int(doc["spec"].get("consumers", 1)),
        )
        for doc in documents
        if doc.get("kind") == "KafkaSource"
    )
    schedules = tuple(
        PingSchedule(
            name=doc["metadata"]["name"],
            schedule=doc["spec"]["schedule"],
            function=doc["spec"]["sink"]["ref"]["name"],
            data=doc["spec"].get("data", ""),
            timezone=doc["spec"].get("timezone", "UTC"),
        )
        for doc in documents
        if doc.get("kind") == "PingSource"
    )
    return Wiring(subscriptions, schedules)


def _delivery(spec: dict[str, Any], sinks: dict[str, str]) -> Delivery:
    dead_letter = (spec.get("deadLetterSink") or {}).get("ref") or {}
    if dead_letter and dead_letter.get("kind") != "KafkaSink":
        raise ValueError(f"dead-letter sink {dead_letter} must be a KafkaSink for the local router")
    if dead_letter and dead_letter["name"] not in sinks:
        raise ValueError(f"dead-letter KafkaSink {dead_letter['name']!r} is not declared in the manifests")
    return Delivery(
        retry=int(spec.get("retry", 0)),
        backoff_policy=spec.get("backoffPolicy", "exponential"),
        backoff_delay=parse_duration(spec.get("backoffDelay", "PT0.2S")),
        dead_letter_topic=sinks.get(dead_letter.get("name", "")),
    )
