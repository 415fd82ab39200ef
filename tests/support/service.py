"""The whole system in the test process, on the suite's servers, for tests over real HTTP and Socket.IO."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from eventing.postgres import PostgresTransport
from eventing.wiring import load_wiring
from iotmon.adapters.settings import Settings
from iotmon.system import System
from tests.support.auth import GATEWAY_KEY, bearer
from tests.support.kafka_broker import free_port
from tests.support.waiting import wait_for

# The suite's token signing key, as a cluster's Secret would give it: every system a test starts accepts the
# tokens of the others, as replicas do.
TEST_JWT_KEYS = "test:" + "k" * 48


@contextmanager
def running_system(database_url: str, redis_url: str, data_dir: Path, **overrides: Any) -> Iterator[System]:
    """`iotmon up` without the simulator: the embedded event log, no rate limit, no cron ticks, no outbox relay
    loop, no MQTT broker, unless overridden."""
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        kafka_bootstrap_servers=None,
        host="127.0.0.1",
        port=free_port(),
        data_dir=data_dir,
        rate_limit_per_minute=1_000_000,  # the tests' own requests must not be limited
        jwt_keys=TEST_JWT_KEYS,
        tick_seconds=1e6,  # no escalate-cron ticks behind a test's back
        outbox_relay_s=1e6,  # nor relays of the outbox rows other tests' functions are about to relay
        gateway_key=GATEWAY_KEY,
        mqtt_port=None,  # no embedded MQTT broker unless a test asks for one (mqtt_port=0: any free port)
    )
    system = System(dataclasses.replace(settings, **overrides), simulate=False)
    system.start()
    try:
        yield system
    finally:
        system.stop()


def settle(system: System, timeout: float = 30.0) -> None:
    """Until the system's router has handled (and committed) every record on the topics it consumes, so that
    nothing a test set off is still running when the next one starts (embedded event log only)."""
    transport = system.transport
    assert isinstance(transport, PostgresTransport), "settle() reads the embedded event log's consumer groups"
    groups = load_wiring().groups()

    def behind() -> dict[tuple[str, str], int]:
        return {where: n for where, n in transport.backlog().items() if n and where in groups}

    wait_for(lambda: not behind(), timeout, what=lambda: f"the pipeline to settle (behind: {behind()})")


@contextmanager
def operator_client(system: System, database_url: str, timeout: float = 30.0) -> Iterator[httpx.Client]:
    """An HTTP client acting as an operator (tests of the endpoints; tests/integration/test_auth.py checks roles)."""
    with httpx.Client(
        base_url=system.url, timeout=timeout, headers=bearer(system.url, database_url, "operator")
    ) as client:
        yield client


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error of a refused request, checked against the error envelope."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]
