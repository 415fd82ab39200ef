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
- Renewal (the anomaly rule only): a BREACH stronger than any the open alert
  has seen, once it has been open `renew_after_s` and held open without a
  breach for `renew_quiet_s` (only by evidence near the band's edge), is a new
  anomaly rather than more of the old one: the old alert resolves and a new
  one triggers on that reading (RENEW), saying what the new reading is.
  Without it one lingering alert would hide every later anomaly of the device;
  an alert kept open by breach after breach is one disturbance, and stays one.
- Flapping: an exit that would make `flap_transitions` (4) enter/exit
  transitions within `flap_window_s` (10 minutes) does not resolve; the alert
  is marked flapping instead (FLAPPING: one `updated` change, notified once)
  and stays open, absorbing further breaches, until the value has been clear
  for the whole flap window; then it resolves.

The state is a small msgspec struct, kept in Redis between batches; lost
state simply starts closed (open alerts stay in PostgreSQL, the truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from iotmon.core.alerts import SEVERITIES
from iotmon.core.rules import BREACH, CLEAR, NONE

TRIGGER, UPDATE, FLAPPING, RESOLVE = "trigger", "update", "flapping", "resolve"
RENEW = "renew"  # the open alert resolves and a new one triggers, on the same reading


@dataclass(frozen=True, slots=True)
class Settings:
    breach_count: int = 1
    breach_for_s: float = 0.0
    clear_after_s: float = 30.0
    flap_window_s: float = 600.0
    flap_transitions: int = 4
    hold_restarts_clear: bool = True  # False: only a BREACH restarts the wait to clear (a statistical band's noise)
    renew_after_s: float = math.inf  # an alert open this long...
    renew_quiet_s: float = 0.0  # ...and without a breach this long renews on a breach stronger than any it has seen


class MachineState(msgspec.Struct):
    open: bool = False
    breaches: int = 0  # consecutive breaches while closed
    breach_since: float | None = None  # the first of them
    severity: int = 0  # index into SEVERITIES while open
    clear_since: float | None = None  # since when the verdict has been CLEAR while open
    flapping: bool = False
    transitions: list[float] = msgspec.field(default_factory=list)  # enter/exit times within the flap window
    opened_at: float | None = None  # when the open alert triggered (None: unknown, it never renews)
    peak: float = 0.0  # the strongest breach the open alert has seen
    breach_at: float | None = None  # ...and its latest breach

    @property
    def severity_name(self) -> str:
        return SEVERITIES[self.severity]

    @property
    def quiet(self) -> bool:
        """Closed with no breach counted: only a BREACH can change anything."""
        return not self.open and self.breaches == 0


def step(
    state: MachineState, kind: int, severity: int, at: float, settings: Settings, strength: float = 0.0
) -> str | None:
    """Apply one verdict at time `at` (mutates `state`); the change it makes, if any. `strength`: how strong a
    BREACH is (the anomaly score), for renewal."""
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
        state.opened_at, state.peak, state.breach_at = at, strength, at
        _record(state, at, settings)
        return TRIGGER
    if kind == BREACH:
        state.clear_since = None
        renews = _renews(state, at, settings, strength)
        state.peak, state.breach_at = max(state.peak, strength), at
        if renews:
            state.opened_at, state.peak, state.severity, state.flapping = at, strength, severity, False
            return RENEW
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


def _renews(state: MachineState, at: float, settings: Settings, strength: float) -> bool:
    """A breach stronger than any the open alert has seen, long after it opened and after a quiet spell, is a new
    anomaly."""
    if state.opened_at is None or state.breach_at is None:
        return False
    long_open = at - state.opened_at >= settings.renew_after_s
    return long_open and at - state.breach_at >= settings.renew_quiet_s and strength > state.peak


def _close(state: MachineState, at: float, settings: Settings) -> None:
    state.open, state.flapping, state.clear_since, state.severity, state.breaches = False, False, None, 0, 0
    state.opened_at, state.peak, state.breach_at = None, 0.0, None
    _record(state, at, settings)


def _record(state: MachineState, at: float, settings: Settings) -> None:
    state.transitions.append(at)
    _prune(state, at, settings)


def _prune(state: MachineState, at: float, settings: Settings) -> None:
    state.transitions = [t for t in state.transitions if at - t < settings.flap_window_s]


def opened(severity: str) -> MachineState:
    """The state of a machine whose alert is already open (rebuilding lost state from PostgreSQL)."""
    return MachineState(open=True, severity=SEVERITIES.index(severity) if severity in SEVERITIES else 0)
