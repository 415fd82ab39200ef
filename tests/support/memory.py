"""The test process's resident memory: the session's system serves from this process, so a probe that would
make the service hold what it is sent shows here."""

from __future__ import annotations

from pathlib import Path

MIB = 1024 * 1024


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")
