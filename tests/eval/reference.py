"""Reference ports of published NAB detectors, used only to validate the scorer (nab_scoring) against NAB's
published per-file scores, and as a stand-in detector while developing the `make eval` harness.

They are not the project's detection. Each reproduces NAB's detector of the same name (nab/detectors/...)
row for row: an anomaly score per row, and a detection where the score >= the detector's threshold from
config/thresholds.json (NAB's `convertAnomalyScoresToDetections`) — the score as NAB's results files held it:
see `detections`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime

import numpy as np

# thresholds.json, standard profile: the threshold NAB published windowedGaussian's scores with.
WINDOWED_GAUSSIAN_THRESHOLD = 1.0


def detections(scores: Sequence[float], threshold: float) -> list[bool]:
    """NAB's detections from anomaly scores. The published results were made under Python 2, whose pandas wrote
    each score to the results CSV with str(), i.e. 12 significant digits, and NAB scored those files: a score of
    0.9999999999999998 was read back as 1.0 and met windowedGaussian's threshold of 1.0. Without this rounding
    26 of its 56 files differ; with it all match."""
    return [float(f"{s:.12g}") >= threshold for s in scores]


def null_scores(values: Sequence[float]) -> list[float]:
    """nab/detectors/null: 0.5 for every row (never above its threshold)."""
    return [0.5] * len(values)


def random_scores(values: Sequence[float], seed: int = 42) -> list[float]:
    """nab/detectors/random: `random.seed(42)` for each file, then `random.uniform(0, 1)` a row."""
    rng = random.Random(seed)
    return [rng.uniform(0, 1) for _ in values]


def _normal_tail(x: float, mean: float, std: float) -> float:
    """The Q-function (tail probability), folded around the mean, as NAB's `normalProbability`."""
    if x < mean:
        x = 2 * mean - x
    return 0.5 * math.erfc((x - mean) / std / math.sqrt(2))


def windowed_gaussian_scores(values: Sequence[float], window_size: int = 6400, step_size: int = 100) -> list[float]:
    """nab/detectors/gaussian/windowedGaussian_detector.py: 1 - the tail probability of a value under the mean
    and standard deviation of the window of the values before it (grown to 6400, then slid 100 at a time).

    NAB's window is always a run of the series, values[lo:hi]: slices of one array stand for its lists, and
    numpy's mean and std over them add in the same (pairwise) order, so the floats and the flagged rows agree."""
    data = np.asarray(values, dtype=np.float64)
    scores = []
    lo = hi = 0  # the window is data[lo:hi]; rows from hi on wait in NAB's step buffer
    mean, std = 0.0, 1.0
    for i, value in enumerate(values):
        scores.append(1 - _normal_tail(value, mean, std) if hi > 0 else 0.0)
        if hi - lo < window_size:
            hi = i + 1
        elif i + 1 - hi == step_size:
            lo, hi = lo + step_size, i + 1
        else:
            continue
        window = data[lo:hi]
        mean, std = float(np.mean(window)), float(np.std(window))
        if std == 0.0:
            std = 0.000001
    return scores


def windowed_gaussian(timestamps: list[datetime], values: list[float]) -> list[datetime]:
    """The harness's detector signature: the times of the rows windowedGaussian flags at its threshold."""
    flags = detections(windowed_gaussian_scores(values), WINDOWED_GAUSSIAN_THRESHOLD)
    return [t for t, flagged in zip(timestamps, flags, strict=True) if flagged]
