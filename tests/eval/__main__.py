"""`make eval`: replays every NAB series and every SKAB file through a detector, scores it with NAB's scoring
(tests/eval/nab_scoring.py, validated against NAB's published scores in tests/unit/test_nab_scoring.py), and
prints the scores beside the published detectors' on the same files. Progress on stderr; the last line of
stdout is one JSON object with the headline figures. The project's own rules are also judged on the
simulator's five seed devices (tests/eval/simulator.py).

    python -m tests.eval                                              # the project's rules (tests/eval/detector.py)
    python -m tests.eval --detector tests.eval.reference:windowed_gaussian
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from tests.eval import datasets, harness, simulator
from tests.eval.harness import Totals

NAB_PROFILES = {"standard": "standard", "low FP": "reward_low_FP_rate", "low FN": "reward_low_FN_rate"}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", default=harness.DEFAULT_DETECTOR, help="module:function (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default %(default)s)")
    args = parser.parse_args()

    started = time.perf_counter()
    try:
        harness.resolve(args.detector)  # a wrong name fails here, before any work
    except (ImportError, AttributeError, TypeError) as e:
        print(f"no detector {args.detector}: {e}", file=sys.stderr)
        return 2
    nab, skab = datasets.nab_series(), datasets.skab_runs()
    profiles = datasets.nab_profiles()
    try:
        flags = harness.replay(args.detector, nab, skab, args.jobs)
    except Exception as e:  # the detector's own error, raised in a worker: say which and stop
        print(f"the detector {args.detector} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    ours = harness.score_files(nab, flags, profiles)
    skab_totals = harness.score_files([harness.skab_series(r) for r in skab], flags, profiles)["total"]

    _print_ours(args.detector, ours, skab_totals, skab)
    _print_published(nab, ours)
    figures = _summary(args.detector, ours["total"], skab_totals)
    if args.detector == harness.DEFAULT_DETECTOR:  # the simulator is judged by the project's own rules only
        figures.update(_simulator())
    elapsed = time.perf_counter() - started
    print(f"\nelapsed {elapsed:.1f} s ({args.jobs} processes)")
    print(json.dumps({**figures, "elapsed_s": round(elapsed, 1)}))
    return 0


def _print_ours(detector: str, ours: dict[str, Totals], skab: Totals, runs: list[datasets.SkabRun]) -> None:
    print(f"detector: {detector}\n")
    print("NAB, normalised score (null 0, perfect 100) per profile; false alerts per 1,000 readings")
    header = f"{'category':<24}{'files':>6}" + "".join(f"{p:>10}" for p in NAB_PROFILES) + f"{'false/1k':>10}"
    print(header)
    for group in [*sorted(g for g in ours if g != "total"), "total"]:
        t = ours[group]
        scores = "".join(_cell(t.normalised(p), 10) for p in NAB_PROFILES.values())
        print(f"{group:<24}{t.files:>6}{scores}{t.false_per_1000():>10.2f}")
    columns = sum(len(r.columns) for r in runs)
    print(f"\nSKAB ({skab.files} files, {columns} sensor series; an alert on any sensor is the file's detection)")
    print(header)
    scores = "".join(_cell(skab.normalised(p), 10) for p in NAB_PROFILES.values())
    print(f"{'total':<24}{skab.files:>6}{scores}{skab.false_per_1000():>10.2f}")
    print(
        f"windows detected {skab.windows_detected} of {skab.windows} (recall {skab.recall():.2f}); "
        f"alerts inside a window {skab.alerts_in_windows} of {skab.alerts} (precision {skab.precision():.2f})"
    )


def _print_published(nab: list[datasets.Series], ours: dict[str, Totals]) -> None:
    """Every published detector's normalised standard score per category on the same files (NAB publishes only
    the standard profile's per-file scores here), with ours, best first."""
    groups = [*sorted(g for g in ours if g != "total"), "total"]
    table = {"(this detector)": {g: (ours[g].normalised("standard"), ours[g].false_per_1000()) for g in groups}}
    published = datasets.published_scores()
    for detector, rows in published.items():
        table[detector] = harness.published_totals(nab, rows)
    print("\nNAB standard profile, normalised, beside the published detectors (same files, same normalisation)")
    print(f"{'detector':<20}" + "".join(f"{g[:12]:>13}" for g in groups) + f"{'false/1k':>10}")
    for detector, figures in sorted(table.items(), key=lambda kv: -kv[1]["total"][0]):
        cells = "".join(_cell(figures[g][0] if g in figures else math.nan, 13) for g in groups)
        partial = "" if detector not in published or len(published[detector]) == len(nab) else "  *"
        print(f"{detector:<20}{cells}{figures['total'][1]:>10.2f}{partial}")
    print("* published for some files only (random: 30, an older NAB release); normalised over those files")


def _cell(value: float, width: int) -> str:
    """A score, or "-" where none is defined (no window in those files, or no published result)."""
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:>{width}.1f}"


def _simulator() -> dict[str, object]:
    """The five seed devices' injected anomalies at the simulator's rate (5 %) and at a rare one (0.2 %), where
    each anomaly stands alone and cannot ride on an alert a neighbour opened."""
    print("\nSimulator: five seed devices, 6 h each at their own periods, 2 seeds (tests/eval/simulator.py)")
    print(f"{'anomaly rate':<14}{'device':<12}{'anomalies':>10}{'alerted':>9}{'false':>7}{'false/h':>9}{'open':>7}")
    figures: dict[str, object] = {}
    for rate in (0.05, 0.002):
        results = [r for seed in (1, 2) for r in simulator.run(hours=6, seed=seed, rate=rate)]
        for r in results:
            missed = f"  missed {r.missed_kinds}" if r.missed_kinds else ""
            line = f"{r.anomalies:>10}{r.alerted:>9}{r.false_alerts:>7}{r.false_alerts / r.hours:>9.2f}"
            print(f"{rate:<14.1%}{r.device_id:<12}{line}{r.open_share:>7.0%}{missed}")
        key = "sim" if rate == 0.05 else "sim_rare"
        figures[f"{key}_anomalies"] = sum(r.anomalies for r in results)
        figures[f"{key}_missed"] = sum(r.anomalies - r.alerted for r in results)
        figures[f"{key}_false_per_device_hour"] = round(
            sum(r.false_alerts for r in results) / sum(r.hours for r in results), 3
        )
    print("(open: the share of the time some alert of the device was open)")
    return figures


def _summary(detector: str, nab: Totals, skab: Totals) -> dict[str, object]:
    return {
        "detector": detector,
        "nab_score": round(nab.normalised("standard"), 3),
        "nab_low_fp": round(nab.normalised("reward_low_FP_rate"), 3),
        "nab_low_fn": round(nab.normalised("reward_low_FN_rate"), 3),
        "false_per_1000": round(nab.false_per_1000(), 3),
        "skab_score": round(skab.normalised("standard"), 3),
        "skab_low_fp": round(skab.normalised("reward_low_FP_rate"), 3),
        "skab_low_fn": round(skab.normalised("reward_low_FN_rate"), 3),
        "skab_false_per_1000": round(skab.false_per_1000(), 3),
        "skab_precision": round(skab.precision(), 3),
        "skab_recall": round(skab.recall(), 3),
    }


if __name__ == "__main__":
    sys.exit(main())
