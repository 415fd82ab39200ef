"""`make chaos`: random faults under steady load, in local distributed mode and embedded, then the invariants.

    python -m tests.chaos [--mode distributed|embedded|both] [--faults N] [--seed S] [--rate R] [--keep]

One JSON line per fault (what, when, how long the component was down, how long until the system was whole
again), one per mode with all its figures, and last the run's figures as one JSON object. Exits 1 when an
accepted reading was lost or stored twice, an alert change missed the dashboard or the `alerts` topic, a
(device, type) had two open alerts, a good reading was left dead-lettered, or a recovery took over 15 s.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from tests.chaos.distributed import Distributed
from tests.chaos.embedded import Embedded
from tests.chaos.run import ModeResult, emit, mode_line, passed, run_mode, say, summary
from tests.chaos.system import System

DEFAULT_FAULTS = 50  # over both modes: the issue asks for at least 50
DISTRIBUTED_SHARE = 0.6  # its faults are quicker to recover from, and there are more kinds of them


def split(faults: int, mode: str) -> dict[str, int]:
    if mode != "both":
        return {mode: faults}
    distributed = round(faults * DISTRIBUTED_SHARE)
    return {"distributed": distributed, "embedded": faults - distributed}


def make(mode: str, workdir: Path) -> System:
    directory = workdir / mode
    directory.mkdir(parents=True)
    return Distributed(directory) if mode == "distributed" else Embedded(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("distributed", "embedded", "both"), default="both")
    parser.add_argument("--faults", type=int, default=DEFAULT_FAULTS, help="in all (split between modes with both)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a random one, printed)")
    parser.add_argument("--rate", type=float, default=500.0, help="readings per second of the steady load")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data even when every target is met")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    workdir = Path(tempfile.mkdtemp(prefix="iotmon-chaos-"))
    say(f"chaos: seed {seed}, logs in {workdir}")
    results: list[ModeResult] = []
    for mode, count in split(args.faults, args.mode).items():
        result = run_mode(make(mode, workdir), count, rng, args.rate)
        emit(mode_line(result))
        results.append(result)
    total = summary(results, seed)
    ok = passed(total)
    if ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        say(f"chaos: logs and data kept in {workdir}")
    print(json.dumps(total), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
