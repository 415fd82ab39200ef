"""The backtest: what a device's rules — its current configuration or a candidate — would have raised over
recorded readings, with no side effects."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from iotmon.core.alerts import AlertType, Severity
from iotmon.core.contracts.common import Body, Contract, Details, DeviceId, Timestamp
from iotmon.core.contracts.devices import ConfigUpdate, DeviceConfig

MAX_CSV_CHARS = 16 * 1024 * 1024  # an uploaded CSV; a longer run is imported first, then backtested from history
Column = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]


class BacktestRequest(Body):
    """The body of POST /api/devices/{device_id}/backtest. Without `csv` the device's stored readings between
    `from` and `to` are judged (default: the last 7 days); with it, the uploaded readings are (its `timeColumn`
    and `valueColumn`). `config` is a candidate configuration over the device's current one (same fields as
    PUT /api/devices/{device_id}/config); without it, the current configuration is judged."""

    config: ConfigUpdate | msgspec.UnsetType = msgspec.UNSET
    from_: Timestamp | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="from")
    to: Timestamp | msgspec.UnsetType = msgspec.UNSET
    csv: Annotated[str, msgspec.Meta(max_length=MAX_CSV_CHARS)] | msgspec.UnsetType = msgspec.UNSET
    time_column: Column = "timestamp"
    value_column: Column = "value"


class WouldBeAlert(Contract):
    """An alert the rules would have raised: when it opened and resolved (null: still open at the end), its
    highest severity, and what it said when it opened."""

    type: AlertType
    severity: Severity
    triggered_at: Timestamp
    resolved_at: Timestamp | None
    message: str
    value: float | None
    threshold: float | None
    details: Details


class DayCount(Contract):
    day: Annotated[str, msgspec.Meta(description="UTC day, YYYY-MM-DD.")]
    alerts: int


class Backtest(Contract):
    """What the rules would have done: every alert (the first `MAX_BACKTEST_ALERTS`), counts per day and type."""

    device_id: DeviceId
    source: Literal["history", "upload"]
    from_: Timestamp | None = msgspec.field(name="from")
    to: Timestamp | None
    readings: int
    config: DeviceConfig
    alert_count: int
    per_day: list[DayCount]
    per_type: dict[str, int]
    alerts: list[WouldBeAlert]
