"""What a device's rules would have done over recorded readings (pure, no side effects).

The readings go through `judge` from a fresh state, exactly as evaluate-rule
would have judged them arriving live, and the alert changes are gathered into
the alerts they would have raised: when each opened and (if it did) resolved,
its type, its highest severity and what it said when it opened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from iotmon.core import judge
from iotmon.core.alert_machine import RESOLVE, TRIGGER
from iotmon.core.alerts import SEVERITIES, AlertType, Severity
from iotmon.core.contracts import backtest as contracts
from iotmon.core.contracts.devices import DeviceConfig
from iotmon.core.devices import LIMIT_NAMES, check_limits
from iotmon.core.rules import DeviceRules, Finding
from iotmon.core.timestamps import iso

MAX_LISTED = 1_000  # alerts an answer lists one by one (all are counted)


@dataclass(slots=True)
class WouldBeAlert:
    rule: AlertType
    opened_at: float  # epoch seconds
    severity: int  # the highest it reached (index into SEVERITIES)
    finding: Finding
    resolved_at: float | None = None

    @property
    def severity_name(self) -> Severity:
        return SEVERITIES[self.severity]


@dataclass(frozen=True, slots=True)
class Backtest:
    readings: int
    first_at: float | None
    last_at: float | None
    alerts: list[WouldBeAlert]

    def per_day(self) -> dict[str, int]:
        """Alerts opened per UTC day (YYYY-MM-DD), in order."""
        days = Counter(datetime.fromtimestamp(alert.opened_at, UTC).date().isoformat() for alert in self.alerts)
        return dict(sorted(days.items()))

    def per_rule(self) -> dict[str, int]:
        return dict(Counter(alert.rule for alert in self.alerts))


def backtest(config: DeviceRules, readings: Sequence[tuple[float, float]]) -> Backtest:
    """The alerts `config` would have raised over (epoch seconds, value) readings."""
    state = judge.DeviceState()
    changes = judge.judge(config, state, readings)
    found: list[WouldBeAlert] = []
    open_by_rule: dict[str, WouldBeAlert] = {}
    for change in changes:
        current = open_by_rule.get(change.rule)
        if change.transition == TRIGGER and change.finding is not None:
            open_by_rule[change.rule] = current = WouldBeAlert(change.rule, change.at, change.severity, change.finding)
            found.append(current)
        elif current is None:
            continue
        elif change.transition == RESOLVE:
            current.resolved_at = change.at
            del open_by_rule[change.rule]
        else:
            current.severity = max(current.severity, change.severity)
    times = [at for at, _ in readings]
    return Backtest(len(readings), min(times, default=None), max(times, default=None), found)


def candidate(current: Mapping[str, Any], changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A device's row with a candidate configuration's columns laid over it, and what is wrong with its limits
    (nothing: it can be judged)."""
    merged = {**current, **changes}
    return merged, check_limits({name: merged.get(column) for column, name in LIMIT_NAMES.items()})


def answer(
    result: Backtest, device_id: str, source: Literal["history", "upload"], config: DeviceConfig
) -> contracts.Backtest:
    """A backtest as the API and the CLI show it: the first MAX_LISTED alerts, every count."""

    def at(epoch: float | None) -> str | None:
        return None if epoch is None else iso(datetime.fromtimestamp(epoch, UTC))

    listed = [
        contracts.WouldBeAlert(
            type=alert.rule,
            severity=alert.severity_name,
            triggered_at=iso(datetime.fromtimestamp(alert.opened_at, UTC)),
            resolved_at=at(alert.resolved_at),
            message=alert.finding.message,
            value=alert.finding.value,
            threshold=alert.finding.threshold,
            details=alert.finding.details,
        )
        for alert in result.alerts[:MAX_LISTED]
    ]
    return contracts.Backtest(
        device_id=device_id,
        source=source,
        from_=at(result.first_at),
        to=at(result.last_at),
        readings=result.readings,
        config=config,
        alert_count=len(result.alerts),
        per_day=[contracts.DayCount(day=day, alerts=count) for day, count in result.per_day().items()],
        per_type=result.per_rule(),
        alerts=listed,
    )
