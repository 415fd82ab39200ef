"""The embedded MQTT broker of `iotmon up`: amqtt (a broker in Python, asyncio) on loopback, on a thread of its own.

amqtt speaks MQTT 3.1.1 (a client asking for MQTT 5 is refused: "unsupported protocol version"); every client
on loopback is let in. amqtt keeps a persistent session only for a client it does not take as anonymous, so
the one authentication plugin here lets everyone in without marking anyone anonymous: the bridge's session
(clean session off) then keeps what arrives while the bridge is busy or restarting. Sessions live in the
broker's memory: what a device published and the bridge had not taken yet is lost when `iotmon up` stops, as
with any broker without persistence; a device's QoS 1 message that the broker acknowledged is in its hands.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class LoopbackAuth(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """Lets every client in, and takes none as anonymous (amqtt would give an anonymous one no persistent session)."""

    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session: Any) -> bool:
        return True


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port or free_port(host)  # 0: any free port (tests)
        self._loop = asyncio.new_event_loop()
        self._broker: Broker | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="mqtt-broker", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        for name in ("amqtt", "transitions"):  # their INFO lines are per connection and per state change
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(START_TIMEOUT_S)
        except Exception as error:
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise RuntimeError(
                f"the MQTT broker could not start on {self.host}:{self.port} (is the port taken? set IOTMON_MQTT_PORT,"
                f" or IOTMON_MQTT_PORT=off for none): {error}"
            ) from error
        log.info("mqtt broker listening", extra={"url": self.url})
        return self

    async def _start(self) -> None:
        self._broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {f"{__name__}.LoopbackAuth": {}},
            }
        )
        await self._broker.start()

    def stop(self) -> None:
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(START_TIMEOUT_S)
            except Exception:
                log.exception("the MQTT broker did not stop cleanly")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)
