"""The alert vocabulary: types, severities, statuses, actions, the lifecycle's moves and public ids.

An alert opens as `triggered`; an operator `acknowledged` it; escalate-cron
`escalated` one left unacknowledged; it ends `resolved`, by the rule that raised
it or by an operator. Each change is an action in the alert's history (`updated`
when its severity rises or it starts flapping).
"""

from __future__ import annotations

from typing import Literal, get_args

AlertType = Literal["threshold_exceeded", "threshold_below", "data_anomaly", "trend_warning", "device_offline"]
Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["triggered", "acknowledged", "escalated", "resolved"]
Action = Literal["triggered", "updated", "acknowledged", "escalated", "resolved"]

ALERT_TYPES: tuple[AlertType, ...] = get_args(AlertType)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # least to most severe: an index compares severities
STATUSES: tuple[Status, ...] = get_args(Status)
ACTIONS: tuple[Action, ...] = get_args(Action)
OPEN_STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "escalated")
DEVICE_OFFLINE: AlertType = "device_offline"

# to-status → the statuses it may be reached from
ALLOWED: dict[Status, tuple[Status, ...]] = {
    "acknowledged": ("triggered", "escalated"),
    "escalated": ("triggered",),
    "resolved": ("triggered", "acknowledged", "escalated"),
}


class AlertNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    """The alert's status does not allow the move (e.g. acknowledging a resolved alert)."""

    def __init__(self, number: int, status: str, to_status: Status) -> None:
        allowed = ", ".join(ALLOWED[to_status])
        super().__init__(f"{alert_id(number)} is {status}: it cannot be {to_status} (only from {allowed})")
        self.number, self.status, self.to_status = number, status, to_status


def alert_id(number: int) -> str:
    """The public id of alerts.id: alert-001, alert-042, alert-1234."""
    return f"alert-{number:03d}"


def alert_number(public_id: str) -> int:
    """alerts.id from a public id; ValueError if it is not one."""
    if not public_id.startswith("alert-") or not public_id[6:].isdigit():
        raise ValueError(f"not an alert id: {public_id!r}")
    return int(public_id[6:])
