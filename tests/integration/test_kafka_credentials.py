"""Kafka credentials against a real broker: SCRAM-SHA-512 logins and the ACLs of knative/'s KafkaUsers.

The broker (tests/support/kafka_broker.py) has a SASL listener where the users log in and ACLs are enforced;
each user gets the ACLs its KafkaUser declares, so the cluster's rights are tried for real. The clients take
their credentials from the environment, as the workloads do (eventing.kafka.security)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from eventing import topics
from eventing.events import reading_event
from eventing.kafka import KafkaTransport
from eventing.transport import DeliveryError
from tests.support.deployment import load_all
from tests.support.kafka_broker import KafkaBroker
from tests.support.paths import KNATIVE_DIR

PASSWORDS = {"iotmon-ingest": "ingest's password"}
READING = {"deviceId": "device-001", "timestamp": "2026-01-01T00:00:00Z", "sensorType": "t", "value": 1, "unit": "c"}


def declared_acls() -> list[AclBinding]:
    """The ACLs knative/base/iot-monitoring/kafka-users.yaml gives the users under test."""
    users = [d for d in load_all((KNATIVE_DIR / "iot-monitoring" / "kafka-users.yaml").read_text()) if d]
    return [
        AclBinding(
            ResourceType[acl["resource"]["type"].upper()],
            acl["resource"]["name"],
            ResourcePatternType[acl["resource"]["patternType"].upper()],
            f"User:{user['metadata']['name']}",
            "*",
            AclOperation[operation.upper()],
            AclPermissionType.ALLOW,
        )
        for user in users
        if user["metadata"]["name"] in PASSWORDS
        for acl in user["spec"]["authorization"]["acls"]
        for operation in acl["operations"]
    ]


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with KafkaBroker(scram_users=PASSWORDS) as started:
        started.create_topics(list(topics.ALL), partitions=1)
        admin = AdminClient({"bootstrap.servers": started.bootstrap_servers})  # the plain listener: a super user
        for future in admin.create_acls(declared_acls()).values():
            future.result(30)
        yield started


def transport(broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch, user: str, password: str) -> KafkaTransport:
    environ: dict[str, Any] = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": password,
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return KafkaTransport(broker.sasl_bootstrap_servers, user)


def test_ingest_writes_its_outputs_and_nothing_else(broker, monkeypatch):
    with closing(transport(broker, monkeypatch, "iotmon-ingest", PASSWORDS["iotmon-ingest"])) as kafka:
        kafka.publish(topics.METRICS, [reading_event(READING, "/test")])
        kafka.publish(topics.SENSORS_DATA_DLQ, [reading_event(READING, "/test")])
        with pytest.raises(DeliveryError):
            kafka.publish(topics.ALERTS, [reading_event(READING, "/test")])


def test_ingest_reads_its_topic_under_its_group(broker, monkeypatch):
    with closing(transport(broker, monkeypatch, "iotmon-ingest", PASSWORDS["iotmon-ingest"])) as kafka:
        total, _ = kafka.pending(topics.SENSORS_DATA, "ingest", 0)
        assert total == 0


def test_a_wrong_password_is_refused(broker, monkeypatch):
    impostor = transport(broker, monkeypatch, "iotmon-ingest", "not the password")
    with closing(impostor) as kafka, pytest.raises(DeliveryError):
        kafka.publish(topics.METRICS, [reading_event(READING, "/test")])
