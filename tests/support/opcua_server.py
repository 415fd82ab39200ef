"""A real OPC UA server for the tests and the bench: asyncua's own `Server`, on its own event loop in a thread, on
a free loopback port, with Double variables `ns=2;s=<name>` that the test writes (values, status codes, times).

It can be stopped and started again on the same port (a server restart), ask for a username and password, and
offer only Basic256Sha256 with a certificate it generates.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.support.kafka_broker import free_port

NAMESPACE = "urn:iotmon:test-plant"
T = TypeVar("T")


class _Users:
    def __init__(self, users: dict[str, str]) -> None:
        self._users = users

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None):
        if username is not None and self._users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None  # refused


async def make_certificate(folder: Path, name: str, uri: str, use: ExtendedKeyUsageOID) -> tuple[Path, Path]:
    """A self-signed application certificate (DER) for `uri` and its key (PEM), as OPC UA wants them."""
    cert, key = folder / f"{name}-cert.der", folder / f"{name}-key.pem"
    await setup_self_signed_certificate(
        key, cert, uri, "localhost", [use], {"organizationName": "iot-monitoring tests"}
    )
    return cert, key


class OpcUaTestServer:
    def __init__(
        self,
        variables: Iterable[str],
        *,
        users: dict[str, str] | None = None,
        secure_in: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.names = list(variables)
        self.port = port or free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/iotmon/"
        self._users = users
        self._secure_in = secure_in  # a folder for the server's certificate: only Basic256Sha256 is offered
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="opcua-test-server")
        self._thread.start()
        self._server: Server | None = None
        self._variables: dict[str, Any] = {}

    @staticmethod
    def node_id(name: str) -> str:
        return f"ns=2;s={name}"

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> OpcUaTestServer:
        self.call(self._start())
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.call(self._server.stop())
            self._server = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def write(
        self, name: str, value: float | None, *, status: int = ua.StatusCodes.Good, at: datetime | None = None
    ) -> None:
        self.call(self.write_async(name, value, status=status, at=at))

    async def write_async(
        self, name: str, value: float | None, *, status: int = ua.StatusCodes.Good, at: datetime | None = None
    ) -> None:
        data = ua.DataValue(
            ua.Variant(value, ua.VariantType.Double),
            StatusCode=ua.StatusCode(status),
            SourceTimestamp=at,
            ServerTimestamp=at,
        )
        await self._server.write_attribute_value(self._variables[name].nodeid, data)  # type: ignore[union-attr]

    async def _start(self) -> None:
        server = Server(user_manager=_Users(self._users) if self._users else None)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("iot-monitoring test plant")
        if self._users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        if self._secure_in is not None:
            uri = "urn:iotmon:test-plant-server"
            await server.set_application_uri(uri)
            cert, key = await make_certificate(self._secure_in, "server", uri, ExtendedKeyUsageOID.SERVER_AUTH)
            await server.load_certificate(cert)
            await server.load_private_key(key)
            server.set_security_policy(
                [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign]
            )
        index = await server.register_namespace(NAMESPACE)
        assert index == 2
        plant = await server.nodes.objects.add_object(index, "Plant")
        self._variables = {
            name: await plant.add_variable(ua.NodeId(name, index), name, 0.0, ua.VariantType.Double)
            for name in self.names
        }
        await server.start()
        self._server = server


async def _change_forever(server: OpcUaTestServer, every_s: float) -> None:
    """Write every variable a new value, round after round, and say how many writes so far each second."""
    writes, said = 0, 0.0
    loop = asyncio.get_running_loop()
    while True:
        for name in server.names:
            await server.write_async(name, float(writes % 1000))
            writes += 1
        if loop.time() - said >= 1:
            said = loop.time()
            print(f"writes {writes}", flush=True)
        await asyncio.sleep(every_s)


def main() -> None:
    """`python -m tests.support.opcua_server PORT VARIABLES [ROUND_S]`: a plant whose variables all change, in a
    process of its own (the bench runs it on the other core)."""
    import sys

    port, count = int(sys.argv[1]), int(sys.argv[2])
    every_s = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    server = OpcUaTestServer([f"Bench.V{i:04d}" for i in range(count)], port=port).start()
    print("ready", flush=True)
    server.call(_change_forever(server, every_s), timeout=None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
