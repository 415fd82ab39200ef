"""notify's pure parts: routing, deduplication keys, silence validation, configuration, messages (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from eventing.events import alert_event
from functions.notify import parse_change
from iotmon.adapters.email import body, message, subject
from iotmon.adapters.postgres.silences import SilenceError, validate
from iotmon.adapters.settings import channels_from_env
from iotmon.core.alerts import SEVERITIES
from iotmon.core.channels import ChannelConfig, RateLimit, SmtpConfig
from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.live import alert_messages
from iotmon.core.routing import change_key, route, webhook_target

NOW = datetime(2026, 1, 11, 10, 0, tzinfo=UTC)
SMTP = SmtpConfig(host="127.0.0.1", recipients=("ops@example.com",))
BOTH = ChannelConfig(smtp=SMTP, webhook_urls=("http://hooks.example.com/alerts",))


def fields(action: str = "triggered", severity: str = "high", **extra: object) -> dict[str, object]:
    return {
        "alertId": "alert-007",
        "deviceId": "device-002",
        "type": "threshold_exceeded",
        "severity": severity,
        "status": {"updated": "triggered"}.get(action, action),
        "action": action,
        "message": "Pressure reading above threshold",
        "value": 58.5,
        "threshold": 55.0,
        "timestamp": "2026-01-11T10:05:00.000Z",
        "sequence": 12,
        **extra,
    }


def change(action: str = "triggered", severity: str = "high", **extra: object) -> AlertChange:
    return msgspec.convert(fields(action, severity, **extra), AlertChange)


# routing


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("low", {"webhook"}), ("medium", {"webhook"}), ("high", {"email", "webhook"}), ("critical", {"email", "webhook"})],
)
def test_default_routes_email_for_high_and_critical_webhook_for_all(severity, expected):
    assert route(severity, "triggered", BOTH) == expected


def test_unconfigured_channels_are_not_routed():
    assert route("critical", "triggered", ChannelConfig()) == set()
    assert route("critical", "triggered", ChannelConfig(smtp=SMTP)) == {"email"}


def test_routes_follow_actions():
    assert route("critical", "acknowledged", BOTH) == {"webhook"}  # email: triggered, escalated, resolved
    assert route("critical", "escalated", BOTH) == {"email", "webhook"}
    assert route("critical", "updated", BOTH) == set()


def test_routes_from_the_environment():
    config = channels_from_env(
        {
            "IOTMON_SMTP_HOST": "mail",
            "IOTMON_SMTP_TO": "a@x, b@x",
            "IOTMON_WEBHOOK_URLS": "http://one/hook,https://two/hook",
            "IOTMON_ROUTE_EMAIL": "critical",
            "IOTMON_ROUTE_WEBHOOK": "medium, HIGH",
            "IOTMON_NOTIFY_EMAIL_ACTIONS": "triggered",
            "IOTMON_RATE_EMAIL_PER_MIN": "2",
            "IOTMON_RATE_EMAIL_BURST": "3",
        }
    )
    assert config.smtp == SmtpConfig(host="mail", recipients=("a@x", "b@x"))
    assert config.webhook_urls == ("http://one/hook", "https://two/hook")
    assert route("high", "triggered", config) == {"webhook"}
    assert route("critical", "triggered", config) == {"email"}
    assert route("critical", "resolved", config) == set()
    assert route("low", "triggered", config) == set()
    assert config.limits["email"] == RateLimit(2, 3)
    assert config.limits["webhook"] == RateLimit(60, 60)


def test_defaults_from_an_empty_environment():
    config = channels_from_env({})
    assert config.smtp is None and config.webhook_urls == ()
    assert config.routes["email"] == {"high", "critical"} and config.routes["webhook"] == set(SEVERITIES)
    assert config.limits["email"] == RateLimit(10, 20)


@pytest.mark.parametrize(
    "environ",
    [
        {"IOTMON_ROUTE_EMAIL": "high,urgent"},
        {"IOTMON_NOTIFY_WEBHOOK_ACTIONS": "fired"},
        {"IOTMON_SMTP_HOST": "mail"},  # no recipients
        {"IOTMON_WEBHOOK_URLS": "ftp://x/y"},
        {"IOTMON_RATE_WEBHOOK_PER_MIN": "0"},
    ],
)
def test_bad_configuration_is_refused(environ):
    with pytest.raises(ValueError):
        channels_from_env(environ)


# deduplication keys


def test_one_change_one_key_redelivered_or_not():
    assert change_key(change()) == change_key(msgspec.convert(msgspec.to_builtins(change()), AlertChange)) == "seq:12"
    assert change_key(change(sequence=13)) != change_key(change())


def test_without_a_sequence_the_action_and_time_identify_the_change():
    first = change(sequence=None)
    escalated = change(action="escalated", sequence=None)
    assert change_key(first) == "triggered@2026-01-11T10:05:00.000Z"
    assert change_key(first) != change_key(escalated)


def test_webhook_targets_are_stable_and_hide_the_url():
    url = "https://hooks.example.com/services/T000/SECRET-TOKEN"
    assert webhook_target(url) == webhook_target(url)
    assert webhook_target(url).startswith("hooks.example.com#")
    assert "SECRET" not in webhook_target(url)
    assert webhook_target(url) != webhook_target(url + "2")


# silences


def test_a_valid_silence_passes():
    validate(reason="pump maintenance", created_by="alice", starts_at=NOW, ends_at=NOW + timedelta(hours=2), now=NOW)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"ends_at": None}, "expiry"),
        ({"ends_at": NOW}, "after starts_at"),
        ({"ends_at": NOW - timedelta(hours=1)}, "after starts_at"),
        ({"starts_at": NOW - timedelta(hours=2), "ends_at": NOW - timedelta(hours=1)}, "in the past"),
        ({"ends_at": datetime(2026, 1, 12)}, "time zone"),
        ({"reason": "  "}, "reason"),
        ({"created_by": ""}, "created_by"),
    ],
)
def test_invalid_silences_are_refused(fields, why):
    values = {
        "reason": "maintenance",
        "created_by": "alice",
        "starts_at": NOW,
        "ends_at": NOW + timedelta(hours=1),
    } | fields
    with pytest.raises(SilenceError, match=why):
        validate(now=NOW, **values)


# messages


def test_email_subject_and_body():
    assert (
        subject(change(severity="critical"))
        == "[CRITICAL] device-002 threshold_exceeded: Pressure reading above threshold"
    )
    assert (
        subject(change(action="escalated"))
        == "[HIGH] device-002 threshold_exceeded escalated: Pressure reading above threshold"
    )
    assert subject(change(action="resolved")).startswith("[RESOLVED] device-002 threshold_exceeded:")
    assert subject(change(message="two\nlines")).endswith(": two lines")
    text = body(change(details={"breaches": 3}))
    assert "Pressure reading above threshold" in text
    assert "Value:        58.5" in text and "Threshold:    55.0" in text and '"breaches": 3' in text


def test_email_message_headers():
    mail = message(change(), SmtpConfig(host="mail", recipients=("a@x", "b@x"), sender="iotmon@plant.example"))
    assert mail["To"] == "a@x, b@x"
    assert mail["Message-ID"] == "<alert-007.seq-12@plant.example>"
    assert mail["References"] == "<alert-007@plant.example>"


def test_live_messages_carry_the_change_and_move_the_device_status():
    [triggered] = alert_messages(change())
    assert triggered.event == "alert-triggered" and triggered.room == "alerts"
    assert {"alertId", "deviceId", "type", "severity", "message", "value", "threshold", "timestamp"} <= set(
        msgspec.to_builtins(triggered.data)
    )
    [resolved] = alert_messages(change(action="resolved", actor="bob"))
    assert resolved.event == "alert-resolved"
    assert resolved.data.resolved_at == resolved.data.timestamp and resolved.data.resolved_by == "bob"
    offline = alert_messages(change(type="device_offline", value=None, threshold=None))
    assert [(m.event, m.room) for m in offline] == [
        ("alert-triggered", "alerts"),
        ("device-status", "device:device-002"),
        ("device-status", "system"),
    ]
    assert msgspec.to_builtins(offline[1].data) == {
        "deviceId": "device-002",
        "status": "offline",
        "timestamp": "2026-01-11T10:05:00.000Z",
        "alertId": "alert-007",
    }
    assert alert_messages(change(type="device_offline", action="resolved"))[1].data.status == "online"


def test_parse_change_accepts_the_contract_and_names_what_is_wrong():
    assert parse_change(alert_event(change(), "/test")) == change()
    event = alert_event(change(), "/test")
    event.data = {k: v for k, v in fields().items() if k != "severity"}
    assert parse_change(event) == "alert event data is not an alert change: Object missing required field `severity`"
    event.data = b'{"alertId": '
    assert "not JSON" in str(parse_change(event))
