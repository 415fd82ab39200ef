"""Alerts: the change event on `alerts`, the alert as the API shows it, notes, silences."""

from __future__ import annotations

from typing import Annotated

import msgspec

from iotmon.core.alerts import Action, AlertType, Severity, Status
from iotmon.core.contracts.common import AlertId, Body, Contract, Details, MetaFields, Text, Timestamp

MAX_NOTE = 1000
MAX_REASON = 500


class AlertChange(Contract):
    """A change in an alert's life, on the `alerts` topic. CloudEvent type io.iotmon.alert.<action>.v1,
    partition key = deviceId."""

    alert_id: AlertId
    device_id: str
    type: AlertType
    severity: Severity
    status: Annotated[Status, msgspec.Meta(description="The alert's status after this change.")]
    action: Action
    message: str
    timestamp: Annotated[Timestamp, msgspec.Meta(description="When this change happened.")]
    value: float | None = None
    threshold: float | None = None
    triggered_at: Timestamp | None = None
    actor: Annotated[str, msgspec.Meta(description="Who made the change: system, or a user name.")] = "system"
    note: str | None = None
    details: Annotated[
        Details, msgspec.Meta(description="Rule specifics: expected band, forecast crossing, breaches.")
    ] = msgspec.field(default_factory=dict)
    sequence: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1,
                description="alert_history.id of this change: increasing, for replay after a reconnect and to "
                "deduplicate.",
            ),
        ]
        | None
    ) = None


class AlertStep(Contract):
    """One entry of an alert's history."""

    sequence: int
    action: Action
    from_status: Status | None
    to_status: Status
    actor: str | None
    note: str | None
    details: Details
    at: Timestamp


class Alert(Contract):
    """An alert as the API shows it; `history` (oldest first) only on GET /api/alerts/{alert_id}."""

    id: AlertId
    device_id: str
    type: AlertType
    message: str
    severity: Severity
    value: float | None
    threshold: float | None
    status: Status
    triggered_at: Timestamp
    acknowledged_at: Timestamp | None
    resolved_at: Timestamp | None
    escalated_at: Timestamp | None
    acknowledged_by: str | None
    resolved_by: str | None
    details: Details
    history: list[AlertStep] | msgspec.UnsetType = msgspec.UNSET


class ActiveAlert(Contract):
    """An open alert in `alerts:active` (Redis), newest first."""

    id: AlertId
    device_id: str
    type: AlertType
    value: float | None
    threshold: float | None
    severity: Severity
    timestamp: Annotated[Timestamp, msgspec.Meta(description="When it was triggered.")]
    status: Status
    message: str


class AlertNote(Body):
    """The body of an acknowledge or resolve: an optional note, kept in the alert's history."""

    note: Annotated[Text, msgspec.Meta(max_length=MAX_NOTE)] | None = None


class Silence(Contract):
    """No email or webhook for a device (or every device) from startsAt until endsAt."""

    id: int
    device_id: Annotated[str | None, msgspec.Meta(description="null: every device.")]
    reason: str
    created_by: str
    starts_at: Timestamp
    ends_at: Timestamp
    created_at: Timestamp


class NewSilence(Body):
    """The body of POST /api/silences."""

    reason: Annotated[Text, msgspec.Meta(min_length=1, max_length=MAX_REASON)]
    ends_at: Annotated[str, msgspec.Meta(description="ISO 8601 time or epoch milliseconds.")]
    device_id: Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[^\x00]*$")] | None = None
    starts_at: (
        Annotated[str, msgspec.Meta(description="ISO 8601 time or epoch milliseconds (default: now).")] | None
    ) = None


class AlertPage(Contract):
    alerts: Annotated[list[Alert], msgspec.Meta(description="Newest first.")]


class AlertPageMeta(MetaFields):
    """How many alerts match the filters, by severity, and which page this is."""

    total_alerts: int
    critical_alerts: int
    high_alerts: int
    medium_alerts: int
    low_alerts: int
    count: int
    limit: int
    offset: int


class AlertAnswer(Contract):
    alert: Alert


class AlertMoved(Contract):
    alert: Alert
    change: AlertChange


class AlertMovedMeta(MetaFields):
    action: Action
    event_published: Annotated[
        bool,
        msgspec.Meta(description="false: stored, and its event waits in the outbox; the relay sends it once it can."),
    ]


class SilenceList(Contract):
    silences: Annotated[list[Silence], msgspec.Meta(description="Soonest ending first.")]


class SilenceListMeta(MetaFields):
    count: int


class SilenceAnswer(Contract):
    silence: Silence


class SilenceDeleted(Contract):
    deleted: int
