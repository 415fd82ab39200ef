"""The whole system in one process (`iotmon up`), or with worker processes sharing the functions' work
(`--workers`, iotmon.workers): the same code as the cluster.

PostgreSQL and Redis are embedded unless DATABASE_URL / REDIS_URL name real
ones; events go through an event log in PostgreSQL (eventing.postgres: what
is accepted is durable) unless KAFKA_BOOTSTRAP_SERVERS names a Kafka cluster.
The local router delivers them to the functions exactly as the Knative
manifests wire them.

Stopping (Ctrl-C, SIGTERM) goes newest first: the service and the simulator
stop taking readings, then the router handles what was accepted (up to
DRAIN_TIMEOUT_S; whatever is left stays in the event log for the next start),
then everything else stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import uvicorn

from eventing.postgres import PostgresTransport
from eventing.router import Router
from eventing.transport import Transport
from eventing.wiring import load_wiring
from iotmon.adapters.embedded import EmbeddedPostgres, EmbeddedRedis, wipe
from iotmon.adapters.postgres import api_keys, db, users
from iotmon.adapters.settings import Settings
from iotmon.bridges import mqtt
from iotmon.bridges.births import Registrar
from iotmon.bridges.broker import EmbeddedBroker
from iotmon.core.mqtt_config import Broker
from iotmon.core.writers import Writer
from iotmon.service import create_app, server_config
from iotmon.simulator import Simulator
from iotmon.workers import Routers, make_functions, make_transport, start_workers

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 30.0
DRAIN_REPORT_EVERY_S = 5.0


@dataclass
class System:
    settings: Settings
    fresh: bool = False
    simulate: bool = True
    database_url: str = ""
    redis_url: str = ""
    generated_admin_password: str | None = None  # set when the first admin was made with a new password
    generated_gateway_key: str | None = None  # set when the `gateway` API key was made here
    transport: Transport | None = None
    mqtt_url: str | None = None  # the embedded MQTT broker's, when it runs
    mqtt_bridge: mqtt.MqttBridge | None = None
    _stops: list[Callable[[], None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self) -> str:
        try:
            self._start_data()
            db.migrate(self.database_url)
            self.generated_admin_password = users.prepare_admin(self.database_url, self.settings.admin_password)
            self.generated_gateway_key = api_keys.prepare_gateway_key(self.database_url, self.settings.gateway_key)
            transport, transport_name = make_transport(self.settings, self.database_url)
            self.transport = transport
            self._stops.append(transport.close)
            functions = make_functions(self.settings, self.database_url, self.redis_url, transport)
            self._stops.extend(function.pool.close for function in functions.values())
            workers = self.settings.workers
            router = Router(
                transport, load_wiring(), functions, tick_seconds=self.settings.tick_seconds, share=(0, workers)
            ).start()
            self._stops.append(router.stop)
            others = start_workers(workers, self.database_url, self.redis_url)
            self._stops.extend(worker.stop for worker in others)
            if isinstance(transport, PostgresTransport):
                self._stops.append(lambda: _drain(transport, router))
            if self.settings.mqtt_port is not None:
                self._start_mqtt(transport)
            simulator = self._start_simulator(transport) if self.simulate else None
            self._start_service(transport, transport_name, simulator, Routers(router, others))
        except BaseException:
            self.stop()
            raise
        return self.url

    def _start_data(self) -> None:
        data_dir = self.settings.data_dir
        if self.fresh:
            wipe(data_dir)
        self.database_url = self.settings.database_url or self._embedded(EmbeddedPostgres(data_dir / "postgres"))
        self.redis_url = self.settings.redis_url or self._embedded(EmbeddedRedis(data_dir / "redis"))

    def _embedded(self, server: EmbeddedPostgres | EmbeddedRedis) -> str:
        url = server.start()
        self._stops.append(server.stop)
        return url

    def _start_mqtt(self, transport: Transport) -> None:
        """The embedded broker, and the bridge from it to the transport (rules from IOTMON_MQTT_CONFIG, if set).

        Devices the plant announces are registered as the `gateway` key would register them (every device)."""
        assert self.settings.mqtt_port is not None
        # Loopback only, whatever HOST says: the embedded broker has no login (README: Connecting a real MQTT gateway).
        broker = EmbeddedBroker("127.0.0.1", self.settings.mqtt_port).start()
        self._stops.append(broker.stop)
        self.mqtt_url = broker.url
        configured = mqtt.load_config(None)
        config = msgspec.structs.replace(
            configured, broker=Broker(url=broker.url, version="3.1.1", client_id="iotmon-up-bridge")
        )
        pool = db.pool(self.database_url, max_size=1)
        self._stops.append(pool.close)
        registrar = Registrar(pool, Writer("embedded MQTT bridge", auto_register=True))
        self.mqtt_bridge = mqtt.MqttBridge(config, transport, mqtt.translators(config), on_births=registrar).start()
        self._stops.append(self.mqtt_bridge.stop)

    def _start_simulator(self, transport: Transport) -> Simulator:
        simulator = Simulator(transport, anomaly_rate=self.settings.anomaly_rate, seed=self.settings.seed)
        simulator.start()
        self._stops.append(simulator.stop)
        return simulator

    def _start_service(
        self, transport: Transport, transport_name: str, simulator: Simulator | None, routers: Routers
    ) -> None:
        app = create_app(
            self.database_url,
            self.redis_url,
            transport,
            transport_name,
            simulator,
            self.settings,
            routers,
        )
        server = uvicorn.Server(server_config(app, self.settings.host, self.settings.port))
        thread = threading.Thread(target=server.run, name="service", daemon=True)
        thread.start()
        self._stops.append(lambda: _stop_server(server, thread))
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the service could not start on {self.url} (is the port taken? set PORT)")
            thread.join(0.05)

    def stop(self) -> None:
        """Stop everything started, newest first; safe to call twice."""
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("error while stopping")


def drain(transport: PostgresTransport, groups: set[tuple[str, str]], timeout: float) -> int:
    """Wait until the (topic, group)s have committed all they were given, or `timeout`; returns what is left."""
    deadline = time.monotonic() + timeout
    reported = 0.0
    while left := sum(n for where, n in transport.backlog().items() if where in groups):
        if time.monotonic() >= deadline:
            log.warning(
                "stopping with events left in the event log; the next start handles them", extra={"events_left": left}
            )
            break
        if time.monotonic() - reported >= DRAIN_REPORT_EVERY_S:
            log.info("handling what was accepted before stopping", extra={"events_left": left})
            reported = time.monotonic()
        time.sleep(0.1)
    return left


def _drain(transport: PostgresTransport, router: Router) -> None:
    drain(transport, router.wiring.groups(), DRAIN_TIMEOUT_S)


def _stop_server(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(10)
