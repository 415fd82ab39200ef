"""`iotmon simulate`: live seed devices, load, or CSV replay, onto Kafka's `sensors-data`, or without Kafka
through the REST API of a running service (`POST /api/readings` with a gateway key), or over MQTT as devices
publish (`--via mqtt`: one QoS 1 message per reading under iotmon/<location>/<deviceId>/<sensorType>)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iotmon.adapters.settings import Settings

if TYPE_CHECKING:
    from iotmon.core.mqtt_config import Broker


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mode", choices=["live", "load", "replay"], nargs="?", default="live")
    parser.add_argument("--health-port", type=int, default=3001, help="live mode: health endpoint port (0 = none)")
    parser.add_argument(
        "--via",
        choices=["auto", "kafka", "api", "mqtt"],
        default="auto",
        help="auto: Kafka when KAFKA_BOOTSTRAP_SERVERS is set, else the API; mqtt: to IOTMON_MQTT_URL (default the"
        " embedded broker of `iotmon up`, mqtt://127.0.0.1:$IOTMON_MQTT_PORT, MQTT 3.1.1)",
    )
    api = parser.add_argument_group("without KAFKA_BOOTSTRAP_SERVERS: through the API of a running service")
    api.add_argument("--url", help="the service (default http://127.0.0.1:$PORT, as `iotmon up` serves)")
    api.add_argument("--api-key", help="a gateway API key (default $IOTMON_GATEWAY_KEY)")
    load = parser.add_argument_group("load mode")
    load.add_argument("--devices", type=int, default=1000, help="number of synthetic devices")
    load.add_argument("--rate", type=float, default=1000.0, help="readings per second, all devices together")
    load.add_argument("--batch-size", type=int, default=100, help="readings per batch event")
    load.add_argument("--duration", type=float, help="seconds to run")
    load.add_argument("--count", type=int, help="readings to send")
    replay = parser.add_argument_group("replay mode")
    replay.add_argument(
        "--file", type=Path, help="a CSV with a header row (`,` `;` or tab), e.g. ../shared/datasets/skab/valve1/0.csv"
    )
    replay.add_argument("--time-column", default="datetime", help="ISO 8601 (no offset = UTC) or epoch seconds")
    replay.add_argument("--columns", help="column=device pairs, e.g. Temperature=device-001,Pressure=skab-pressure")
    replay.add_argument("--speed", type=float, default=1.0, help="1 = real time, 60 = a minute a second, 0 = at once")
    replay.add_argument("--limit", type=int, help="rows to replay")


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _serve_health(port: int, health: Callable[[], dict[str, Any]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(health()).encode()
            self.send_response(200 if self.path in ("/health", "/") else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def mqtt_broker(settings: Settings, environ: Mapping[str, str] = os.environ) -> Broker:
    """The broker to publish to: IOTMON_MQTT_URL (and the other IOTMON_MQTT_* settings), else `iotmon up`'s."""
    from iotmon.core.mqtt_config import parse

    if not environ.get("IOTMON_MQTT_URL"):
        port = settings.mqtt_port or 1883
        environ = {"IOTMON_MQTT_VERSION": "3.1.1", **environ, "IOTMON_MQTT_URL": f"mqtt://127.0.0.1:{port}"}
    return parse("", "the MQTT settings", environ).broker


def run(args: argparse.Namespace, settings: Settings) -> int:
    from eventing.kafka import KafkaTransport
    from eventing.mqtt import MqttPublisher
    from iotmon.core.mqtt_config import ConfigError
    from iotmon.simulator import (
        Simulator,
        load_devices,
        parse_mapping,
        register_devices,
        register_targets,
        run_load,
        run_replay,
    )
    from iotmon.simulator.api import ApiPublisher

    if args.mode == "replay" and not args.file:
        print("error: replay needs --file", file=sys.stderr)
        return 2
    database_url = settings.database_url or ""
    transport: KafkaTransport | ApiPublisher | MqttPublisher
    min_interval_s = 0.0
    via = args.via if args.via != "auto" else ("kafka" if settings.kafka_bootstrap_servers else "api")
    if via == "mqtt":
        if args.mode != "live" and not database_url:
            print(f"error: set DATABASE_URL: {args.mode} registers its devices before it sends", file=sys.stderr)
            return 2
        try:
            transport = MqttPublisher(mqtt_broker(settings))
        except ConfigError as problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    elif via == "kafka" and not settings.kafka_bootstrap_servers:
        print("error: --via kafka needs KAFKA_BOOTSTRAP_SERVERS", file=sys.stderr)
        return 2
    elif via == "kafka":
        if args.mode != "live" and not database_url:
            print(f"error: set DATABASE_URL: {args.mode} registers its devices before it sends", file=sys.stderr)
            return 2
        transport = KafkaTransport(settings.server("KAFKA_BOOTSTRAP_SERVERS"), "simulator")
    elif key := args.api_key or settings.gateway_key:
        # Through the API the gateway key registers the devices, unless DATABASE_URL lets them be registered first.
        transport = ApiPublisher(args.url or f"http://127.0.0.1:{settings.port}", key)
        # Half the per-client rate limit, the rest left to the dashboards and tools on the same address.
        min_interval_s = 120 / settings.rate_limit_per_minute
    else:
        print(
            "error: set KAFKA_BOOTSTRAP_SERVERS, or give a gateway key (--api-key or IOTMON_GATEWAY_KEY) to send"
            " through a running service's API (--url)",
            file=sys.stderr,
        )
        return 2
    stop = _stop_on_signal()
    try:
        if args.mode == "live":
            simulator = Simulator(transport, anomaly_rate=settings.anomaly_rate, seed=settings.seed)
            server = _serve_health(args.health_port, simulator.health) if args.health_port else None
            print(
                f"simulating the five seed devices; health on http://127.0.0.1:{args.health_port}/health",
                file=sys.stderr,
            )
            simulator.run(stop)
            if server:
                server.shutdown()
        elif args.mode == "load":
            if database_url:
                register_devices(database_url, load_devices(args.devices))
            summary = run_load(
                transport,
                devices=args.devices,
                rate=args.rate,
                batch_size=args.batch_size,
                duration=args.duration,
                count=args.count,
                anomaly_rate=settings.anomaly_rate,
                seed=settings.seed,
                stop=stop,
            )
            print(json.dumps(summary.as_dict()))
        else:
            mapping = parse_mapping(args.columns) if args.columns else None
            replayed = run_replay(
                transport,
                args.file,
                mapping,
                speed=args.speed,
                limit=args.limit,
                stop=stop,
                register=(lambda targets: register_targets(database_url, targets)) if database_url else None,
                time_column=args.time_column,
                min_interval_s=min_interval_s,
            )
            print(json.dumps(replayed.as_dict()))
    finally:
        transport.close()
    return 0
