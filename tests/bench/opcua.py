"""`make bench`: OPC UA value changes through the bridge into the transport.

An asyncua server in a process of its own (on the other core) writes new values to many variables as fast as it
can; the bridge subscribes to all of them (no deadband) and publishes their value changes as batch events onto
`sensors-data` in the embedded event log (PostgreSQL, each publish a commit). The figure is value changes per
second published, over a steady window; the server's own write rate is reported beside it, since a bridge that
keeps up can only go as fast as the server changes.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from eventing.postgres import PostgresTransport
from iotmon.adapters.postgres import db
from iotmon.bridges.opcua import OpcUaBridge
from iotmon.core.opcua import parse_config
from tests.support import servers
from tests.support.kafka_broker import free_port
from tests.support.waiting import wait_for

VARIABLES = 500
WARM_UP_S = 3.0
WINDOW_S = 10.0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _config(port: int) -> str:
    nodes = [
        {
            "nodeId": f"ns=2;s=Bench.V{i:04d}",
            "deviceId": f"opcua-{i:04d}",
            "sensorType": "temperature",
            "unit": "celsius",
        }
        for i in range(VARIABLES)
    ]
    return json.dumps(
        {
            "server": {"url": f"opc.tcp://127.0.0.1:{port}/iotmon/"},
            "publishingIntervalMs": 50,
            "samplingIntervalMs": 0,
            "queueSize": 100,
            "nodes": nodes,
        }
    )


class _Writes:
    """The server process's running count of writes (it prints one a second)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.count = 0
        self.ready = threading.Event()
        threading.Thread(target=self._follow, args=(process,), daemon=True).start()

    def _follow(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("ready"):
                self.ready.set()
            elif line.startswith("writes "):
                self.count = int(line.split()[1])


def measure() -> dict[str, Any]:
    port = free_port()
    say(f"OPC UA: a server changing {VARIABLES} variables as fast as it can, the bridge into the event log…")
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.support.opcua_server", str(port), str(VARIABLES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    writes = _Writes(server)
    try:
        with tempfile.TemporaryDirectory() as folder, servers.postgres(Path(folder)) as url:
            db.migrate(url)
            transport = PostgresTransport(url)
            assert writes.ready.wait(60), "the OPC UA server did not start"
            bridge = OpcUaBridge(parse_config(_config(port)), transport)
            stop = threading.Event()
            thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
            thread.start()
            try:
                wait_for(lambda: bridge.counters.readings >= VARIABLES, 60, "the bridge's first readings")
                time.sleep(WARM_UP_S)
                counters, written = dataclasses.replace(bridge.counters), writes.count
                started, cpu = time.perf_counter(), time.process_time()
                time.sleep(WINDOW_S)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                readings = bridge.counters.readings - counters.readings
                publishes = bridge.counters.publishes - counters.publishes
                written = writes.count - written
            finally:
                stop.set()
                thread.join(30)
                transport.close()
    finally:
        server.terminate()
        server.wait(10)
    return {
        "opcua_value_changes_per_s": round(readings / elapsed),
        "opcua_server_writes_per_s": round(written / elapsed),
        "opcua_value_changes_per_publish": round(readings / max(publishes, 1)),
        "opcua_bridge_cpu_pct": round(100 * cpu / elapsed),  # of one core, this process (the bridge) only
    }


if __name__ == "__main__":
    print(json.dumps(measure()))
