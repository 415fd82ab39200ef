"""What a device's rules would have done over recorded readings (pure, no side effects).

The readings go through `judge` from a fresh state, exactly as evaluate-rule
would have judged them arriving live, and the alert changes are gathered into
the alerts they would have raised: when each opened and (if it did) resolved,
its type, its highest severity and what it said when it opened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from iotmon.core import judge
from iotmon.core.alert_machine import RESOLVE, TRIGGER
from iotmon.core.alerts import SEVERITIES, Severity
from iotmon.core.rules import DeviceRules, Finding


@dataclass(slots=True)
class WouldBeAlert:
    rule: str
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
