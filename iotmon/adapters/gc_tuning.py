"""CPython's cyclic garbage collector, set for processes that handle batches of thousands of readings.

Reference counting frees almost everything these processes allocate; the cyclic collector only finds cycles.
With its defaults it collects young objects every 700 container allocations, so a batch's readings, states and
windows (hundreds of thousands of objects, alive until the batch is done) were scanned again and again, and the
full collections over a fleet's caches took ~270 ms each: in the fleet benchmark 35–45 % of the functions' CPU
time went to the collector. Collecting young objects every 500,000 allocations (most are freed by then) and
freezing what the start made (modules, classes: never garbage) brings that under 2 %, for cyclic garbage that
waits a little longer (a second or two of allocations) to be freed.
"""

from __future__ import annotations

import gc
from functools import cache

YOUNG = 500_000  # container allocations (net) between collections of the youngest generation
MIDDLE = 20  # young collections between collections of the middle generation
OLD = 10  # middle collections between full ones (CPython also waits until the old generation grew by 25 %)


@cache  # once per process
def tune() -> None:
    """Call once the process has imported and set up what it keeps (later calls do nothing)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
