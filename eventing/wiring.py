"""The event wiring, read from the Knative manifests in `knative/base/`.

The cluster's KafkaSources and PingSources are the one source of truth for
which function hears which topic (in which consumer group, in which order, with
which retry policy, timeout and dead-letter sink) and which function runs on
which schedule; the local router follows exactly what they say. The files are
found the way kustomize finds them: the `resources` of `kustomization.yaml`,
following nested kustomizations. The overlays only tune scale, resources and
images, never the wiring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# knative/base at the repository root, carried in the package (a link here, files in a wheel).
MANIFESTS = Path(__file__).with_name("manifests")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Kustomization fields that change resources: the router reads the files as they are, so the base must not use them.
_TRANSFORMING = (
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "replacements",
    "components",
    "configMapGenerator",
    "secretGenerator",
    "images",
    "replicas",
    "nameSuffix",
    "namePrefix",
)


@dataclass(frozen=True)
class Delivery:
    """A KafkaSource `delivery` block: retries, backoff and the dead-letter topic."""

    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay: float = 0.2  # seconds
    dead_letter_topic: str | None = None
    timeout: float | None = None  # seconds each try may take (None: the sender's default)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based), as Knative computes it."""
        if self.backoff_policy == "linear":
            return self.backoff_delay * attempt
        return self.backoff_delay * 2.0**attempt


@dataclass(frozen=True)
class KafkaSubscription:
    name: str
    topics: tuple[str, ...]
    group: str
    function: str
    delivery: Delivery = field(default_factory=Delivery)
    consumers: int = 1  # members of the consumer group, sharing the partitions
    ordering: str = "ordered"  # ordered: a partition's next event waits for the answer to the previous one
    initial_offset: str = "latest"  # where a new consumer group starts: earliest or latest


@dataclass(frozen=True)
class PingSchedule:
    name: str
    schedule: str
    function: str
    data: str = ""
    timezone: str = "UTC"


@dataclass(frozen=True)
class FunctionService:
    """A Knative Service: a function the sources deliver to, its image and the port it listens on."""

    name: str
    image: str
    port: int = 8080


@dataclass(frozen=True)
class Wiring:
    subscriptions: tuple[KafkaSubscription, ...]
    schedules: tuple[PingSchedule, ...]
    services: tuple[FunctionService, ...] = ()

    def topics(self) -> frozenset[str]:
        """Every topic the sources read or dead-letter to."""
        read = {topic for s in self.subscriptions for topic in s.topics}
        dead = {s.delivery.dead_letter_topic for s in self.subscriptions if s.delivery.dead_letter_topic}
        return frozenset(read | dead)

    def groups(self) -> set[tuple[str, str]]:
        """Every (topic, consumer group) the sources read."""
        return {(topic, s.group) for s in self.subscriptions for topic in s.topics}


_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as PT0.2S or PT1M (Knative's backoffDelay)."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)


def read_manifests(directory: Path = MANIFESTS) -> list[dict[str, Any]]:
    """The documents of a kustomization's resources (recursively), or of every *.yaml in a plain folder."""
    kustomization = next((directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()), None)
    if kustomization is None:
        return [doc for path in sorted(directory.glob("*.yaml")) for doc in _documents(path)]
    spec = yaml.safe_load(kustomization.read_text()) or {}
    if used := [name for name in _TRANSFORMING if spec.get(name)]:
        raise ValueError(
            f"{kustomization}: {', '.join(used)} would change what the local router reads; do that in an overlay"
        )
    documents: list[dict[str, Any]] = []
    for entry in spec.get("resources") or []:
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            raise ValueError(f"{kustomization}: remote resource {entry!r} cannot be read offline")
        path = (directory / entry).resolve()
        if path.is_dir():
            documents.extend(read_manifests(path))
        elif path.is_file():
            documents.extend(_documents(path))
        else:
            raise ValueError(f"{kustomization}: resource {entry!r} does not exist")
    return documents


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def topic_partitions(directory: Path = MANIFESTS) -> dict[str, int]:
    """Each KafkaTopic's partitions as the manifests declare them (local brokers get the same)."""
    return {
        doc["metadata"]["name"]: int(doc["spec"]["partitions"])
        for doc in read_manifests(directory)
        if doc.get("kind") == "KafkaTopic"
    }


def load_wiring(directory: Path = MANIFESTS) -> Wiring:
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
            ordering=doc["spec"].get("ordering", "ordered"),
            initial_offset=doc["spec"].get("initialOffset", "latest"),
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
    services = tuple(
        _service(doc)
        for doc in documents
        if doc.get("kind") == "Service" and doc.get("apiVersion", "").startswith("serving.knative.dev/")
    )
    return Wiring(subscriptions, schedules, services)


def _service(doc: dict[str, Any]) -> FunctionService:
    container = doc["spec"]["template"]["spec"]["containers"][0]
    ports = container.get("ports") or [{}]
    return FunctionService(doc["metadata"]["name"], container["image"], int(ports[0].get("containerPort", 8080)))


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
        timeout=parse_duration(spec["timeout"]) if spec.get("timeout") else None,
    )
