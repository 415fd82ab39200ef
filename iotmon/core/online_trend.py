"""A straight line through a device's recent readings, kept online in event time (pure, O(1) state).

An exponentially weighted least-squares fit: a reading's weight is
exp(−age / τ), so the state is a handful of decayed sums, the same size at a
reading a second or one a day, and a gap simply lets old readings fade. τ is
half the trend window: then the readings' mean age is that of a plain window of
`window_s` seconds.

Times are kept relative to the newest reading and values relative to the first
one, so the sums stay small and their differences exact enough for the slope's
standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

MIN_EFFECTIVE = 8.0  # fewer effective readings than this: no line is fitted yet
FORGOTTEN = 1e-9  # total weight below this: the history has faded, start again


class TrendState(msgspec.Struct):
    """The line's weighted sums: a msgspec struct, so Redis's JSON decodes straight into it."""

    origin: float | None = None  # the value readings are measured from
    at: float | None = None  # the newest reading's time (u = 0)
    s0: float = 0.0  # Σw
    st: float = 0.0  # Σw·u
    stt: float = 0.0  # Σw·u²
    sx: float = 0.0  # Σw·x
    stx: float = 0.0  # Σw·u·x
    sxx: float = 0.0  # Σw·x²
    q0: float = 0.0  # Σw²   (the squared weights give the slope's standard error)
    qt: float = 0.0  # Σw²·u
    qtt: float = 0.0  # Σw²·u²


@dataclass(frozen=True, slots=True)
class Line:
    slope: float  # units per second
    fitted: float  # the line's value at the newest reading
    t_stat: float  # |slope| / its standard error
    effective: float  # the effective number of readings behind it


def add(state: TrendState, t: float, x: float, window_s: float) -> None:
    """Take one reading (t in epoch seconds, after the previous one) into the fit."""
    if state.origin is None or state.at is None:
        state.origin, state.at = x, t
    else:
        shift = t - state.at
        decay = math.exp(-shift / (window_s / 2))
        _decay(state, decay)
        _move_origin(state, shift)
        state.at = t
        if state.s0 < FORGOTTEN:
            state.origin = x
            _decay(state, 0.0)
    y = x - state.origin
    state.s0 += 1.0
    state.sx += y
    state.sxx += y * y
    state.q0 += 1.0


def _decay(s: TrendState, d: float) -> None:
    s.s0, s.st, s.stt, s.sx, s.stx, s.sxx = (d * s.s0, d * s.st, d * s.stt, d * s.sx, d * s.stx, d * s.sxx)
    d2 = d * d
    s.q0, s.qt, s.qtt = d2 * s.q0, d2 * s.qt, d2 * s.qtt


def _move_origin(s: TrendState, shift: float) -> None:
    """Re-express the sums with u measured from a time `shift` seconds later (u' = u − shift)."""
    s.stt = s.stt - 2 * shift * s.st + shift * shift * s.s0
    s.st -= shift * s.s0
    s.stx -= shift * s.sx
    s.qtt = s.qtt - 2 * shift * s.qt + shift * shift * s.q0
    s.qt -= shift * s.q0


def line(state: TrendState) -> Line | None:
    """The fitted line at the newest reading; None while too few readings carry weight."""
    if state.origin is None or state.q0 <= 0:
        return None
    effective = state.s0 * state.s0 / state.q0
    if effective < MIN_EFFECTIVE:
        return None
    mean_u, mean_y = state.st / state.s0, state.sx / state.s0
    spread = state.stt - state.st * mean_u  # Σw(u − ū)²
    if spread <= 0:
        return None
    slope = (state.stx - state.st * mean_y) / spread
    intercept = mean_y - slope * mean_u  # at u = 0, the newest reading
    residual = max(state.sxx - state.sx * mean_y - slope * (state.stx - state.st * mean_y), 0.0)
    variance = residual / state.s0 * effective / max(effective - 2.0, 1.0)
    squared_spread = state.qtt - 2 * mean_u * state.qt + mean_u * mean_u * state.q0  # Σw²(u − ū)²
    error = math.sqrt(variance * max(squared_spread, 0.0)) / spread
    t_stat = abs(slope) / error if error > 0 else (math.inf if slope else 0.0)
    return Line(slope, state.origin + intercept, t_stat, effective)
