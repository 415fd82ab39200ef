"""The Kafka clients' credentials from the environment (eventing.kafka.security): none unless set."""

from __future__ import annotations

import pytest

from eventing.kafka import security


def test_nothing_set_means_no_authentication():
    assert security({}) == {}


def test_scram_credentials_are_passed_to_librdkafka():
    environ = {
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "iotmon-ingest",
        "KAFKA_SASL_PASSWORD": " secret with spaces ",
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    }
    assert security(environ) == {
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "iotmon-ingest",
        "sasl.password": " secret with spaces ",
        "security.protocol": "SASL_PLAINTEXT",
    }


def test_a_mechanism_without_a_protocol_means_sasl_over_tls():
    environ = {"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"}
    assert security(environ)["security.protocol"] == "SASL_SSL"
    assert security({**environ, "KAFKA_SSL_CA_LOCATION": "/ca.crt"})["ssl.ca.location"] == "/ca.crt"


def test_a_mechanism_needs_a_username_and_a_password():
    with pytest.raises(ValueError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        security({"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"})
