"""The `iotmon` command: up, migrate, router, serve, func run, dlq, jwt-keys, generate, import, backtest, simulate,
bridge mqtt, bridge opcua."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from eventing import endpoints
from iotmon.adapters import gc_tuning, logs, signing_keys
from iotmon.adapters.postgres import api_keys, db, users
from iotmon.adapters.settings import SERVERS, Settings
from iotmon.core.contracts.system import DEAD_LETTER_KINDS, DeadLetterGroup

if TYPE_CHECKING:
    import psycopg

    from eventing.dead_letters import DeadLetter
    from eventing.transport import Transport
    from eventing.wiring import Wiring
    from iotmon.core.contracts.backtest import Backtest
    from iotmon.core.recorded import Columns, Point, Problem

log = logging.getLogger("iotmon")

EMBEDDED_TICK_S = 10.0


def _stop_requested() -> threading.Event:
    """Set by Ctrl-C or SIGTERM. Taken before anything starts, so that a signal at any moment (one that
    comes just as the start ends included) leads to the orderly stop, never to Python's default exit."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _wait_for(stop: threading.Event) -> None:
    while not stop.wait(1):  # a timeout, so that the main thread still runs Python's signal handlers
        pass


def _show_admin_password(password: str | None) -> None:
    if password:
        print(
            f"  first start: user `admin`, password `{password}` (shown once; set IOTMON_ADMIN_PASSWORD to choose it)\n",
            flush=True,
        )


def _show_gateway_key(key: str | None) -> None:
    if key:
        print(
            f"  first start: gateway API key `{key}` for POST /api/readings (shown once; set IOTMON_GATEWAY_KEY"
            " to choose it, or make more as admin on the dashboard's API keys page)\n",
            flush=True,
        )


M_ARENA_MAX = -8  # glibc's mallopt parameter: how many malloc arenas threads may have at most


def _fewer_malloc_arenas() -> None:
    """Two malloc arenas for the whole process (MALLOC_ARENA_MAX=2, set before any thread starts). glibc gives
    threads that allocate at once arenas of their own, up to eight per core, and keeps what is freed in each: under
    a fleet's load that held about a quarter of `iotmon up`'s RSS (954 → 695 MiB in the benchmark). Elsewhere than
    glibc this does nothing; an explicit MALLOC_ARENA_MAX is left as it is."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from iotmon.system import System

    _fewer_malloc_arenas()

    if args.port:
        settings = dataclasses.replace(settings, port=args.port)
    if args.no_mqtt:
        settings = dataclasses.replace(settings, mqtt_port=None)
    if args.workers is not None:
        settings = dataclasses.replace(settings, workers=args.workers)
    if settings.workers < 1:
        print(
            f"iotmon: {settings.workers} workers? `iotmon up` needs at least 1 (--workers, IOTMON_WORKERS)",
            file=sys.stderr,
        )
        return 2
    if settings.tick_seconds is None:  # embedded: check escalation and offline devices every 10 s, not every minute
        settings = dataclasses.replace(settings, tick_seconds=EMBEDDED_TICK_S)
    system = System(settings, fresh=args.fresh or settings.fresh, simulate=not args.no_simulator)
    print(
        "starting iot-monitoring (embedded PostgreSQL and Redis, events kept in PostgreSQL)…",
        file=sys.stderr,
        flush=True,
    )
    started, stop = time.monotonic(), _stop_requested()
    try:
        url = system.start()
        gc_tuning.tune()
        mqtt = (
            f"\n  MQTT broker: {system.mqtt_url}   (publish to iotmon/<location>/<deviceId>/<sensorType>)"
            if system.mqtt_url
            else ""
        )
        print(
            f"\n  iot-monitoring is running: {url}{mqtt}\n  data: {settings.data_dir}   (Ctrl-C to stop)\n", flush=True
        )
        _show_admin_password(system.generated_admin_password)
        _show_gateway_key(system.generated_gateway_key)
        log.info("up", extra={"url": url, "seconds": round(time.monotonic() - started, 1)})
        _wait_for(stop)
        print("stopping…", file=sys.stderr, flush=True)
    finally:
        system.stop()
    return 0


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL; else the embedded PostgreSQL of a running `iotmon up`; else it, started for the while."""
    from iotmon.adapters.embedded import EmbeddedPostgres, running_postgres

    directory = settings.data_dir / "postgres"
    if url := settings.database_url or running_postgres(directory):
        yield url
        return
    embedded = EmbeddedPostgres(directory)
    try:
        yield embedded.start()
    finally:
        embedded.stop()


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    with _database(settings) as url:
        applied = db.migrate(url)
    print(f"applied: {', '.join(applied)}" if applied else "database is up to date")
    return 0


DLQ_HELP = (
    """Dead letters: the events a source gave up on, and the reports of bad input.

Kinds:
"""
    + "".join(f"  {kind:<12} {meaning}\n" for kind, meaning in DEAD_LETTER_KINDS.items())
    + """
The topics are Kafka's (KAFKA_BOOTSTRAP_SERVERS), or else the embedded event log in
PostgreSQL (DATABASE_URL, or IOTMON_DATA_DIR's, while `iotmon up` runs or not).
A replay sends each event back to the topic its source reads and moves the
consumer group iotmon-dlq-replay past every letter it read: letters set aside
are not offered again, so use --all the first time if refused ones should go
too. The functions are idempotent: a letter sent twice changes nothing.
"""
)


@contextlib.contextmanager
def _event_log(settings: Settings) -> Iterator[Transport]:
    """The transport the system runs on: Kafka when configured, else the event log in PostgreSQL."""
    from eventing.postgres import PostgresTransport
    from iotmon.workers import kafka_transport

    if settings.kafka_bootstrap_servers:
        with contextlib.closing(kafka_transport(settings)) as kafka:
            yield kafka
        return
    with _database(settings) as url:
        db.migrate(url)
        with contextlib.closing(PostgresTransport(url, max_connections=2)) as event_log:
            yield event_log


def cmd_jwt_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Rotate the embedded token signing keys in the data directory (a running `iotmon up` reads them at start)."""
    if settings.jwt_keys:
        print("IOTMON_JWT_KEYS is set: rotate by editing it (the new key first, the old one kept)", file=sys.stderr)
        return 2
    if args.jwt_keys_command == "rotate":
        kid = signing_keys.rotate(settings.data_dir)
        print(f"new signing key {kid}; the previous ones are still accepted. Restart `iotmon up` to sign with it,")
        print(f"then run `iotmon jwt-keys retire` once the old tokens have expired ({settings.token_ttl_s} s).")
    else:
        retired = signing_keys.retire(settings.data_dir)
        print(f"retired {', '.join(retired) or 'nothing'}; restart `iotmon up` for it to take effect.")
    return 0


def cmd_dlq_list(args: argparse.Namespace, settings: Settings) -> int:
    from eventing import dead_letters

    with _event_log(settings) as transport:
        count, letters = dead_letters.waiting(transport, args.limit)
    if args.json:
        print(json.dumps({"waiting": count, "letters": [_letter(letter) for letter in letters]}, indent=2))
        return 0
    if not count:
        print("no dead letters waiting")
        return 0
    print(
        f"{count} dead letter(s) waiting"
        + (f" (reasons from the oldest {args.limit} per topic)" if count > len(letters) else "")
    )
    _print_groups(dead_letters.grouped(letters))
    print("kinds: " + "; ".join(f"{kind}: {meaning}" for kind, meaning in DEAD_LETTER_KINDS.items()))
    return 0


def _print_groups(groups: list[DeadLetterGroup]) -> None:
    for group in groups:
        print(f"  {group.count:>7}  {group.topic:<18} {group.kind:<12} {group.reason}")


def _letter(letter: DeadLetter) -> dict[str, object]:
    event = letter.event
    return {
        "topic": letter.record.topic,
        "partition": letter.record.partition,
        "offset": letter.record.offset,
        "kind": letter.kind,
        "reason": letter.reason,
        **({} if event is None else {name: event.get(name) for name in ("id", "type", "source", "subject", "time")}),
    }


def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from eventing import dead_letters
    from eventing.wiring import load_wiring

    wiring = load_wiring()
    if (urls := _function_urls(args, settings, wiring)) is None:
        return 2
    origins = dead_letters.Origins(wiring, {url: function for function, url in urls.items()})

    def progress(topic: str, done: int, total: int) -> None:
        print(f"  {topic}: {done} of {total} read", file=sys.stderr, flush=True)

    with _event_log(settings) as transport:
        replayed = dead_letters.replay(transport, origins, refused_too=args.all, progress=progress)
    sent = sum(replayed.sent.values())
    print(f"replayed {sent} event(s)" + "".join(f"; {n} to {topic}" for topic, n in sorted(replayed.sent.items())))
    if replayed.kept:
        print(f"set aside {len(replayed.kept)} letter(s), not sent:")
        _print_groups(dead_letters.grouped(replayed.kept))
    return 0


def _has_servers(settings: Settings, what: str, names: tuple[str, ...] = SERVERS) -> bool:
    """Local distributed mode runs on real servers; say which are missing."""
    missing = settings.missing_servers(names)
    if missing:
        print(
            f"error: {what} needs {', '.join(missing)} set (or run everything embedded with `iotmon up`)",
            file=sys.stderr,
        )
    return not missing


def _function_urls(args: argparse.Namespace, settings: Settings, wiring: Wiring) -> dict[str, str] | None:
    """Where the router delivers, by function (None after saying what is wrong)."""
    try:
        return endpoints.function_urls(
            [s.function for s in wiring.subscriptions] + [s.function for s in wiring.schedules],
            settings.function_urls,
            args.function_url,
            args.functions_base_port or settings.functions_base_port,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """One of `iotmon up --workers n`'s processes (it starts them; iotmon.workers)."""
    from iotmon.workers import run_worker

    _fewer_malloc_arenas()
    k, _, n = args.share.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        print(f"iotmon worker: --share {args.share} is not k/n with 0 <= k < n", file=sys.stderr)
        return 2
    if not _has_servers(settings, "a worker", ("DATABASE_URL", "REDIS_URL")):
        return 2
    run_worker(settings, (int(k), int(n)), _stop_requested(), sys.stdout)
    return 0


def cmd_router(args: argparse.Namespace, settings: Settings) -> int:
    """Local distributed mode: KafkaSource and PingSource, delivering over HTTP to `iotmon func run` servers."""
    from eventing.http_sink import OverHttp
    from eventing.router import Router
    from eventing.wiring import load_wiring
    from iotmon.workers import kafka_transport

    if not _has_servers(settings, "the router", ("KAFKA_BOOTSTRAP_SERVERS",)):
        return 2
    wiring = load_wiring()
    if (urls := _function_urls(args, settings, wiring)) is None:
        return 2
    stop = _stop_requested()
    transport = kafka_transport(settings)
    functions = {name: OverHttp(name, url) for name, url in urls.items()}
    router = Router(transport, wiring, functions, tick_seconds=settings.tick_seconds).start()
    gc_tuning.tune()
    print(
        f"router running: {len(wiring.subscriptions)} Kafka source(s), {len(wiring.schedules)} schedule(s), delivering to\n"
        + "".join(f"  {name:<14} {url}\n" for name, url in sorted(urls.items())),
        end="",
        flush=True,
    )
    try:
        _wait_for(stop)
    finally:
        router.stop()
        transport.close()
    return 0


def cmd_func_run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve one function over HTTP with functions-framework, as `func run` (and Knative) would."""
    from functions_framework import create_app
    from functions_framework._http import create_server

    import functions

    source = Path(functions.__file__).parent / f"{args.name.replace('-', '_')}.py"
    if missing := settings.missing_servers():
        print(f"warning: {', '.join(missing)} not set: events that need them will fail (500)", file=sys.stderr)
    os.environ.setdefault("K_SERVICE", args.name)  # as Knative sets it
    port = args.port or settings.port
    app = create_app("handle", str(source), "cloudevent")
    print(f"{args.name} listening on http://{settings.host}:{port} (CloudEvents, binary or structured)", flush=True)
    create_server(app, False).run(settings.host, port)  # gunicorn: stops on SIGTERM or Ctrl-C
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Local distributed mode: only the long-lived service, on real Kafka, PostgreSQL and Redis."""
    import uvicorn

    from iotmon.service import create_app, server_config
    from iotmon.workers import kafka_transport

    if not _has_servers(settings, "the service"):
        return 2
    database_url, redis_url = settings.server("DATABASE_URL"), settings.server("REDIS_URL")
    stop = _stop_requested()
    db.migrate(database_url)
    _show_admin_password(users.prepare_admin(database_url, settings.admin_password))
    _show_gateway_key(api_keys.prepare_gateway_key(database_url, settings.gateway_key))
    transport = kafka_transport(settings)
    app = create_app(database_url, redis_url, transport, "kafka", settings=settings)
    server = uvicorn.Server(server_config(app, settings.host, args.port or settings.port))
    thread = threading.Thread(target=server.run, name="service", daemon=True)
    thread.start()  # in a thread, so that Ctrl-C and SIGTERM reach the orderly stop below
    gc_tuning.tune()
    try:
        _wait_for(stop)
    finally:
        server.should_exit = True
        thread.join(10)
        transport.close()
    return 0


def cmd_generate(args: argparse.Namespace, _settings: Settings) -> int:
    """Write (or with --check, verify) the files derived from the contracts."""
    from iotmon import generate

    repo = Path(args.repo).resolve()
    if args.check:
        stale = generate.stale(repo)
        for path in stale:
            print(f"stale: {path.relative_to(repo)} (run `make generate`)", file=sys.stderr)
        return 1 if stale else 0
    for path in generate.write(repo):
        print(f"wrote {path.relative_to(repo)}")
    return 0


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    """What a device's rules — its configuration, or a candidate laid over it — would have raised over its stored
    history or a CSV file. Nothing is written."""
    from iotmon.core import backtest
    from iotmon.core.contracts.devices import ConfigUpdate
    from iotmon.core.contracts.validation import Invalid, convert, given
    from iotmon.core.rules import DeviceRules
    from iotmon.service.queries.devices import config

    try:
        changes = given(convert(json.loads(args.config), ConfigUpdate)) if args.config else {}
    except json.JSONDecodeError as problem:
        print(f"error: --config is not JSON: {problem}", file=sys.stderr)
        return 2
    except Invalid as invalid:
        print(f"error: --config: {invalid.message} {json.dumps(invalid.details)}", file=sys.stderr)
        return 2
    from iotmon.core.recorded import FileProblem

    try:
        with contextlib.ExitStack() as stack:
            row, readings = _backtest_input(args, settings, stack)
    except (OSError, FileProblem) as problem:
        print(f"error: {args.file}: {problem}", file=sys.stderr)
        return 1
    if row is None:
        print(
            f"error: device {args.device!r} is not registered (or leave out --device to judge a file)", file=sys.stderr
        )
        return 2
    merged, problems = backtest.candidate(row, changes)
    if problems:
        print(f"error: --config: {'; '.join(p['reason'] for p in problems)}", file=sys.stderr)
        return 2
    print(f"judging {len(readings):,} readings…", file=sys.stderr)
    result = backtest.backtest(DeviceRules.from_row(merged), readings)
    answer = backtest.answer(result, row["device_id"], "upload" if args.file else "history", config(merged))
    print(json.dumps(msgspec.to_builtins(answer), indent=2) if args.json else _backtest_text(answer))
    return 0


def _backtest_input(
    args: argparse.Namespace, settings: Settings, stack: contextlib.ExitStack
) -> tuple[dict[str, Any] | None, list[tuple[float, float]]]:
    """The device's row (defaults when no device is named) and the readings to judge."""
    from datetime import UTC, datetime, timedelta

    import psycopg
    from psycopg.rows import dict_row

    from iotmon.adapters.postgres import history
    from iotmon.core.recorded import Columns, Point, csv_points

    row: dict[str, Any] | None = _default_row(Path(args.file or "file").stem)
    if args.device:
        conn = stack.enter_context(psycopg.connect(stack.enter_context(_database(settings)), row_factory=dict_row))
        query = "SELECT * FROM devices WHERE device_id = %s AND decommissioned_at IS NULL"
        row = conn.execute(query, (args.device,)).fetchone()
        if row is not None and not args.file:
            end = datetime.fromisoformat(args.to) if args.to else datetime.now(UTC)
            start = datetime.fromisoformat(args.since) if args.since else end - timedelta(days=7)
            return row, history.readings(conn, args.device, start, end, limit=10_000_000)
    if not args.file:
        return row, []
    with open(args.file, encoding="utf-8-sig", newline="") as file:
        points = csv_points(iter(file), Columns(args.time_column, args.value_column), datetime.now(UTC))
        return row, [(p.at.timestamp(), p.value) for p in points if isinstance(p, Point)]


def _default_row(device_id: str) -> dict[str, Any]:
    """The configuration a newly registered device gets, as a `devices` row."""
    from iotmon.core.rules import DeviceRules

    rules = dataclasses.asdict(DeviceRules(device_id))
    whole = ("trend_horizon_s", "breach_for_s", "clear_after_s", "offline_timeout_s")  # INTEGER columns
    return {**rules, **{name: int(rules[name]) for name in whole}, "physical_min": None, "physical_max": None}


def _backtest_text(answer: Backtest) -> str:
    lines = [
        f"{answer.device_id}: {answer.readings:,} readings from {answer.from_} to {answer.to}",
        f"would have raised {answer.alert_count} alerts"
        + (f" ({', '.join(f'{n} {kind}' for kind, n in answer.per_type.items())})" if answer.alert_count else ""),
        *(f"  {day.day}: {day.alerts}" for day in answer.per_day),
        *(f"  {a.triggered_at}  {a.severity:<8} {a.type:<18} {a.message}" for a in answer.alerts[:50]),
    ]
    if len(answer.alerts) > 50:
        lines.append(f"  … and {answer.alert_count - 50} more (--json lists up to {len(answer.alerts)})")
    return "\n".join(lines)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import a device's recorded history into the database (DATABASE_URL, or the embedded one), as the API does."""
    import psycopg

    from iotmon.adapters.postgres import imports
    from iotmon.core.recorded import Columns, FileProblem

    if args.create and (problem := _registration_problem(args)):
        print(f"error: --create: {problem}", file=sys.stderr)
        return 2
    with _database(settings) as url:
        db.migrate(url)
        with psycopg.connect(url) as conn:
            if args.create:
                _register(conn, args)
            device = imports.target(conn, args.device)
            if device is None or device.decommissioned_at is not None:
                state = "not registered" if device is None else "decommissioned"
                print(
                    f"error: device {args.device!r} is {state}: add --create --type --unit --location", file=sys.stderr
                )
                return 2
            columns = Columns(args.time_column, args.value_column)
            try:
                with open(args.file, "rb") as file:
                    summary = imports.run(conn, device, _points(file, columns, args), "cli", _progress())
            except FileProblem as problem:
                print(f"error: {args.file}: {problem}; nothing was imported", file=sys.stderr)
                return 1
    print(json.dumps(msgspec.to_builtins(summary), indent=2))
    return 0


def _registration_problem(args: argparse.Namespace) -> str | None:
    from iotmon.core.contracts.devices import DeviceCreate
    from iotmon.core.contracts.validation import Invalid, convert

    given = {"deviceId": args.device, "type": args.type, "unit": args.unit, "location": args.location}
    try:
        convert({name: value for name, value in given.items() if value is not None}, DeviceCreate)
    except Invalid as invalid:
        return f"{invalid.message} {json.dumps(invalid.details)}" if invalid.details else invalid.message
    return None


def _register(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    """Register the device unless it is (the registry's bulk path: a device already there keeps its settings)."""
    from iotmon.adapters.postgres import registry

    if registry.register(conn, [registry.NewDevice(args.device, args.type, args.unit, args.location)]):
        print(f"registered {args.device} ({args.type}, {args.unit}, {args.location})", file=sys.stderr)


def _points(file: BinaryIO, columns: Columns, args: argparse.Namespace) -> Iterator[Point | Problem]:
    from iotmon.core.readings import MAX_FUTURE, utcnow
    from iotmon.core.recorded import csv_points, json_points

    latest = utcnow() + MAX_FUTURE
    if args.format == "json" or (args.format == "auto" and Path(args.file).suffix.lower() == ".json"):
        return json_points(file.read(), columns, latest)
    return csv_points(iter(io.TextIOWrapper(file, encoding="utf-8-sig", newline="")), columns, latest)


def _progress() -> Callable[[int], None]:
    """Rows read so far, on stderr, at most once a second (an import writes in batches of 5,000)."""
    last = time.monotonic()

    def report(rows: int) -> None:
        nonlocal last
        if time.monotonic() - last >= 1:
            last = time.monotonic()
            print(f"  {rows:,} rows read", file=sys.stderr, flush=True)

    return report


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from iotmon.simulator import cli as simulator_cli

    return simulator_cli.run(args, settings)


def cmd_bridge_opcua(args: argparse.Namespace, settings: Settings) -> int:
    from iotmon.bridges import opcua
    from iotmon.core.opcua import ConfigError, parse_config

    path = Path(args.config)
    try:
        config = parse_config(path.read_bytes(), str(path), url=args.url)
        password = opcua.password(config)
    except (OSError, ConfigError) as problem:
        print(f"iotmon: {problem}", file=sys.stderr)
        return 2
    stop = _stop_requested()
    with _event_log(settings) as transport:
        log.info("OPC UA bridge starting", extra=opcua.describe(config))
        opcua.OpcUaBridge(config, transport, password=password).run(stop)
    return 0


def _add_bridge_opcua(bridges: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    opcua = bridges.add_parser(
        "opcua",
        help="subscribe to an OPC UA server's nodes; their value changes become readings on sensors-data",
        description="Readings go to Kafka (KAFKA_BOOTSTRAP_SERVERS), or else to the embedded event log in "
        "PostgreSQL (DATABASE_URL, or IOTMON_DATA_DIR's). The password comes from the configuration's "
        "passwordFile or IOTMON_OPCUA_PASSWORD (README: Connecting an OPC UA server).",
    )
    opcua.add_argument(
        "--config",
        default=os.environ.get("IOTMON_OPCUA_CONFIG"),
        required="IOTMON_OPCUA_CONFIG" not in os.environ,
        help="the node mapping and connection, YAML or JSON (default $IOTMON_OPCUA_CONFIG)",
    )
    opcua.add_argument(
        "--url",
        default=os.environ.get("IOTMON_OPCUA_URL"),
        help="the server, opc.tcp://host:port/path, in place of the configuration's (default $IOTMON_OPCUA_URL)",
    )
    opcua.set_defaults(run=cmd_bridge_opcua)


def cmd_bridge_mqtt(args: argparse.Namespace, settings: Settings) -> int:
    """Long-lived: MQTT messages in, readings onto sensors-data (Kafka, else the embedded event log)."""
    from iotmon.adapters.postgres import db as database
    from iotmon.bridges import mqtt as bridge
    from iotmon.bridges.births import Registrar
    from iotmon.core.mqtt_config import ConfigError

    try:
        config = bridge.load_config(args.config)
    except ConfigError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    stop = _stop_requested()
    with _event_log(settings) as transport:
        registrar, pool = None, None
        if (key := args.api_key or settings.gateway_key) and (
            url := settings.database_url or _running_database(settings)
        ):
            pool = database.pool(url, max_size=2)
            try:
                registrar = Registrar.with_key(pool, key)
            except ValueError as problem:
                print(f"error: {problem}", file=sys.stderr)
                pool.close()
                return 2
        running = bridge.MqttBridge(config, transport, bridge.translators(config))
        if registrar:
            running.on_births = registrar
        running.start()
        print(
            f"mqtt bridge: {running.address} ({', '.join(s.topic for s in bridge.subscriptions(config))})"
            f" → {'Kafka' if settings.kafka_bootstrap_servers else 'the embedded event log'}"
            + ("" if registrar else "; announced devices are not registered (set DATABASE_URL and IOTMON_GATEWAY_KEY)"),
            file=sys.stderr,
            flush=True,
        )
        try:
            _wait_for(stop)
        finally:
            running.stop()
            if pool is not None:
                pool.close()
    return 0


def _running_database(settings: Settings) -> str | None:
    from iotmon.adapters.embedded import running_postgres

    return running_postgres(settings.data_dir / "postgres")


def _add_function_urls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--function-url",
        action="append",
        default=[],
        metavar="SERVICE=URL",
        help=f"where a function listens (repeatable; wins over ${endpoints.URLS_ENV})",
    )
    parser.add_argument(
        "--functions-base-port",
        type=int,
        metavar="PORT",
        help=f"first port of the default URLs (default ${endpoints.BASE_PORT_ENV} or {endpoints.DEFAULT_BASE_PORT})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iotmon", description="Real-time monitoring for a manufacturing line.")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser(
        "up", help="run the whole system in one process, or a few (--workers; embedded by default)"
    )
    up.add_argument("--port", type=int, help="HTTP port (default $PORT or 8080)")
    up.add_argument(
        "--fresh",
        action="store_true",
        help="delete the data directory first (also IOTMON_FRESH)",
    )
    up.add_argument("--no-simulator", action="store_true", help="do not start the device simulator")
    up.add_argument(
        "--no-mqtt", action="store_true", help="no embedded MQTT broker and bridge (also IOTMON_MQTT_PORT=off)"
    )
    up.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes sharing the functions' work, one per core at most (default $IOTMON_WORKERS or 1)",
    )
    up.set_defaults(run=cmd_up)

    worker = commands.add_parser("worker", help="one of `iotmon up --workers N`'s processes (it starts them)")
    worker.add_argument(
        "--share", required=True, metavar="K/N", help="the K-th of N (0 < K < N; 0 is `iotmon up` itself)"
    )
    worker.set_defaults(run=cmd_worker)

    commands.add_parser("migrate", help="apply the SQL migrations in schema/").set_defaults(run=cmd_migrate)

    router = commands.add_parser(
        "router",
        help="play KafkaSource/PingSource, delivering over HTTP to the function servers (local distributed mode)",
        description=endpoints.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_function_urls(router)
    router.set_defaults(run=cmd_router)

    dlq = commands.add_parser(
        "dlq",
        help="inspect and replay dead letters (Kafka, or the embedded event log)",
        description=DLQ_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq.add_parser("list", help="the dead letters not replayed yet, by kind and reason")
    dlq_list.add_argument("--json", action="store_true", help="every letter (up to --limit per topic) as JSON")
    dlq_list.add_argument("--limit", type=int, default=1000, help="letters read per topic (default 1000)")
    dlq_list.set_defaults(run=cmd_dlq_list)
    dlq_replay = dlq.add_parser("replay", help="send the dead letters worth it back to their topics")
    dlq_replay.add_argument(
        "--all", action="store_true", help="also the letters a function refused (4xx), once the cause is fixed"
    )
    _add_function_urls(dlq_replay)
    dlq_replay.set_defaults(run=cmd_dlq_replay)

    jwt_keys = commands.add_parser(
        "jwt-keys", help="rotate the embedded token signing keys (<data dir>/jwt-keys)"
    ).add_subparsers(dest="jwt_keys_command", required=True)
    jwt_keys.add_parser("rotate", help="a new signing key first; the old ones still accepted").set_defaults(
        run=cmd_jwt_keys
    )
    jwt_keys.add_parser("retire", help="keep only the signing key: the others' tokens stop working").set_defaults(
        run=cmd_jwt_keys
    )

    func = commands.add_parser("func", help="the functions, one at a time").add_subparsers(
        dest="func_command", required=True
    )
    func_run = func.add_parser("run", help="serve one function over HTTP with functions-framework, as `func run` would")
    func_run.add_argument("name", choices=endpoints.FUNCTIONS, help="the function's Knative Service name")
    func_run.add_argument("--port", type=int, help="HTTP port (default $PORT or 8080)")
    func_run.set_defaults(run=cmd_func_run)

    serve = commands.add_parser("serve", help="run only the REST + Socket.IO service (local distributed mode)")
    serve.add_argument("--port", type=int, help="HTTP port (default $PORT or 8080)")
    serve.set_defaults(run=cmd_serve)

    generate = commands.add_parser(
        "generate", help="write the files derived from the contracts (JSON Schemas, TypeScript types, OpenAPI)"
    )
    generate.add_argument("--check", action="store_true", help="only say which files are stale (exit 1)")
    generate.add_argument("--repo", default=".", help="the repository to write into (default: here)")
    generate.set_defaults(run=cmd_generate)

    imported = commands.add_parser(
        "import",
        help="import a device's recorded history (CSV or JSON) into the database, without alerts",
        description="Import recorded history onto a device: good rows are stored once (re-importing skips what is "
        "there), bad rows are counted and the first 20 named. Writes to DATABASE_URL, or the embedded database of "
        "IOTMON_DATA_DIR (that of a running `iotmon up`, or started for the while). No alert, notification or live "
        "value comes of it; it is kept for the retention counted from the import.",
    )
    imported.add_argument("file", type=Path, help="CSV with a header row (`,` `;` or tab), or JSON rows")
    imported.add_argument("--device", required=True, help="the device the rows are readings of")
    imported.add_argument("--time-column", default="timestamp", help="ISO 8601 (no offset = UTC) or epoch seconds")
    imported.add_argument("--value-column", default="value", help="the column of the values (default value)")
    imported.add_argument("--format", choices=["auto", "csv", "json"], default="auto", help="auto: .json is JSON")
    imported.add_argument("--create", action="store_true", help="register the device first if it is not registered")
    imported.add_argument("--type", help="--create: the device's type, e.g. temperature")
    imported.add_argument("--unit", help="--create: the unit of its values, e.g. celsius")
    imported.add_argument("--location", help="--create: where it is")
    imported.set_defaults(run=cmd_import)

    tested = commands.add_parser(
        "backtest",
        help="the alerts a device's rules (or a candidate configuration) would have raised over recorded data",
        description="Run the rules evaluate-rule runs over a device's stored history (DATABASE_URL or the embedded "
        "database; the last 7 days by default) or a CSV file, under the device's configuration or a candidate laid "
        "over it, and list the alerts they would have raised. Nothing is written. Without --device a file is judged "
        "with the default configuration (and --config).",
    )
    tested.add_argument("file", nargs="?", help="a CSV with a header row (`,` `;` or tab); default: stored history")
    tested.add_argument("--device", help="the device whose configuration (and history) is judged")
    tested.add_argument(
        "--config", help="a candidate configuration, as PUT /api/devices/:id/config takes it: '{\"alertMax\": 90}'"
    )
    tested.add_argument("--since", help="history from this ISO 8601 time (default: 7 days before --to)")
    tested.add_argument("--to", help="history up to this ISO 8601 time (default: now)")
    tested.add_argument("--time-column", default="timestamp", help="the file's time column (ISO 8601 or epoch seconds)")
    tested.add_argument("--value-column", default="value", help="the file's value column")
    tested.add_argument("--json", action="store_true", help="the answer as POST /api/devices/:id/backtest gives it")
    tested.set_defaults(run=cmd_backtest)

    bridge = commands.add_parser("bridge", help="plant protocols in: MQTT (with Sparkplug B), OPC UA").add_subparsers(
        dest="bridge_command", required=True
    )
    bridge_mqtt = bridge.add_parser(
        "mqtt",
        help="subscribe to an MQTT broker and put its messages on sensors-data as readings",
        description="Subscribe to an MQTT broker (IOTMON_MQTT_URL, or the configuration file's broker) and hand "
        "every message on to sensors-data as a reading, by the mapping rules and the default topic convention "
        "iotmon/<location>/<deviceId>/<sensorType> with {value, unit, timestamp}. QoS 1 messages are acknowledged "
        "only once the transport has their readings. Events go to Kafka (KAFKA_BOOTSTRAP_SERVERS), else to the "
        "embedded event log (DATABASE_URL, or a running `iotmon up`'s). README: Connecting a real MQTT gateway.",
    )
    bridge_mqtt.add_argument("--config", type=Path, help="YAML or JSON file (default $IOTMON_MQTT_CONFIG)")
    bridge_mqtt.add_argument(
        "--api-key", help="gateway API key whose permission registers announced devices (default $IOTMON_GATEWAY_KEY)"
    )
    bridge_mqtt.set_defaults(run=cmd_bridge_mqtt)
    _add_bridge_opcua(bridge)

    from iotmon.simulator import cli as simulator_cli

    simulate = commands.add_parser("simulate", help="send readings to Kafka: live devices, load, or CSV replay")
    simulator_cli.add_arguments(simulate)
    simulate.set_defaults(run=cmd_simulate)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as problem:  # a variable that is wrong: say which and stop, without a traceback
        print(f"iotmon: {problem}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    run: Callable[[argparse.Namespace, Settings], int] = args.run
    return run(args, settings)


if __name__ == "__main__":
    sys.exit(main())
