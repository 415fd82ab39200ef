"""The MQTT bridge's configuration: a YAML or JSON document, then the environment over it (pure: the caller reads
the file and passes the environment).

```yaml
broker:
  url: mqtts://broker.plant.local:8883   # mqtt:// (1883) or mqtts:// (TLS, 8883)
  version: "5"                            # or "3.1.1"
  username: iotmon-bridge                 # the password from IOTMON_MQTT_PASSWORD
  tls: {ca: /etc/iotmon/mqtt-ca.pem}
subscriptions:                            # default: every rule's topics (and the convention's), QoS 1
  - {topic: "plant/#", qos: 1}
rules:
  - topic: plant/{line}/{machine}/temp
    deviceId: "{line}-{machine}"
    sensorType: temperature
    unit: celsius
    value: $.data.t
    timestamp: $.data.ts
sparkplug:                                # Sparkplug B edge nodes on spBv1.0/# (on unless enabled: false)
  deviceId: "{node}-{device}-{metric}"
  units: {Temperature: celsius}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import msgspec
import yaml

from iotmon.core.topic_mapping import JsonPath, MappingError, Rule, Source, Template, TopicPattern

DEFAULT_CONVENTION = "iotmon/{location}/{deviceId}/{sensorType}"
SPARKPLUG_TOPICS = "spBv1.0/#"


class _Config(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    pass


class Tls(_Config):
    ca: str | None = None  # CA bundle file; None: the system's
    cert: str | None = None  # client certificate file (mutual TLS)
    key: str | None = None
    insecure: bool = False  # do not check the server's name (a test broker's self-signed certificate)


class Broker(_Config):
    url: str = "mqtt://127.0.0.1:1883"
    version: Literal["3.1.1", "5", 5] = "5"
    client_id: str = "iotmon-mqtt-bridge"  # fixed: the persistent session is the client id's
    username: str | None = None
    password: str | None = None
    tls: Tls | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600  # MQTT 5: how long the broker keeps messages for a bridge that is away


class Subscription(_Config):
    topic: str
    qos: Literal[0, 1] = 1


class Batching(_Config):
    max_messages: int = 5000  # messages published to the transport together, then acknowledged
    linger_ms: float = 5.0  # how long a batch waits for more messages once it has one
    max_in_flight: int = 20_000  # messages received and not yet acknowledged (MQTT 5: the Receive Maximum)
    max_in_flight_bytes: int = 64 * 1024 * 1024
    max_payload_bytes: int = 256 * 1024  # a bigger message is dead-lettered, not read


class RuleConfig(_Config):
    topic: str  # MQTT filter with `{name}` levels
    device_id: str | None = None  # template over the named levels; default "{deviceId}" when the topic names it
    device_id_path: str | None = None  # or a JSON path into the payload
    sensor_type: str | None = None
    sensor_type_path: str | None = None
    unit: str | None = None
    unit_path: str | None = None
    location: str | None = None
    location_path: str | None = None
    value: str = "$.value"
    timestamp: str | None = "$.timestamp"  # null: always the receive time


class Sparkplug(_Config):
    """Sparkplug B edge nodes (spBv1.0/#): how their metrics become devices (iotmon.core.sparkplug)."""

    enabled: bool = True
    device_id: str = "{node}-{device}-{metric}"  # placeholders: {group}, {node}, {device}, {metric}
    node_device_id: str = "{node}-{metric}"  # the edge node's own metrics
    location: str | None = "{group}"
    default_unit: str = "none"  # when neither `units` nor the birth's engUnit/unit property says
    sensor_types: dict[str, str] = msgspec.field(default_factory=dict)  # metric name → sensor type
    units: dict[str, str] = msgspec.field(default_factory=dict)  # metric name → unit


class BridgeConfig(_Config):
    broker: Broker = msgspec.field(default_factory=Broker)
    subscriptions: list[Subscription] = msgspec.field(default_factory=list)
    rules: list[RuleConfig] = msgspec.field(default_factory=list)
    default_convention: bool = True  # iotmon/<location>/<deviceId>/<sensorType> after the rules
    sparkplug: Sparkplug = msgspec.field(default_factory=Sparkplug)
    batching: Batching = msgspec.field(default_factory=Batching)


class ConfigError(ValueError):
    """What is wrong with the configuration, said so that it can be fixed."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    tls: bool


ENV = {  # variable: the broker setting it gives
    "IOTMON_MQTT_URL": "url",
    "IOTMON_MQTT_VERSION": "version",
    "IOTMON_MQTT_CLIENT_ID": "clientId",
    "IOTMON_MQTT_USERNAME": "username",
    "IOTMON_MQTT_PASSWORD": "password",
}


def parse(
    text: str | bytes, origin: str = "the configuration", environ: Mapping[str, str] | None = None
) -> BridgeConfig:
    """A configuration from YAML or JSON text (empty: all defaults), with the environment's IOTMON_MQTT_* over it."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{origin} is not YAML or JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{origin}: expected a mapping with broker, subscriptions, rules")
    document = overlay(document, environ or {})
    try:
        config = msgspec.convert(document, BridgeConfig)
    except msgspec.ValidationError as error:
        raise ConfigError(f"{origin}: {error}") from None
    endpoint(config.broker)  # said now, not at the first connection
    rules(config)
    return config


def overlay(document: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The document with the environment's settings over it (the broker's password is best kept there)."""
    broker = dict(document.get("broker") or {})
    for name, key in ENV.items():
        if value := environ.get(name):
            broker[key] = value
    if ca := environ.get("IOTMON_MQTT_CA_FILE"):
        broker["tls"] = {**(broker.get("tls") or {}), "ca": ca}
    result = {**document, "broker": broker}
    if topics := environ.get("IOTMON_MQTT_TOPICS"):
        qos = environ.get("IOTMON_MQTT_QOS", "1")
        if qos not in ("0", "1"):
            raise ConfigError(f"IOTMON_MQTT_QOS: 0 or 1, not {qos!r}")
        result["subscriptions"] = [{"topic": t.strip(), "qos": int(qos)} for t in topics.split(",") if t.strip()]
    return result


def endpoint(broker: Broker) -> Endpoint:
    parts = urlsplit(broker.url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise ConfigError(f"broker.url {broker.url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    tls = parts.scheme in ("mqtts", "ssl") or broker.tls is not None
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ConfigError(f"broker.url {broker.url!r}: the port is not a number") from None
    return Endpoint(unquote(parts.hostname), port, tls)


def mqtt5(broker: Broker) -> bool:
    return str(broker.version) == "5"


def subscriptions(config: BridgeConfig) -> list[Subscription]:
    """What to subscribe to: as configured, else each rule's topics (the default convention's and Sparkplug's
    included) at QoS 1."""
    if config.subscriptions:
        return config.subscriptions
    topics = [rule.topic.subscription for rule in rules(config)]
    if config.sparkplug.enabled:
        topics.append(SPARKPLUG_TOPICS)
    return [Subscription(topic=topic) for topic in dict.fromkeys(topics)]


def rules(config: BridgeConfig) -> list[Rule]:
    """The mapping rules in the order they are tried: the user's, then the default convention."""
    built = []
    for position, rule in enumerate(config.rules):
        try:
            built.append(rule_of(rule))
        except MappingError as error:
            raise ConfigError(f"rules[{position}]: {error}") from None
    if config.default_convention:
        built.append(rule_of(RuleConfig(topic=DEFAULT_CONVENTION, unit_path="$.unit")))
    return built


def rule_of(config: RuleConfig) -> Rule:
    pattern = TopicPattern.parse(config.topic)
    names = pattern.names

    def source(what: str, template: str | None, path: str | None, named: str | None = None) -> Source:
        if template is None and path is None and named in names:
            template = "{" + named + "}"
        return Source(
            None if template is None else Template(template, names, what),
            None if path is None else JsonPath.parse(path),
        )

    device = source("deviceId", config.device_id, config.device_id_path, "deviceId")
    sensor = source("sensorType", config.sensor_type, config.sensor_type_path, "sensorType")
    unit = source("unit", config.unit, config.unit_path, "unit")
    for name, given in (("deviceId", device), ("sensorType", sensor), ("unit", unit)):
        if given.template is None and given.path is None:
            raise MappingError(f"topic {config.topic!r}: say where {name} comes from ({name} or {name}Path)")
    return Rule(
        topic=pattern,
        device_id=device,
        sensor_type=sensor,
        unit=unit,
        location=source("location", config.location, config.location_path, "location"),
        value=JsonPath.parse(config.value),
        timestamp=None if config.timestamp is None else JsonPath.parse(config.timestamp),
    )
