"""MQTT topics and payloads into readings: the default convention, user rules and the configuration (no servers)."""

from datetime import UTC, datetime

import pytest

from iotmon.core import mqtt_config
from iotmon.core.mqtt_config import ConfigError, parse
from iotmon.core.topic_mapping import JsonPath, MappingError, RulesTranslator, TopicPattern

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def translator(text: str = "") -> RulesTranslator:
    return RulesTranslator(mqtt_config.rules(parse(text)))


def test_the_default_convention_makes_a_reading_with_the_receive_time():
    translation = translator().translate(
        "iotmon/assembly-line-1/device-001/temperature", b'{"value": 72.5, "unit": "celsius"}', NOW
    )
    assert translation is not None and not translation.rejected
    assert translation.readings == (
        {
            "deviceId": "device-001",
            "timestamp": "2026-06-15T12:00:00Z",
            "sensorType": "temperature",
            "value": 72.5,
            "unit": "celsius",
            "location": "assembly-line-1",
        },
    )


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-06-15T11:59:58.123456+02:00", "2026-06-15T09:59:58.123456Z"),
        ("2026-06-15T11:59:58", "2026-06-15T11:59:58Z"),  # no offset: UTC
        (1781524798, "2026-06-15T11:59:58Z"),  # epoch seconds
        (1781524798250, "2026-06-15T11:59:58.250000Z"),  # epoch milliseconds
    ],
)
def test_a_device_timestamp_is_kept_in_utc(sent, stored):
    payload = (
        '{"value": 1, "unit": "psi", "timestamp": %s}' % (f'"{sent}"' if isinstance(sent, str) else sent)
    ).encode()
    translation = translator().translate("iotmon/l/device-002/pressure", payload, NOW)
    assert translation is not None
    assert [r["timestamp"] for r in translation.readings] == [stored]


def test_the_device_time_is_checked_like_ingest_does():
    translation = translator().translate(
        "iotmon/l/device-002/pressure", b'{"value": 1, "unit": "psi", "timestamp": "2027-01-01T00:00:00Z"}', NOW
    )
    assert translation is not None and not translation.readings
    assert "in the future" in translation.rejected[0].reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json at all", "no value at $.value"),
        (b'{"unit": "celsius"}', "no value at $.value"),
        (b'{"value": "warm", "unit": "celsius"}', "not a number"),
        (b'{"value": true, "unit": "celsius"}', "not a number"),
        (b'{"value": 1}', "no unit"),
        (b'{"value": 1e12, "unit": "celsius"}', "value"),
        (b"\xff\xfe", "neither JSON nor UTF-8"),
        (b'{"value": 1, "unit": "c", "timestamp": "yesterday"}', "not an ISO 8601 time"),
    ],
)
def test_a_bad_message_is_rejected_with_the_reason_and_its_topic(payload, reason):
    topic = "iotmon/assembly-line-1/device-001/temperature"
    translation = translator().translate(topic, payload, NOW)
    assert translation is not None and not translation.readings
    (rejected,) = translation.rejected
    assert reason in rejected.reason and rejected.origin == topic


@pytest.mark.parametrize(
    "payload",
    [
        b'{"value": 1e12, "unit": "celsius"}',
        b'{"value": "nan", "unit": "celsius"}',
        b'{"value": "-inf", "unit": "celsius"}',
        b'{"value": 1, "unit": "celsius", "timestamp": "0999-01-01T00:00:00Z"}',
    ],
)
def test_a_bad_value_or_time_is_refused_the_same_once_its_device_and_sensor_have_been_seen(payload):
    """The translator remembers labels the contract took, never values or times: those are checked every time."""
    topic = "iotmon/assembly-line-1/device-001/temperature"
    seen = translator()
    good = seen.translate(topic, b'{"value": 1, "unit": "celsius"}', NOW)
    assert good is not None and good.readings
    again, fresh = seen.translate(topic, payload, NOW), translator().translate(topic, payload, NOW)
    assert again is not None and fresh is not None and not again.readings
    assert again.rejected == fresh.rejected


def test_an_invalid_device_id_from_the_topic_is_rejected():
    translation = translator().translate("iotmon/l/bad device/temperature", b'{"value": 1, "unit": "c"}', NOW)
    assert translation is not None and "deviceId" in translation.rejected[0].reason


def test_a_topic_no_rule_matches_is_not_handled():
    assert translator().translate("iotmon/too/short", b"{}", NOW) is None
    assert translator().translate("elsewhere/a/b/c", b"{}", NOW) is None
    assert translator("defaultConvention: false").translate("iotmon/a/b/c", b"{}", NOW) is None


RULES = """
rules:
  - topic: plant/{line}/{machine}/temp
    deviceId: "{line}-{machine}"
    sensorType: temperature
    unit: celsius
    location: "line {line}"
    value: $.data.t
    timestamp: $.data.ts
  - topic: plant/+/+/flow/#
    deviceIdPath: $.meta["device.id"]
    sensorType: flow
    unitPath: $.meta.unit
    unit: l/min
    value: $.readings[1]
    timestamp: null
  - topic: raw/{deviceId}
    sensorType: vibration
    unit: hz
    value: $
"""


def test_user_rules_take_names_from_the_topic_and_values_from_json_paths():
    rules = translator(RULES)
    got = rules.translate("plant/l2/m7/temp", b'{"data": {"t": "81.25", "ts": "2026-06-15T11:00:00Z"}}', NOW)
    assert got is not None
    assert got.readings[0] | {} == {
        "deviceId": "l2-m7",
        "timestamp": "2026-06-15T11:00:00Z",
        "sensorType": "temperature",
        "value": 81.25,
        "unit": "celsius",
        "location": "line l2",
    }
    flow = rules.translate(
        "plant/a/b/flow/x/y", b'{"meta": {"device.id": "pump-3"}, "readings": [1, 2.5], "timestamp": "x"}', NOW
    )
    assert flow is not None
    assert (flow.readings[0]["deviceId"], flow.readings[0]["value"], flow.readings[0]["unit"]) == (
        "pump-3",
        2.5,
        "l/min",
    )
    assert flow.readings[0]["timestamp"] == "2026-06-15T12:00:00Z"  # timestamp: null ignores what is sent
    raw = rules.translate("raw/v-9", b"  42 ", NOW)
    assert raw is not None and raw.readings[0]["value"] == 42.0
    # the default convention still applies after the user's rules
    assert rules.translate("iotmon/l/device-001/temperature", b'{"value": 1, "unit": "c"}', NOW) is not None


def test_subscriptions_default_to_the_rules_topics_and_sparkplugs_at_qos_1():
    config = parse(RULES)
    assert [(s.topic, s.qos) for s in mqtt_config.subscriptions(config)] == [
        ("plant/+/+/temp", 1),
        ("plant/+/+/flow/#", 1),
        ("raw/+", 1),
        ("iotmon/+/+/+", 1),
        ("spBv1.0/#", 1),
    ]
    assert "spBv1.0/#" not in [
        s.topic for s in mqtt_config.subscriptions(parse(RULES + "sparkplug: {enabled: false}\n"))
    ]


def test_topic_patterns_follow_mqtt_matching():
    pattern = TopicPattern.parse("a/{x}/+/#")
    assert pattern.match("a/1/2") == {"x": "1"}  # `#` also matches the parent level
    assert pattern.match("a/1/2/3/4") == {"x": "1"}
    assert pattern.match("a/1") is None
    assert pattern.match("b/1/2") is None
    assert TopicPattern.parse("a/{x}").match("a/") is None  # a named level is never empty
    assert TopicPattern.parse("a/{x}").match("a/1/2") is None


@pytest.mark.parametrize("bad", ["a/#/b", "a/x+/b", "a/{x}y", "a/{x}/{x}"])
def test_a_bad_topic_pattern_is_refused(bad):
    with pytest.raises(MappingError):
        TopicPattern.parse(bad)


def test_json_paths():
    document = {"a": {"b": [10, {"c": 3}]}, "d.e": 1}
    assert JsonPath.parse("$.a.b[1].c").find(document) == 3
    assert JsonPath.parse("a.b[0]").find(document) == 10
    assert JsonPath.parse('$["d.e"]').find(document) == 1
    assert JsonPath.parse("$").find(document) is document
    with pytest.raises(KeyError):
        JsonPath.parse("$.a.b[5]").find(document)
    with pytest.raises(MappingError):
        JsonPath.parse("$.a[x]")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{topic: 'a/{x}', sensorType: t, unit: u}]", "rules[0]: topic 'a/{x}': say where deviceId"),
        ("rules: [{topic: 'a/{x}', deviceId: '{y}', sensorType: t, unit: u}]", "uses y"),
        ("broker: {url: 'http://x'}", "expected mqtt://host"),
        ("broker: {version: '4'}", "$.broker.version"),
        ("subscriptions: [{topic: a, qos: 2}]", "$.subscriptions[0].qos"),
        ("brokr: {}", "unknown field `brokr`"),
        ("[1, 2]", "expected a mapping"),
        ("a: [", "not YAML or JSON"),
    ],
)
def test_configuration_errors_say_what_to_fix(text, message):
    with pytest.raises(ConfigError) as raised:
        parse(text, "bridge.yaml")
    assert message in str(raised.value)


def test_the_environment_wins_over_the_file():
    config = parse(
        '{"broker": {"url": "mqtt://a", "username": "file"}}',
        environ={
            "IOTMON_MQTT_URL": "mqtts://broker:8884",
            "IOTMON_MQTT_PASSWORD": "secret",
            "IOTMON_MQTT_VERSION": "3.1.1",
            "IOTMON_MQTT_CA_FILE": "/ca.pem",
            "IOTMON_MQTT_TOPICS": "x/#, y/+",
            "IOTMON_MQTT_QOS": "0",
        },
    )
    assert (config.broker.username, config.broker.password, str(config.broker.version)) == ("file", "secret", "3.1.1")
    assert mqtt_config.endpoint(config.broker) == mqtt_config.Endpoint("broker", 8884, True)
    assert config.broker.tls is not None and config.broker.tls.ca == "/ca.pem"
    assert [(s.topic, s.qos) for s in config.subscriptions] == [("x/#", 0), ("y/+", 0)]
    assert mqtt_config.endpoint(parse("").broker) == mqtt_config.Endpoint("127.0.0.1", 1883, False)
