"""The detector `make eval` judges by default: the project's own rules, replayed over a series.

It calls `iotmon.core.backtest.backtest` (the core's rule code run over stored readings) once that function
exists; until then it refuses with a clear error — run the harness with
`--detector tests.eval.reference:windowed_gaussian` meanwhile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from typing import cast

Backtest = Callable[[list[datetime], list[float]], list[datetime]]


def _backtest() -> Backtest:
    try:
        module = importlib.import_module("iotmon.core.backtest")
    except ImportError as e:
        raise RuntimeError(
            "iotmon.core.backtest is not there yet: pass --detector module:function "
            "(e.g. tests.eval.reference:windowed_gaussian)"
        ) from e
    backtest = getattr(module, "backtest", None)
    if not callable(backtest):
        raise RuntimeError("iotmon.core.backtest has no backtest function")
    return cast(Backtest, backtest)  # its exact signature is the lead's to settle


def detect(timestamps: list[datetime], values: list[float]) -> list[datetime]:
    """The times at which the project's rules opened an alert on this series (one sensor's readings)."""
    # TODO(lead): pass the rule configuration the backtest takes (thresholds, anomaly and trend settings).
    return list(_backtest()(timestamps, values))
