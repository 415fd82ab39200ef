"""The `make eval` replay: every series through a detector (in parallel over files), then NAB's scores, false
alerts and window precision/recall per group of files. Printing is __main__'s."""

from __future__ import annotations

import importlib
import math
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from tests.eval import nab_scoring
from tests.eval.datasets import PublishedRow, Series, SkabRun

Detector = Callable[[list[datetime], list[float]], list[datetime]]
DEFAULT_DETECTOR = "tests.eval.detector:detect"


@cache
def resolve(spec: str) -> Detector:
    """`module:function` to the function (cached: each worker process imports the detector once)."""
    module_name, _, function_name = spec.partition(":")
    function = getattr(importlib.import_module(module_name), function_name or "detect")
    if not callable(function):
        raise TypeError(f"{spec} is not a function")
    detector: Detector = function
    return detector


# --- replay ---------------------------------------------------------------------------------------------------


def _replay(task: tuple[str, Series | SkabRun]) -> tuple[str, list[bool], float]:
    """One file's detections. SKAB: every sensor column is its own series, and an alert on any of them is a
    detection for the file."""
    spec, item = task
    started = time.perf_counter()
    if isinstance(item, Series):
        key, flags = item.name, _flags(spec, item.timestamps, item.values)
    else:
        key, flags = f"skab:{item.name}", [False] * len(item.timestamps)
        for values in item.columns.values():
            flags = [a or b for a, b in zip(flags, _flags(spec, item.timestamps, values), strict=True)]
    return key, flags, time.perf_counter() - started


def _flags(spec: str, timestamps: list[datetime], values: list[float]) -> list[bool]:
    # copies: a detector may not change the data the next column or profile is judged on
    return nab_scoring.detections_from_times(timestamps, resolve(spec)(list(timestamps), list(values)))


def replay(spec: str, nab: Sequence[Series], skab: Sequence[SkabRun], jobs: int) -> dict[str, list[bool]]:
    """Each file's detections (one flag a row), keyed by name ("skab:" before SKAB's); progress on stderr."""
    tasks: list[tuple[str, Series | SkabRun]] = [(spec, s) for s in nab] + [(spec, r) for r in skab]
    flags: dict[str, list[bool]] = {}
    with multiprocessing.Pool(jobs) as pool:
        for i, (key, file_flags, seconds) in enumerate(pool.imap_unordered(_replay, tasks), start=1):
            flags[key] = file_flags
            print(f"file {i} of {len(tasks)}: {key} ({seconds:.1f} s)", file=sys.stderr, flush=True)
    return flags


# --- scores ---------------------------------------------------------------------------------------------------


@dataclass
class Totals:
    """A group of files' sums: raw, null and perfect NAB scores per profile, and the counts behind the rates."""

    files: int = 0
    score: dict[str, float] = field(default_factory=dict)
    null: dict[str, float] = field(default_factory=dict)
    perfect: dict[str, float] = field(default_factory=dict)
    false_alerts: int = 0  # detected rows after the probationary period outside every window
    scored_rows: int = 0  # rows after the probationary period
    alerts: int = 0  # detected rows after the probationary period
    alerts_in_windows: int = 0
    windows: int = 0  # windows with a row after the probationary period
    windows_detected: int = 0

    def add(
        self, s: Series, result: dict[str, nab_scoring.FileScore], profiles: dict[str, nab_scoring.CostMatrix]
    ) -> None:
        self.files += 1
        for name, cost in profiles.items():
            self.score[name] = self.score.get(name, 0.0) + result[name].score
            self.null[name] = self.null.get(name, 0.0) + nab_scoring.null_score(len(s.values), s.windows, cost)
            self.perfect[name] = self.perfect.get(name, 0.0) + nab_scoring.perfect_score(s.windows, cost)
        counts = next(iter(result.values()))  # the row counts do not depend on the profile
        self.false_alerts += counts.fp
        self.alerts += counts.tp + counts.fp
        self.alerts_in_windows += counts.tp
        self.scored_rows += counts.tp + counts.tn + counts.fp + counts.fn

    def normalised(self, profile: str) -> float:
        """NaN for files without windows (artificialNoAnomaly): null and perfect are both 0 there."""
        if self.perfect[profile] == self.null[profile]:
            return math.nan
        return nab_scoring.normalised(self.score[profile], self.null[profile], self.perfect[profile])

    def false_per_1000(self) -> float:
        """False alerts per 1,000 readings: rows after the probationary period at which the detector alerted
        outside every labelled window, per 1,000 rows after the probationary period (several alerts on one
        reading count once; an alert late in a window's tail counts as true, as NAB counts it)."""
        return 1000 * self.false_alerts / self.scored_rows if self.scored_rows else 0.0

    def precision(self) -> float:
        """Alerts (rows, after the probationary period) that fall inside a window, over all alerts."""
        return self.alerts_in_windows / self.alerts if self.alerts else 0.0

    def recall(self) -> float:
        """Windows with at least one alert after the probationary period, over the windows scored."""
        return self.windows_detected / self.windows if self.windows else 0.0


def score_files(
    series: Sequence[Series], flags: dict[str, list[bool]], profiles: dict[str, nab_scoring.CostMatrix]
) -> dict[str, Totals]:
    """Per category and "total": the sums of every profile's scores and of the counts."""
    groups: dict[str, Totals] = {}
    for s in series:
        detected = flags[s.name]
        result = {p: nab_scoring.score_file(len(s.values), s.windows, detected, c) for p, c in profiles.items()}
        scored, hit = _windows_detected(s, detected)
        for group in (s.category, "total"):
            totals = groups.setdefault(group, Totals())
            totals.add(s, result, profiles)
            totals.windows += scored
            totals.windows_detected += hit
    return groups


def _windows_detected(s: Series, detected: Sequence[bool]) -> tuple[int, int]:
    probation = nab_scoring.probationary_length(len(s.values))
    scored = [(max(a, probation), b) for a, b in s.windows if b >= probation]
    return len(scored), sum(any(detected[a : b + 1]) for a, b in scored)


def published_totals(series: Sequence[Series], rows: dict[str, PublishedRow]) -> dict[str, tuple[float, float]]:
    """A published detector's (normalised standard score, false alerts per 1,000 readings) per category and
    "total", over the files it has results for, normalised as ours (its null and perfect on those files)."""
    standard = {"standard": nab_scoring.PROFILES["standard"]}
    groups: dict[str, Totals] = {}
    for s in series:
        if s.name not in rows:
            continue
        r = rows[s.name]
        result = {"standard": nab_scoring.FileScore(r.score, r.tp, r.tn, r.fp, r.fn, r.total)}
        for group in (s.category, "total"):
            groups.setdefault(group, Totals()).add(s, result, standard)
    return {g: (t.normalised("standard"), t.false_per_1000()) for g, t in groups.items()}


def skab_series(run: SkabRun) -> Series:
    """A SKAB file as one series to score, named as `replay` keys it ("skab:valve1/3.csv"; the values are not
    scored, only the rows and windows)."""
    return Series(f"skab:{run.name}", run.timestamps, [0.0] * len(run.timestamps), run.windows)
