"""The test process's resident memory: the session's system serves from this process, so a probe that would
make the service hold what it is sent shows here."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

MIB = 1024 * 1024


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class PeakGrowth:
    """The most the resident memory grew over its start while the `with` block ran, sampled every few
    milliseconds: a body held for a moment and freed before the answer shows too (measured only after the
    answer, a service that read 100 MB and then refused it would pass)."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.before = self.peak = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    @property
    def mib(self) -> float:
        return self.peak - self.before

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, rss_mib())

    def __enter__(self) -> PeakGrowth:
        self.before = self.peak = rss_mib()
        self._sampler.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._sampler.join()
        self.peak = max(self.peak, rss_mib())
