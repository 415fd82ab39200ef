"""Devices the plant announces (a Sparkplug DBIRTH), registered with the bridge's gateway key's permission.

As POST /api/readings does for a gateway key: a key that may register devices registers the ones it is the
first to name, within its scope; a device already registered keeps its settings, a decommissioned one stays
decommissioned. Straight into PostgreSQL (one statement a batch) rather than through the REST API: the
registration must be done before the batch's readings reach ingest, the API has no call that registers a
device under a gateway key without a reading, and the bridge runs beside the functions, which have
DATABASE_URL already.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from psycopg_pool import ConnectionPool

from iotmon.adapters.postgres import api_keys, registry
from iotmon.core.bridging import Birth
from iotmon.core.writers import Writer

log = logging.getLogger(__name__)


class Registrar:
    """The bridge's `on_births` hook."""

    def __init__(self, pool: ConnectionPool, writer: Writer) -> None:
        self.pool = pool
        self.writer = writer
        self._known: set[str] = set()  # registered (by us or before): births repeat at every reconnection

    @classmethod
    def with_key(cls, pool: ConnectionPool, key: str) -> Registrar:
        with pool.connection() as conn:
            writer = api_keys.find_writer(conn, key)
        if writer is None:
            raise ValueError("the bridge's gateway API key is unknown or revoked")
        return cls(pool, writer)

    def __call__(self, births: Sequence[Birth]) -> None:
        new = [birth for birth in births if birth.device_id not in self._known]
        if not new:
            return
        allowed = [
            birth
            for birth in new
            if self.writer.auto_register and self.writer.may_write(birth.device_id, birth.location)
        ]
        if refused := [birth.device_id for birth in new if birth not in allowed]:
            log.warning(
                "announced devices not registered: the gateway key may not register them",
                extra={"key": self.writer.name, "devices": refused[:20]},
            )
        devices = [
            registry.NewDevice(birth.device_id, birth.sensor_type, birth.unit, birth.location or "unknown")
            for birth in allowed
        ]
        with self.pool.connection() as conn:
            registered = registry.register(conn, devices)
        if registered:
            log.info(
                "devices registered from their births", extra={"devices": registered[:20], "count": len(registered)}
            )
        self._known.update(birth.device_id for birth in new)
