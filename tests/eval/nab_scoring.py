"""NAB's scoring (the Numenta Anomaly Benchmark), as NAB's own `nab/sweeper.py` computes it.

Pure: the caller reads the files and passes rows, windows and detections. What NAB does, row by row:

- the first `min(floor(0.15 * n), 750)` rows are probationary: detections there are ignored, and a window
  with no row after them would not be scored at all (none of NAB's windows is);
- a window's rows score a detection by `scaledSigmoid` of its position `-(right - i + 1) / width`, divided by
  `scaledSigmoid(-1)` so that a detection on the window's first row earns exactly tpWeight; only the best
  (earliest) detection of a window counts, and a window with none costs -fnWeight;
- a detection outside every window costs `scaledSigmoid(|prev_right - i| / (prev_width - 1)) * fpWeight` after
  a window (mild shortly after it: the alert is late, not wrong), and -fpWeight before the first window;
- a file's raw score is the sum; a set of files is normalised as 100 (S - S_null) / (S_perfect - S_null), where
  S_perfect is tpWeight for every window (NAB's `runner.normalize`).

The TP/TN/FP/FN counts are NAB's: rows after the probationary period, in or out of a window, detected or not.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

PROBATION_PERCENT = 0.15
PROBATION_MAX_ROWS = 750  # NAB: min(floor(0.15 n), 0.15 * 5000)


@dataclass(frozen=True)
class CostMatrix:
    tp_weight: float
    fp_weight: float
    fn_weight: float


# config/profiles.json of NAB; `profiles_from_json` reads the same from the file's parsed contents.
PROFILES: dict[str, CostMatrix] = {
    "standard": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=1.0),
    "reward_low_FP_rate": CostMatrix(tp_weight=1.0, fp_weight=0.22, fn_weight=1.0),
    "reward_low_FN_rate": CostMatrix(tp_weight=1.0, fp_weight=0.11, fn_weight=2.0),
}


@dataclass(frozen=True)
class FileScore:
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int  # every row of the file, the probationary ones included (as NAB's Total_Count)


def profiles_from_json(profiles: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, CostMatrix]:
    """NAB's profiles.json (already parsed) as cost matrices."""
    return {
        name: CostMatrix(
            tp_weight=float(p["CostMatrix"]["tpWeight"]),
            fp_weight=float(p["CostMatrix"]["fpWeight"]),
            fn_weight=float(p["CostMatrix"]["fnWeight"]),
        )
        for name, p in profiles.items()
    }


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def scaled_sigmoid(position: float) -> float:
    """NAB's scaledSigmoid: about +0.987 at -1 (a window's start), 0 at 0 (its end), -1 far past it."""
    if position > 3.0:
        return -1.0
    return 2 * sigmoid(-5 * position) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probationary_length(n_rows: int) -> int:
    return min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_MAX_ROWS)


def window_rows(timestamps: Sequence[datetime], windows: Sequence[tuple[datetime, datetime]]) -> list[tuple[int, int]]:
    """Each window's (first row, last row), both inclusive. NAB enters a window only at a row whose timestamp
    equals its start and leaves it at the row equal to its end, so both must be rows of the file."""
    index = {t: i for i, t in enumerate(timestamps)}
    rows = []
    for start, end in windows:
        if start not in index or end not in index:
            raise ValueError(f"window {start} – {end} does not start and end on rows of the file")
        rows.append((index[start], index[end]))
    return sorted(rows)


def detections_from_times(timestamps: Sequence[datetime], times: Sequence[datetime]) -> list[bool]:
    """A detection per row from alert times: each time marks the first row at or after it (an alert is raised
    on a reading, so its time is normally exactly a row's; a later time would be past the last row and is
    dropped)."""
    detected = [False] * len(timestamps)
    for t in times:
        i = bisect.bisect_left(timestamps, t)
        if i < len(timestamps):
            detected[i] = True
    return detected


def _tp_weight(i: int, window: tuple[int, int], cost: CostMatrix) -> float:
    left, right = window
    width = right - left + 1
    return scaled_sigmoid(-(right - i + 1) / width) * cost.tp_weight / MAX_TP


def _fp_weight(i: int, previous: tuple[int, int] | None, cost: CostMatrix) -> float:
    if previous is None:
        return -cost.fp_weight
    left, right = previous
    # NAB divides by width - 1; a one-row window (NAB has none, SKAB may) would divide by zero: use 1.
    return scaled_sigmoid(abs(right - i) / max(right - left, 1)) * cost.fp_weight


def score_file(
    n_rows: int, windows: Sequence[tuple[int, int]], detected: Sequence[bool], cost: CostMatrix
) -> FileScore:
    """NAB's raw score of one file: `windows` as sorted (first row, last row) pairs, `detected` one flag a row."""
    if len(detected) != n_rows:
        raise ValueError("one detection flag per row")
    probation = probationary_length(n_rows)
    best: dict[int, float] = {w: -cost.fn_weight for w, (_, right) in enumerate(windows) if right >= probation}
    fp_score = 0.0
    tp = tn = fp = fn = 0
    w = 0  # the index of the first window not yet left behind
    previous: tuple[int, int] | None = None
    for i in range(probation, n_rows):
        while w < len(windows) and windows[w][1] < i:
            previous = windows[w]
            w += 1
        inside = w < len(windows) and windows[w][0] <= i
        if inside:
            tp, fn = (tp + 1, fn) if detected[i] else (tp, fn + 1)
            if detected[i]:
                best[w] = max(best[w], _tp_weight(i, windows[w], cost))
        elif detected[i]:
            fp += 1
            fp_score += _fp_weight(i, previous, cost)
        else:
            tn += 1
    return FileScore(score=fp_score + sum(best.values()), tp=tp, tn=tn, fp=fp, fn=fn, total=n_rows)


def null_score(n_rows: int, windows: Sequence[tuple[int, int]], cost: CostMatrix) -> float:
    """The score of a detector that never fires: -fnWeight for every scored window."""
    return score_file(n_rows, windows, [False] * n_rows, cost).score


def perfect_score(windows: Sequence[tuple[int, int]], cost: CostMatrix) -> float:
    """NAB's perfect score: tpWeight for every labelled window (a detection on each window's first row)."""
    return len(windows) * cost.tp_weight


def normalised(score: float, null: float, perfect: float) -> float:
    """100 (S - S_null) / (S_perfect - S_null): null scores 0, perfect 100 (totals over the same files)."""
    if perfect == null:
        raise ValueError("no window to normalise against")
    return 100 * (score - null) / (perfect - null)
