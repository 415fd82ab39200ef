"""The garbage collector's settings for the long-running processes (in a child process: they are process-wide)."""

import subprocess
import sys

from iotmon.adapters import gc_tuning

PROBE = """
import gc
from iotmon.adapters import gc_tuning
gc_tuning.tune()
frozen = gc.get_freeze_count()
gc_tuning.tune()  # again: nothing more
print(gc.get_threshold(), frozen > 1000, gc.get_freeze_count() == frozen)
"""


def test_tune_sets_the_thresholds_and_freezes_what_the_start_made_once() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    expected = (gc_tuning.YOUNG, gc_tuning.MIDDLE, gc_tuning.OLD)
    assert out.split() == [*str(expected).split(), "True", "True"]
