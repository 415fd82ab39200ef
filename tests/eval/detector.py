"""The detector `make eval` judges by default: the project's own rules, through the backtest.

Each series is one device with the default configuration and no alert limits
(NAB and SKAB give none): what can alert is the streaming anomaly detector, and
its reporting period is learnt from the readings, as for a device registered
without `updatePeriodMs`. A detection is the reading at which an alert opens,
exactly what evaluate-rule would have raised live.
"""

from __future__ import annotations

from datetime import UTC, datetime

from iotmon.core.backtest import backtest
from iotmon.core.rules import DeviceRules

SERIES = DeviceRules("series")


def detect(timestamps: list[datetime], values: list[float]) -> list[datetime]:
    """The times at which the project's rules opened an alert on this series (one sensor's readings)."""
    readings = [
        (at.replace(tzinfo=at.tzinfo or UTC).timestamp(), value) for at, value in zip(timestamps, values, strict=True)
    ]
    found = backtest(SERIES, readings)
    return [datetime.fromtimestamp(alert.opened_at, UTC).replace(tzinfo=timestamps[0].tzinfo) for alert in found.alerts]
