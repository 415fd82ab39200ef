"""What a chaos run needs of a system under test, whichever way it runs (distributed or embedded)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cloudevents.http import CloudEvent


@dataclass(frozen=True)
class Injected:
    what: str  # e.g. "kill -9 router"
    down_s: float  # from the break until the component was back (restarted, started, resumed)


@dataclass(frozen=True)
class Fault:
    """A way to break one component: `inject` breaks it, waits, brings it back, and says what it did."""

    name: str
    inject: Callable[[random.Random], Injected]


class System(Protocol):
    name: str
    url: str  # the service: API and Socket.IO
    workdir: Path  # its logs and data

    @property
    def database_url(self) -> str: ...

    def start(self) -> None: ...

    def faults(self) -> list[Fault]: ...

    def backlog(self) -> int:
        """Events accepted and not yet handled by every source's consumer group."""

    def records(self, topic: str) -> list[CloudEvent]:
        """Every event still on a topic."""

    def unclean_exits(self) -> dict[str, list[int]]:
        """Exit codes other than 0 after a SIGTERM, by component."""

    def tool_env(self) -> Mapping[str, str]:
        """The environment `iotmon router` (and `iotmon dlq`) runs with."""

    def close(self) -> None: ...


def timed(act: Callable[[], object], restore: Callable[[], object], down_s: float) -> float:
    """Break, stay broken for `down_s`, restore; seconds from the break until restored."""
    started = time.monotonic()
    act()
    time.sleep(down_s)
    restore()
    return time.monotonic() - started
