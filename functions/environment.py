"""Connections for a function run by functions-framework, configured from the environment.

In-process (the router, `iotmon up`) the functions get their connections
passed in; served over HTTP by Knative they build them here once per process
(the template's start hook), from DATABASE_URL, REDIS_URL and
KAFKA_BOOTSTRAP_SERVERS.
"""

from __future__ import annotations

import os
from functools import cache

import redis
import socketio
from psycopg_pool import ConnectionPool

from eventing.kafka import KafkaTransport
from iotmon import db
from iotmon.redis_keys import SOCKETIO_CHANNEL


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"{name} is not set: the function needs it to reach its server")
    return value


@cache
def database() -> ConnectionPool:
    return db.pool(_required("DATABASE_URL"))


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(_required("REDIS_URL"), socket_timeout=5)


@cache
def kafka() -> KafkaTransport:
    return KafkaTransport(_required("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("K_SERVICE", "iotmon-function"))


@cache
def socketio_emitter() -> socketio.RedisManager:
    """Publishes Socket.IO events through Redis to every service replica (write-only: no listener thread)."""
    return socketio_manager(_required("REDIS_URL"))


def socketio_manager(redis_url: str) -> socketio.RedisManager:
    return socketio.RedisManager(redis_url, channel=SOCKETIO_CHANNEL, write_only=True)
