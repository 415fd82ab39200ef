"""Fault injection, for tests only: the process dies at a named point.

IOTMON_FAULT names a point (see the calls of `point`, e.g. "after-alert-commit":
an alert change is committed, its event not yet published). The first time the
process reaches it, it exits at once, as kill -9 would leave it: no cleanup, no
flush, connections cut. Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os

KILLED = 137  # the exit status of a process killed by SIGKILL, as a shell reports it


def point(name: str) -> None:
    if os.environ.get("IOTMON_FAULT") == name:
        os._exit(KILLED)
