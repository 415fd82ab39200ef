"""Connections for a function run by functions-framework, configured from the environment.

In-process (the router, `iotmon up`) the functions get their connections
passed in; served over HTTP by Knative they build them here once per process
(the template's start hook), from the settings (DATABASE_URL, REDIS_URL,
KAFKA_BOOTSTRAP_SERVERS, …).
"""

from __future__ import annotations

import os
from functools import cache

import redis
from psycopg_pool import ConnectionPool

from eventing.kafka import KafkaTransport
from iotmon.adapters import logs
from iotmon.adapters.postgres import db
from iotmon.adapters.redis import clients
from iotmon.adapters.redis.live_emitter import LiveEmitter
from iotmon.adapters.settings import Settings


@cache
def settings() -> Settings:
    """Read once per process; the logs become structured (JSON) here, as `iotmon` sets them up."""
    found = Settings.from_env()
    logs.setup(found.log_level)
    return found


@cache
def database() -> ConnectionPool:
    # A connection for each of functions-framework's request threads (THREADS; containerConcurrency in the
    # manifests), so no request waits for another's connection.
    threads = int(os.environ.get("THREADS") or (os.cpu_count() or 1) * 4)  # functions-framework's default
    return db.pool(settings().server("DATABASE_URL"), max_size=threads)


@cache
def redis_client() -> redis.Redis:
    return clients.client(settings().server("REDIS_URL"), clients.BATCH_TIMEOUT_S)


@cache
def kafka() -> KafkaTransport:
    return KafkaTransport(settings().server("KAFKA_BOOTSTRAP_SERVERS"), settings().client_id)


@cache
def live_emitter() -> LiveEmitter:
    """Publishes the live view's messages through Redis to every service replica."""
    return LiveEmitter(settings().server("REDIS_URL"))
