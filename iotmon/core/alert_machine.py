"""The alert state machine of one (device, rule), pure: verdicts in, alert changes out.

It runs on the readings' own timestamps, never the wall clock, so the same
readings always give the same changes (and tests need no sleeping).

- Enter (TRIGGER) on a BREACH verdict, or, when the device asks for it, once
  `breach_count` consecutive BREACH verdicts have lasted `breach_for_s`
  seconds (from the first); HOLD or CLEAR in between starts again.
- While open, a BREACH whose severity is higher than the alert's is an UPDATE
  (a lower one changes nothing: severity only rises while an alert is open).
- Exit (RESOLVE) once the verdict has been CLEAR (back inside the threshold by
  more than the hysteresis) continuously for `clear_after_s`; a BREACH or HOLD
  starts that wait again. For a statistical band (the anomaly rule) only a
  BREACH does: its HOLDs are noise near the band's edge, which at a reading a
  second would keep an alert open for ever; it resolves on a CLEAR reading.
- Flapping: an exit that would make `flap_transitions` (4) enter/exit
  transitions within `flap_window_s` (10 minutes) does not resolve; the alert
  is marked flapping instead (FLAPPING: one `updated` change, notified once)
  and stays open, absorbing further breaches, until the value has been clear
  for the whole flap window; then it resolves.

The state is a small dict-able dataclass, kept in Redis between batches; lost
state simply starts closed (open alerts stay in PostgreSQL, the truth).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from iotmon.core.alerts import SEVERITIES
from iotmon.core.rules import BREACH, CLEAR, NONE

TRIGGER, UPDATE, FLAPPING, RESOLVE = "trigger", "update", "flapping", "resolve"


@dataclass(frozen=True, slots=True)
class Settings:
    breach_count: int = 1
    breach_for_s: float = 0.0
    clear_after_s: float = 30.0
    flap_window_s: float = 600.0
    flap_transitions: int = 4
    hold_restarts_clear: bool = True  # False: only a BREACH restarts the wait to clear (a statistical band's noise)


@dataclass(slots=True)
class MachineState:
    open: bool = False
    breaches: int = 0  # consecutive breaches while closed
    breach_since: float | None = None  # the first of them
    severity: int = 0  # index into SEVERITIES while open
    clear_since: float | None = None  # since when the verdict has been CLEAR while open
    flapping: bool = False
    transitions: list[float] = field(default_factory=list)  # enter/exit times within the flap window

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> MachineState:
        if not data:
            return cls()
        return cls(
            open=bool(data.get("open", False)),
            breaches=int(data.get("breaches", 0)),
            breach_since=data.get("breach_since"),
            severity=int(data.get("severity", 0)),
            clear_since=data.get("clear_since"),
            flapping=bool(data.get("flapping", False)),
            transitions=[float(t) for t in data.get("transitions", [])],
        )

    @property
    def severity_name(self) -> str:
        return SEVERITIES[self.severity]

    @property
    def quiet(self) -> bool:
        """Closed with no breach counted: only a BREACH can change anything."""
        return not self.open and self.breaches == 0


def step(state: MachineState, kind: int, severity: int, at: float, settings: Settings) -> str | None:
    """Apply one verdict at time `at` (mutates `state`); the change it makes, if any."""
    if kind == NONE:
        return None
    if not state.open:
        if kind != BREACH:
            state.breaches, state.breach_since = 0, None
            return None
        state.breaches += 1
        if state.breach_since is None:
            state.breach_since = at
        if state.breaches < settings.breach_count or at - state.breach_since < settings.breach_for_s:
            return None
        state.open, state.breaches, state.breach_since, state.severity, state.clear_since = (
            True,
            0,
            None,
            severity,
            None,
        )
        _record(state, at, settings)
        return TRIGGER
    if kind == BREACH:
        state.clear_since = None
        if severity > state.severity:
            state.severity = severity
            return UPDATE
        return None
    if kind != CLEAR:  # HOLD: inside the threshold, but not by the hysteresis
        if settings.hold_restarts_clear or state.clear_since is None:
            state.clear_since = None
        return None
    if state.clear_since is None:
        state.clear_since = at
    cleared_for = at - state.clear_since
    if state.flapping:
        if cleared_for < max(settings.clear_after_s, settings.flap_window_s):
            return None
        _close(state, at, settings)
        return RESOLVE
    if cleared_for < settings.clear_after_s:
        return None
    _prune(state, at, settings)
    if len(state.transitions) + 1 >= settings.flap_transitions:
        state.flapping = True
        return FLAPPING
    _close(state, at, settings)
    return RESOLVE


def _close(state: MachineState, at: float, settings: Settings) -> None:
    state.open, state.flapping, state.clear_since, state.severity, state.breaches = False, False, None, 0, 0
    _record(state, at, settings)


def _record(state: MachineState, at: float, settings: Settings) -> None:
    state.transitions.append(at)
    _prune(state, at, settings)


def _prune(state: MachineState, at: float, settings: Settings) -> None:
    state.transitions = [t for t in state.transitions if at - t < settings.flap_window_s]


def opened(severity: str) -> MachineState:
    """The state of a machine whose alert is already open (rebuilding lost state from PostgreSQL)."""
    return MachineState(open=True, severity=SEVERITIES.index(severity) if severity in SEVERITIES else 0)
