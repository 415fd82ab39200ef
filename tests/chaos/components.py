"""The parts a chaos run breaks: `iotmon` processes it kills or stops and starts again with the same arguments,
port and environment, as a pod's restart would.

Each process leads its own session, so `kill -9` takes the whole process group (a function server's gunicorn
worker with its master, as a container's death would) while SIGTERM goes to the main process alone, as a
container runtime sends it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import psutil

from tests.support.processes import IOTMON

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class Command:
    """One long-lived `iotmon` command. Ready when `url` answers HTTP, or when `ready_text` appears in its log."""

    def __init__(
        self,
        name: str,
        args: list[str],
        env: Mapping[str, str],
        log: Path,
        url: str | None = None,
        ready_text: str | None = None,
    ) -> None:
        self.name, self.args, self.env, self.log = name, args, dict(env), log
        self.url, self.ready_text = url, ready_text
        self.proc: subprocess.Popen[bytes] | None = None
        self.unclean_exits: list[int] = []  # exit codes of SIGTERMs that did not end in 0

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [IOTMON, *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(offset)

    def _wait_ready(self, offset: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready(offset):
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def _ready(self, offset: int) -> bool:
        if self.ready_text is not None:
            with open(self.log, "rb") as log:
                log.seek(offset)
                return self.ready_text.encode() in log.read()
        try:
            httpx.get(self.url or "", timeout=1)
            return True
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """kill -9 of the process and everything in its group."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        """SIGTERM to the main process; its exit code (an unclean one is remembered). Killed after 30 s."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            code = -int(signal.SIGKILL)
        if code != 0:
            self.unclean_exits.append(code)
        _kill_group(self.proc.pid)  # what a master left behind
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
        if self.proc is not None:
            _kill_group(self.proc.pid)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_tree(pid: int) -> None:
    """kill -9 of a server and all its processes at once (PostgreSQL's postmaster and backends: a crash)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=10)


def pause(pgid: int, paused: bool) -> None:
    """SIGSTOP (or SIGCONT) a process group: a server that accepts connections and answers nothing."""
    os.killpg(pgid, signal.SIGSTOP if paused else signal.SIGCONT)
