"""Reading the evaluation data sets (read-only): NAB's series, windows, profiles, thresholds and published per-file
scores, and SKAB's labelled runs. They are in EVAL_DATA_DIR, else in ../shared/datasets beside the checkout (where
CI and the development machine keep them), else in /work/shared/datasets."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.eval import nab_scoring

_BESIDE = Path(__file__).resolve().parents[3] / "shared" / "datasets"
DATA_DIR = Path(os.environ.get("EVAL_DATA_DIR") or (_BESIDE if _BESIDE.is_dir() else "/work/shared/datasets"))
NAB_DIR = DATA_DIR / "nab"
SKAB_DIR = DATA_DIR / "skab"


@dataclass(frozen=True)
class Series:
    """One labelled series: its rows and its windows as (first row, last row), both inclusive."""

    name: str  # NAB: "<category>/<file>.csv"; SKAB: "<folder>/<file>.csv"
    timestamps: list[datetime]
    values: list[float]
    windows: list[tuple[int, int]]

    @property
    def category(self) -> str:
        return self.name.split("/")[0]


@dataclass(frozen=True)
class PublishedRow:
    detector: str
    file: str
    threshold: float
    score: float
    tp: int
    tn: int
    fp: int
    fn: int
    total: int


def nab_series() -> list[Series]:
    """Every NAB file that has labels, in the labels' order (sorted by name)."""
    labels: dict[str, list[list[str]]] = json.loads((NAB_DIR / "combined_windows.json").read_text())
    series = []
    for name in sorted(labels):
        with (NAB_DIR / "data" / name).open(newline="") as f:
            rows = list(csv.DictReader(f))
        timestamps = [datetime.fromisoformat(r["timestamp"]) for r in rows]
        limits = [(datetime.fromisoformat(s), datetime.fromisoformat(e)) for s, e in labels[name]]
        series.append(
            Series(name, timestamps, [float(r["value"]) for r in rows], nab_scoring.window_rows(timestamps, limits))
        )
    return series


def nab_profiles() -> dict[str, nab_scoring.CostMatrix]:
    return nab_scoring.profiles_from_json(json.loads((NAB_DIR / "config" / "profiles.json").read_text()))


def nab_thresholds() -> dict[str, dict[str, float]]:
    """Each published detector's threshold per profile (config/thresholds.json)."""
    raw: dict[str, dict[str, dict[str, float]]] = json.loads((NAB_DIR / "config" / "thresholds.json").read_text())
    return {d: {p: float(v["threshold"]) for p, v in profiles.items()} for d, profiles in raw.items()}


def published_scores() -> dict[str, dict[str, PublishedRow]]:
    """results/<detector>_standard_scores.csv: detector → file → its published row (standard profile)."""
    published: dict[str, dict[str, PublishedRow]] = {}
    for path in sorted((NAB_DIR / "results").glob("*_standard_scores.csv")):
        detector = path.name.removesuffix("_standard_scores.csv")
        with path.open(newline="") as f:
            published[detector] = {r["File"]: _published_row(r) for r in csv.DictReader(f) if r["File"] != "Totals"}
    return published


def _published_row(r: dict[str, str]) -> PublishedRow:
    return PublishedRow(
        detector=r["Detector"],
        file=r["File"],
        threshold=float(r["Threshold"]),
        score=float(r["Score"]),
        tp=int(r["TP"]),
        tn=int(r["TN"]),
        fp=int(r["FP"]),
        fn=int(r["FN"]),
        total=int(r["Total_Count"]),
    )


@dataclass(frozen=True)
class SkabRun:
    """One SKAB file: every sensor column a series over the same rows, and the windows of anomaly == 1."""

    name: str
    timestamps: list[datetime]
    columns: dict[str, list[float]]
    windows: list[tuple[int, int]]


SKAB_LABELS = ("anomaly", "changepoint")


def skab_runs() -> list[SkabRun]:
    """The labelled SKAB files (those with an `anomaly` column), sorted by folder then number."""
    runs = []
    for path in sorted(SKAB_DIR.glob("*/*.csv"), key=lambda p: (p.parent.name, _number(p.stem))):
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        if not rows or "anomaly" not in rows[0]:
            continue
        sensors = [c for c in rows[0] if c != "datetime" and c not in SKAB_LABELS]
        runs.append(
            SkabRun(
                name=f"{path.parent.name}/{path.name}",
                timestamps=[datetime.fromisoformat(r["datetime"]) for r in rows],
                columns={c: [float(r[c]) for r in rows] for c in sensors},
                windows=runs_of_ones([float(r["anomaly"]) == 1.0 for r in rows]),
            )
        )
    return runs


def runs_of_ones(flags: list[bool]) -> list[tuple[int, int]]:
    """Contiguous runs of True as (first row, last row), both inclusive."""
    windows = []
    start: int | None = None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            windows.append((start, i - 1))
            start = None
    return windows


def _number(stem: str) -> tuple[int, str]:
    return (int(stem), "") if stem.isdigit() else (1 << 30, stem)
