"""A real Apache Kafka 4.x broker (KRaft, single node) for tests and benchmarks.

The broker jars come from Maven Central (no Docker, no tarball download): Maven copies
`kafka_2.13` and its runtime dependencies into a cache dir once, then each broker is a
plain `java -cp '<libs>/*' kafka.Kafka` in its own temp dir on free loopback ports.

    with KafkaBroker() as broker:
        broker.create_topics(["telemetry"])
        ...  # use broker.bootstrap_servers

`python -m tests.support.kafka_broker` starts one and waits for Ctrl-C.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

KAFKA_VERSION = os.environ.get("IOTMON_KAFKA_VERSION", "4.4.0")
KAFKA_FALLBACK_VERSION = "4.3.1"
POM = Path(__file__).resolve().parent / "kafka" / "pom.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.11.0"
MARKER = ".complete"  # written last, so a half-finished fetch is redone
NODE_ID = 1
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
JVM_OPTS = [
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
]
LOG4J2_PROPERTIES = """\
# WARN only: INFO is tens of MB per test run and slows the broker down.
status = warn
name = iotmon-test-broker
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
"""


# --------------------------------------------------------------------------- jars


def cache_dir() -> Path:
    return Path(os.environ.get("IOTMON_CACHE_DIR", "~/.cache/iotmon")).expanduser()


def kafka_libs(version: str = KAFKA_VERSION) -> Path:
    """Return the dir holding Kafka `version`'s jars, fetching them once from Maven Central.

    If the default version cannot be fetched, the fallback version is used instead.
    """
    try:
        return _fetch_libs(version)
    except RuntimeError as err:
        if version != KAFKA_VERSION or version == KAFKA_FALLBACK_VERSION:
            raise
        print(f"Kafka {version}: {err}\nfalling back to Kafka {KAFKA_FALLBACK_VERSION}", file=sys.stderr)
        return _fetch_libs(KAFKA_FALLBACK_VERSION)


def _fetch_libs(version: str) -> Path:
    libs = cache_dir() / f"kafka-{version}" / "libs"
    if (libs / MARKER).exists():
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    # A file lock, so parallel test workers run Maven once between them.
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (libs / MARKER).exists():
            _run_maven(version, libs)
    return libs


def _run_maven(version: str, libs: Path) -> None:
    shutil.rmtree(libs, ignore_errors=True)  # drop a previous partial fetch
    print("fetching Kafka jars from Maven Central (once)…", file=sys.stderr, flush=True)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(POM),
        f"-Dkafka.version={version}",
        f"-Dlibs.dir={libs}",
        f"{DEPENDENCY_PLUGIN}:copy-dependencies",
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if res.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
        out = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout + res.stderr)  # Debian's mvn colours even with -B
        raise RuntimeError(f"mvn failed ({res.returncode}):\n{out[-3000:]}")
    (libs / MARKER).write_text(version + "\n")


# --------------------------------------------------------------------------- broker


def free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kafka_uuid() -> str:
    """A Kafka-style UUID: 16 random bytes, url-safe base64, no padding (22 chars)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # Kafka's own Uuid.randomUuid() skips these too: the CLI would parse "-x…" as a flag.
        if not text.startswith("-"):
            return text


def server_properties(data_dir: Path, port: int, cport: int, sasl_port: int | None = None) -> str:
    props: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": NODE_ID,
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{cport}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": data_dir,
        # One node: every internal topic must fit on it.
        "offsets.topic.replication.factor": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "default.replication.factor": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        # One partition (not 50) per internal topic: created and loaded ~3x faster.
        "offsets.topic.num.partitions": 1,
        "transaction.state.log.num.partitions": 1,
        # Tests want their consumer group to start now, not after 3 s.
        "group.initial.rebalance.delay.ms": 0,
        # The 128 MiB default is allocated up front and OOMs a small heap; Kafka wants
        # strictly more than 1 MiB per cleaner thread, so exactly 1048576 is rejected.
        "log.cleaner.dedupe.buffer.size": 2 * 1024 * 1024,
        "num.partitions": 4,
        # Tests create what they use; a typo should fail, not make a topic.
        "auto.create.topics.enable": "false",
    }
    if sasl_port is not None:
        props |= sasl_properties(port, cport, sasl_port)
    return "".join(f"{k}={v}\n" for k, v in props.items())


def sasl_properties(port: int, cport: int, sasl_port: int) -> dict[str, object]:
    """A SCRAM-SHA-512 listener beside the plain one, with ACLs enforced for the users who log in there. The
    plain and controller listeners' clients (ANONYMOUS: the tests' admin, the broker itself) may do anything."""
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "false",
    }


class KafkaBroker:
    """One single-node KRaft broker in a temp dir; a context manager."""

    def __init__(self, version: str = KAFKA_VERSION, scram_users: Mapping[str, str] | None = None) -> None:
        """`scram_users` (name → password): also a SASL_PLAINTEXT listener (`sasl_bootstrap_servers`) where
        they log in with SCRAM-SHA-512 and may do only what ACLs allow them."""
        self.version = version
        self.scram_users = dict(scram_users or {})
        self.port = 0
        self.bootstrap_servers = ""
        self.sasl_bootstrap_servers = ""
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "broker.log"

    def start(self) -> KafkaBroker:
        libs = kafka_libs(self.version)
        self.version = libs.parent.name.removeprefix("kafka-")  # the fallback may have been used
        self.dir = Path(tempfile.mkdtemp(prefix="iotmon-kafka-"))
        atexit.register(self.stop)  # before the JVM exists, so it can never be missed
        try:
            self._launch(libs)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            _signal(proc, signal.SIGTERM)  # controlled shutdown
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        atexit.unregister(self.stop)

    def create_topics(self, names: list[str], partitions: int = 4) -> None:
        """Create topics (existing ones are fine) and wait until every partition has a leader."""
        admin = self._admin()
        new = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
        for future in admin.create_topics(new, operation_timeout=30).values():
            try:
                future.result(timeout=60)
            except KafkaException as err:
                if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        self._wait_for_leaders(admin, names)

    # -- internals

    def _launch(self, libs: Path) -> None:
        assert self.dir is not None
        self.port, cport = free_port(), free_port()
        self.bootstrap_servers = f"127.0.0.1:{self.port}"
        sasl_port = free_port() if self.scram_users else None
        self.sasl_bootstrap_servers = f"127.0.0.1:{sasl_port}" if sasl_port else ""
        config = self._write_config(cport, sasl_port)
        scram = [
            arg
            for name, password in self.scram_users.items()
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
        ]
        self._java(libs, "kafka.tools.StorageTool", "format", "-t", kafka_uuid(), "-c", str(config), *scram)
        with open(self.dir / "console.log", "ab") as console:  # JVM errors before log4j is up
            self.proc = subprocess.Popen(
                self._java_cmd(libs, "kafka.Kafka", str(config)),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal goes to us, not the JVM
                preexec_fn=_die_with_parent(),
            )

    def _write_config(self, cport: int, sasl_port: int | None) -> Path:
        assert self.dir is not None
        (self.dir / "data").mkdir()
        config = self.dir / "server.properties"
        config.write_text(server_properties(self.dir / "data", self.port, cport, sasl_port))
        (self.dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_file=self.log_file))
        return config

    def _java_cmd(self, libs: Path, main: str, *args: str) -> list[str]:
        assert self.dir is not None
        return [
            "java",
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.dir}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _java(self, libs: Path, main: str, *args: str) -> None:
        res = subprocess.run(
            self._java_cmd(libs, main, *args), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
        )
        if res.returncode != 0:
            raise RuntimeError(f"{main} {args[0]} failed ({res.returncode}):\n{res.stdout}{res.stderr}")

    def _admin(self) -> AdminClient:
        # log_level 4: no librdkafka info chatter in test output; failures surface as exceptions.
        return AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 4})

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        _wait_for_port(self.port, deadline, self.proc)  # keeps librdkafka from logging refusals
        admin = self._admin()
        while time.monotonic() < deadline and self._alive():
            try:
                if NODE_ID in admin.list_topics(timeout=2).brokers:
                    self._warm_up_group_coordinator(admin, deadline)
                    return
            except KafkaException:
                pass
            time.sleep(0.1)
        why = "exited early" if not self._alive() else f"not ready after {READY_TIMEOUT_S:.0f} s"
        raise RuntimeError(f"Kafka broker {self.bootstrap_servers} {why}\n{self._log_tail()}")

    def _warm_up_group_coordinator(self, admin: AdminClient, deadline: float) -> None:
        # __consumer_offsets is only created on the first FindCoordinator; a test's first
        # consumer would then get NOT_COORDINATOR and librdkafka rejoins ~3 s later.
        while True:
            try:
                admin.describe_consumer_groups(["iotmon-warm-up"])["iotmon-warm-up"].result()
                return
            except KafkaException:  # NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS meanwhile
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _wait_for_leaders(self, admin: AdminClient, names: list[str], timeout: float = 30.0) -> None:
        # CreateTopics returns once the controller commits; the broker's metadata may lag.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            topics = admin.list_topics(timeout=5).topics
            if all(
                n in topics
                and topics[n].partitions
                and topics[n].error is None
                and all(p.leader >= 0 for p in topics[n].partitions.values())
                for n in names
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"topics {names} have no leaders after {timeout:.0f} s")

    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _log_tail(self, lines: int = 40) -> str:
        assert self.dir is not None
        parts = []
        for log in (self.log_file, self.dir / "console.log"):
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"--- {log.name} (last {lines} lines) ---\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)


def _wait_for_port(port: int, deadline: float, proc: subprocess.Popen[bytes] | None) -> None:
    while time.monotonic() < deadline and proc is not None and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(proc.pid, sig)  # the JVM leads its own session (start_new_session)


# Looked up now, in the parent: the child of fork() should call as little as possible.
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None


def _die_with_parent() -> Callable[[], None] | None:
    """preexec_fn making the kernel SIGKILL the JVM if this Python process dies (even by kill -9).

    PDEATHSIG fires when the *thread* that forked exits, so it is only set from the main thread.
    """
    if _prctl is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()

    def preexec() -> None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # parent already gone before prctl took effect
            os._exit(1)

    return preexec


@contextmanager
def kafka_broker(topics: Sequence[str] = ()) -> Iterator[KafkaBroker]:
    """A started broker with `topics` created; for fixtures."""
    with KafkaBroker() as broker:
        if topics:
            broker.create_topics(list(topics))
        yield broker


def main() -> None:
    topics = sys.argv[1:]
    t0 = time.monotonic()
    with kafka_broker(topics) as broker:
        print(
            f"Kafka {broker.version} ready in {time.monotonic() - t0:.1f} s: "
            f"bootstrap.servers={broker.bootstrap_servers}  (dir {broker.dir}; Ctrl-C stops)",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
