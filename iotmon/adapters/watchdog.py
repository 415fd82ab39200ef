"""Embedded servers never outlive the process that started them, however it ends (kill -9 included).

The servers daemonize (pg_ctl and Redis detach them), so they are not our children and no signal of ours
reaches them when we die. A `Watchdog` is a small child process holding the read end of a pipe whose write
end only we hold: when we close it (a normal stop) or die (the kernel closes a dead process's descriptors),
its read ends, and it stops every server process working in the server's directory, then exits.

    python -m iotmon.adapters.watchdog DIRECTORY NAME SIGNAL TIMEOUT
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0  # seconds a server has to exit after its stop signal before it is killed
LOCK_TIMEOUT = 30.0  # longer than a previous run's watchdog may take to finish stopping
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the iotmon package


def server_processes(directory: Path, name: str) -> list[psutil.Process]:
    """The live processes called `name` working in `directory` (servers chdir into their data directory)."""
    directory = directory.resolve()
    found = []
    for process in psutil.process_iter(["name"]):
        if process.info["name"] != name:
            continue
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if _alive(process) and Path(process.cwd()) == directory:
                found.append(process)
    return found


def stop_servers(directory: Path, name: str, stop_signal: signal.Signals, timeout: float = STOP_TIMEOUT) -> None:
    """Send `stop_signal` to the servers' main processes, and kill whatever is left after `timeout` seconds."""
    processes = server_processes(directory, name)
    pids = {process.pid for process in processes}
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.ppid() not in pids:  # a main process: its workers follow it
                process.send_signal(stop_signal)
    left = _wait_gone(processes, timeout)
    for process in left:
        log.warning("server did not stop in time; killing it", extra={"pid": process.pid, "dir": str(directory)})
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _wait_gone(left, 5.0)


def _alive(process: psutil.Process) -> bool:
    """Running and not a zombie (a dead daemon stays one until init reaps it)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Poll (they are not our children, so they cannot be waited for) until all are gone or time is up."""
    deadline = time.monotonic() + timeout
    while (left := [process for process in processes if _alive(process)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


class Watchdog:
    """Guards one server directory for as long as this process runs a server in it."""

    def __init__(
        self,
        directory: Path,
        name: str,
        stop_signal: signal.Signals,
        timeout: float = STOP_TIMEOUT,
        lock_timeout: float = LOCK_TIMEOUT,
    ) -> None:
        self.directory, self.name, self.stop_signal, self.timeout = directory, name, stop_signal, timeout
        self.lock_timeout = lock_timeout
        self._lock: int | None = None
        self._pipe: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Watchdog:
        """Lock the directory, stop a crashed run's orphans, and start the watchdog (before the server, so
        that no moment is unguarded)."""
        self._lock = _lock(self.directory.with_name(self.directory.name + ".lock"), self.lock_timeout)
        try:
            # Holding the lock proves that the run which started any server still working in the directory is
            # gone, watchdog and all: the server is an orphan of a crash. It is stopped (cleanly, as its
            # watchdog would have) and the caller starts a new one, rather than joining it: this run then owns
            # exactly the server it started, with its own settings, and does not have to trust whatever state
            # the orphan is in (shutting down, started by an older version, its socket in a temporary
            # directory since cleaned).
            stop_servers(self.directory, self.name, self.stop_signal, self.timeout)
            self._spawn(self._lock)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, lock: int) -> None:
        read, self._pipe = os.pipe()  # not inheritable: no other child (the servers above all) gets the write end
        command = [sys.executable, "-m", "iotmon.adapters.watchdog", str(self.directory.resolve())]
        # Importable from where this module was, installed or not; its cwd holds no directory busy.
        path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
        try:
            self._process = subprocess.Popen(
                [*command, self.name, self.stop_signal.name, str(self.timeout)],
                stdin=read,
                stdout=subprocess.DEVNULL,
                pass_fds=(lock,),  # it holds the lock until it has stopped the server: no restart races it
                start_new_session=True,  # a Ctrl-C in the terminal is for us; we stop the server then
                cwd="/",
                env={**os.environ, "PYTHONPATH": path},
            )
        finally:
            os.close(read)

    def stop(self) -> None:
        """Close the pipe: the watchdog stops the server, as it would if we had died, and exits."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._process is not None:
            try:
                code = self._process.wait(self.timeout + 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
            if code != 0:  # killed or failed: it may not have stopped the server
                log.warning("the watchdog failed; stopping the server here", extra={"code": code})
                stop_servers(self.directory, self.name, self.stop_signal, self.timeout)
            self._process = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _lock(path: Path, timeout: float) -> int:
    """An exclusive lock on `path`, so that one process at a time runs a server in a directory.

    The kernel drops a flock when its last holder dies, so a crashed run never leaves it taken."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline, said = time.monotonic() + timeout, False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RuntimeError(f"{path.with_suffix('')} is in use by another iotmon process") from None
            if not said:  # a previous run's watchdog may still be stopping its server
                log.info("waiting for another process to let go of the directory", extra={"lock": str(path)})
                said = True
            time.sleep(0.1)


def main(argv: list[str]) -> None:
    directory, name, signal_name, timeout = argv
    while os.read(sys.stdin.fileno(), 4096):  # nobody writes: this returns at the end
        pass
    stop_servers(Path(directory), name, signal.Signals[signal_name], float(timeout))


if __name__ == "__main__":
    main(sys.argv[1:])
