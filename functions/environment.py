"""Connections for a function run by functions-framework, configured from the environment.

In-process (the router, `iotmon up`) the functions get their connections
passed in; served over HTTP by Knative they build them here once per process
(the template's start hook), from the settings (DATABASE_URL, REDIS_URL,
KAFKA_BOOTSTRAP_SERVERS, …).
"""

from __future__ import annotations

from functools import cache

import redis
import socketio
from psycopg_pool import ConnectionPool

from eventing.kafka import KafkaTransport
from iotmon.adapters.postgres import db
from iotmon.adapters.redis.keys import SOCKETIO_CHANNEL
from iotmon.adapters.settings import Settings


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def database() -> ConnectionPool:
    return db.pool(settings().server("DATABASE_URL"))


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings().server("REDIS_URL"), socket_timeout=5)


@cache
def kafka() -> KafkaTransport:
    return KafkaTransport(settings().server("KAFKA_BOOTSTRAP_SERVERS"), settings().client_id)


@cache
def socketio_emitter() -> socketio.RedisManager:
    """Publishes Socket.IO events through Redis to every service replica (write-only: no listener thread)."""
    return socketio_manager(settings().server("REDIS_URL"))


def socketio_manager(redis_url: str) -> socketio.RedisManager:
    return socketio.RedisManager(redis_url, channel=SOCKETIO_CHANNEL, write_only=True)
