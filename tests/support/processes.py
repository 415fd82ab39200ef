"""`iotmon` commands as separate processes, as local distributed mode runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psutil

from tests.support.kafka_broker import free_port

IOTMON = str(Path(sys.executable).parent / "iotmon")
READY_TIMEOUT = 30.0


def start(args: list[str], env: Mapping[str, str], log: Path, program: str = IOTMON) -> subprocess.Popen:
    """`iotmon <args>` (or another program), its output appended to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [program, *args], env=dict(env), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


def wait_listening(url: str, process: subprocess.Popen, log: Path, timeout: float = READY_TIMEOUT) -> None:
    """Until something answers HTTP at `url` (any status); fails with the log if the process exits first."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"{process.args} exited ({process.returncode}):\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"nothing answers on {url}:\n{log.read_text()[-3000:]}"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)


def stop(processes: Iterable[subprocess.Popen], timeout: float = 20.0) -> list[int]:
    """SIGTERM each process and its children (gunicorn workers); returns the exit codes (killed ones: -9)."""
    processes = list(processes)
    children = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            children += psutil.Process(process.pid).children(recursive=True)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait(5))
    for child in children:  # what a master left behind, by pid
        with suppress(psutil.NoSuchProcess):
            child.kill()
    return codes


@contextmanager
def function_servers(names: Iterable[str], env: Mapping[str, str], log_dir: Path) -> Iterator[dict[str, str]]:
    """`iotmon func run <name>` for each name on a free port; yields {name: url} once all answer, then stops them
    (each must exit 0 on SIGTERM)."""
    started: dict[str, tuple[str, subprocess.Popen, Path]] = {}
    try:
        for name in names:
            port, log = free_port(), log_dir / f"func-{name}.log"
            started[name] = (
                f"http://127.0.0.1:{port}",
                start(["func", "run", name, "--port", str(port)], env, log),
                log,
            )
        for url, process, log in started.values():
            wait_listening(url, process, log)
        yield {name: url for name, (url, _, _) in started.items()}
        codes = stop(process for _, process, _ in started.values())
        assert codes == [0] * len(started), (
            f"function servers did not stop cleanly: {dict(zip(started, codes, strict=True))}"
        )
    finally:
        stop(process for _, process, _ in started.values())
