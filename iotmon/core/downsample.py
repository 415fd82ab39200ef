"""History resolutions: which bucket size answers a range within the point budget (pure)."""

from __future__ import annotations

import math

MAX_POINTS = 2000
# The resolutions a client may ask for; `auto` picks one of the others.
RESOLUTIONS = ("raw", "1m", "5m", "1h", "auto")
STEP_S = {"1m": 60, "5m": 300, "1h": 3600}


def buckets(span_s: float, step_s: int) -> int:
    """How many aligned buckets of `step_s` a range of `span_s` seconds can touch (at most)."""
    if span_s < 0:
        raise ValueError("span must not be negative")
    return math.floor(span_s / step_s) + 1


def choose(raw_count: int, span_s: float, max_points: int = MAX_POINTS) -> str:
    """The finest resolution giving at most `max_points` points: raw if the raw readings fit,
    else the finest bucket size whose bucket count fits, else the coarsest (1h)."""
    if raw_count <= max_points:
        return "raw"
    for name, step in STEP_S.items():
        if buckets(span_s, step) <= max_points:
            return name
    return "1h"
