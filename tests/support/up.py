"""`iotmon up` as a separate process, as a user runs it (tests of the embedded run and of the dashboard)."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psutil

from tests.support.auth import GATEWAY_ENV
from tests.support.kafka_broker import free_port

REPO = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"iot-monitoring is running: (http://127\.0\.0\.1:(\d+))")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def iotmon_command() -> str:
    beside_python = Path(sys.executable).parent / "iotmon"
    return str(beside_python if beside_python.exists() else REPO / ".venv" / "bin" / "iotmon")


class Up:
    """One `iotmon up` process; stdout is read on a thread so the pipe never fills."""

    def __init__(
        self,
        port: int,
        data_dir: Path,
        log: Path,
        fresh: bool,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "IOTMON_FRESH", "HOST"}
        }
        env = {
            **inherited,
            **GATEWAY_ENV,
            "PORT": str(port),
            "IOTMON_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
            "IOTMON_MQTT_PORT": "0",  # its embedded MQTT broker on any free port: never two on 1883
            **(env or {}),
        }
        self.log = log
        self._stderr = open(log, "wb")  # noqa: SIM115 (open as long as the process runs; closed in stop())
        self.proc = subprocess.Popen(
            [iotmon_command(), "up", *(["--fresh"] if fresh else []), *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,  # our SIGTERM reaches it alone, as a service manager's would
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_url(self, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(
                    f"iotmon up exited ({self.proc.wait()}) before printing its URL:\n{''.join(seen)}{self.stderr()}"
                )
            seen.append(line)
            if match := URL_LINE.search(line):
                return match.group(1)
        raise AssertionError(f"no URL line within {timeout:.0f} s:\n{''.join(seen)}{self.stderr()}")

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"iotmon up did not stop within {timeout:.0f} s of SIGTERM:\n{self.stderr()}"
            ) from None

    def kill(self) -> None:
        """Whatever happened: the process gone (by its pid) and the log closed."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._stderr.close()


class Service:
    """`iotmon up` on a fixed port and data directory, so that it can be stopped and started again."""

    def __init__(self, data_dir: Path, log: Path, env: Mapping[str, str]) -> None:
        self.port, self.data_dir, self.log, self.env = free_port(), data_dir, log, dict(env)
        self.up: Up | None = None
        self.url = ""

    def start(self, fresh: bool = False) -> None:
        self.up = Up(self.port, self.data_dir, self.log, fresh=fresh, env=self.env)
        self.url = self.up.wait_for_url()

    def stop(self) -> None:
        """SIGTERM; it must exit 0."""
        if self.up:
            assert self.up.terminate() == 0
            self.up.kill()
            self.up = None

    def close(self) -> None:
        """Whatever happened: stopped, by its pid."""
        if self.up:
            try:
                self.up.terminate()
            finally:
                self.up.kill()
                self.up = None


def server_processes(data_dir: Path, also: tuple[str, ...] = ()) -> list[psutil.Process]:
    """Live (not zombie) processes working in or naming the data directory (or one of `also`)."""
    marks = (str(data_dir), *also)
    found = []
    for process in psutil.process_iter():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            command = " ".join(process.cmdline())
            try:
                cwd = process.cwd()
            except psutil.AccessDenied:
                cwd = ""
            if any(mark in command for mark in marks) or cwd.startswith(str(data_dir)):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def redis_sockets(processes: list[psutil.Process]) -> tuple[str, ...]:
    sockets = []
    for process in processes:
        try:
            sockets += re.findall(r"unixsocket:(\S+)", " ".join(process.cmdline()))
        except psutil.NoSuchProcess:
            continue
    return tuple(sockets)


def kill_leftovers(data_dir: Path, also: tuple[str, ...] = ()) -> None:
    """After a failure: the servers this test's run started (found by its data dir), by pid."""
    for process in server_processes(data_dir, also):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@contextlib.contextmanager
def for_bench(prefix: str, args: Sequence[str] = ()) -> Iterator[tuple[Up, str, Path]]:
    """`iotmon up --no-simulator` (and `args`) on a fresh data directory with no rate limit, as the benchmarks
    run it: the process, its base URL and its data directory; stopped (and whatever it left, killed) afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        data_dir = Path(scratch) / "data"
        env = {"IOTMON_RATE_LIMIT": "1000000000", "IOTMON_LOG_LEVEL": "WARNING"}
        up = Up(free_port(), data_dir, Path(scratch) / "up.log", fresh=True, env=env, args=["--no-simulator", *args])
        try:
            yield up, up.wait_for_url(), data_dir
        finally:
            up.kill()
            kill_leftovers(data_dir)
