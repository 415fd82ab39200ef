"""escalate-cron: on every PingSource tick, escalate, detect offline devices, apply retention.

- Alerts still `triggered` (unacknowledged) for longer than `escalate_after_s`
  become `escalated` (history row, `escalated` event: notify sends again).
- A device with no data for more than its `offline_timeout_s` (or the
  constructor's override) raises `device_offline` (one open alert, the same
  `iotmon.adapters.postgres.alerts` machinery); the next tick that sees its data again resolves
  it. This function owns the timeout rule — evaluate-rule opens `device_offline`
  only when the plant reports a device gone — so resolution takes at most one tick.
  An alert the plant reported (evaluate-rule, from a device presence report) is
  resolved here only by data newer than the report, as the device's last readings
  before its death are still within its timeout. Last seen is
  `device:<id>:current` in Redis when present, else max(timestamp) from
  sensor_readings (one query for all such devices), not counting imported
  history (readings up to the newest imported one). A device that never sent
  anything live, or whose status is not `active`, raises nothing.
- Retention (RETENTION_SQL): raw readings 3 months (whole
  monthly partitions), hourly stats 1 year, resolved alerts 6 months (their
  history goes with them), system events 1 month. Imported history counts
  from its import: 3 months raw, 1 year hourly (schema/014_reading_imports.sql).

All of it runs in one transaction under `pg_try_advisory_xact_lock`: a tick
that finds another one running does nothing, and every move is a no-op when
repeated, so ticks may overlap or be redelivered freely. Every change is
committed with its outbox row; after the commit the tick relays the outbox
(its own changes, and any that a crash elsewhere left unpublished: the tick is
the outbox's periodic safety net), then `alerts:active` is rebuilt.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Any

import psycopg
import redis
from cloudevents.http import CloudEvent
from psycopg_pool import ConnectionPool

from eventing.events import alert_sender
from eventing.transport import Publisher, waiting_s
from eventing.wiring import Wiring, load_wiring
from functions import environment
from functions.serving import entry_point
from iotmon.adapters import faults
from iotmon.adapters.postgres import alerts, outbox, storage
from iotmon.adapters.redis import active_alerts
from iotmon.adapters.redis.keys import current
from iotmon.core.alerts import DEVICE_OFFLINE
from iotmon.core.contracts.alerts import AlertChange

log = logging.getLogger(__name__)

SOURCE = "/iotmon/escalate-cron"
LOCK_ID = 7_301_003  # pg_try_advisory_xact_lock: one tick at a time
RETENTION_SQL = (
    "SELECT drop_sensor_readings_partitions_before(%(now)s::timestamptz - interval '3 months')",
    # The rollups of imported history are kept a year after their import (schema/014_reading_imports.sql).
    "DELETE FROM device_stats_hourly h WHERE hour_timestamp < %(now)s::timestamptz - interval '1 year'"
    " AND NOT EXISTS (SELECT 1 FROM reading_imports ri WHERE ri.device_id = h.device_id"
    " AND ri.imported_at > %(now)s::timestamptz - interval '1 year'"
    " AND h.hour_timestamp >= date_trunc('hour', ri.first_at) AND h.hour_timestamp <= ri.last_at)",
    "DELETE FROM alerts WHERE status = 'resolved' AND resolved_at < %(now)s::timestamptz - interval '6 months'",
    "DELETE FROM system_events WHERE timestamp < %(now)s::timestamptz - interval '1 month'",
    "DELETE FROM reading_imports WHERE imported_at < %(now)s::timestamptz - interval '1 year'",  # holding nothing
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EscalateCron:
    """The function's core: one call is one tick; returns the alert changes made."""

    def __init__(
        self,
        pool: ConnectionPool,
        redis_client: redis.Redis,
        publisher: Publisher,
        *,
        escalate_after_s: float = 300.0,
        offline_timeout_s: float | None = None,  # None: each device's devices.offline_timeout_s
        retention: bool = True,
        clock: Callable[[], datetime] = _utcnow,
        waiting: Callable[[datetime], float] = lambda _now: 0.0,
    ) -> None:
        self.pool = pool
        self.redis = redis_client
        self.publisher = publisher
        self.escalate_after_s = escalate_after_s
        self.offline_timeout_s = offline_timeout_s
        self.retention = retention
        self.clock = clock
        self.waiting = waiting  # how long readings accepted have waited for ingest and aggregate (`feeds`)
        self.last_tick: dict[str, Any] = {}

    def __call__(self, events: Sequence[CloudEvent] = ()) -> list[AlertChange]:
        now = self.clock()
        behind = self._behind(now)  # before the transaction: it may wait on the broker
        changes: list[AlertChange] = []
        with self.pool.connection() as conn:
            with conn.transaction():
                (locked,) = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (LOCK_ID,)).fetchone() or (False,)
                if not locked:
                    self.last_tick = {"skipped": True}
                    return []
                cutoff = now - timedelta(seconds=self.escalate_after_s)
                changes += alerts.escalate_due(conn, cutoff, at=now, source=SOURCE)
                changes += self._offline(conn, now, behind)
                dropped = self._retain(conn, now) if self.retention else {}
            faults.point("after-alert-commit")
            if changes:  # first, as evaluate-rule does
                active_alerts.changed(self.redis, lambda: alerts.open_alerts_document(conn))
            else:  # the minute's safety net: a document Redis lost, or one a writer left behind, is rewritten
                active_alerts.rewrite(self.redis, lambda: alerts.open_alerts_document(conn))
            outbox.relay(conn, alert_sender(self.publisher))
        self.last_tick = {"skipped": False, "changes": len(changes), **dropped}
        return changes

    def _behind(self, now: datetime) -> float:
        """How long readings accepted have waited for ingest and aggregate; 0 if that cannot be told now (the
        broker down: the offline check then goes on without the grace rather than not at all)."""
        try:
            return self.waiting(now)
        except Exception:
            log.warning("could not tell how far the pipeline is behind", exc_info=True)
            return 0.0

    def _offline(self, conn: psycopg.Connection, now: datetime, behind: float) -> list[AlertChange]:
        devices = conn.execute(
            "SELECT device_id, offline_timeout_s, coalesce(status, 'active') FROM devices"
            " WHERE decommissioned_at IS NULL ORDER BY device_id"
        ).fetchall()
        if not devices:
            return []
        timeouts = {device: float(self.offline_timeout_s or timeout) for device, timeout, _ in devices}
        seen = self._last_seen(conn, list(timeouts.items()), now)
        # While the pipeline runs behind (`behind` s), the readings that would show a device alive may be queued
        # still: a device is silent for how long the system has had its data, not for how long ago that was.
        # device → since when data resolves its open alert: any data for a timeout, newer data for a plant report
        open_offline: dict[str, datetime | None] = {
            device: triggered_at if reported else None
            for device, triggered_at, reported in conn.execute(
                "SELECT device_id, triggered_at, details ->> 'reportedBy' = 'plant' FROM alerts"
                " WHERE alert_type = %s AND status <> 'resolved'",
                (DEVICE_OFFLINE,),
            )
        }
        opening: list[alerts.Opening] = []
        back: dict[str, dict[str, Any]] = {}  # device → its resolution's details
        for device, _, status in devices:
            last = seen.get(device)
            if last is None:
                continue
            timeout = timeouts[device]
            silent = (now - last).total_seconds()
            details = {"lastSeen": alerts.iso(last), "silentSeconds": round(silent, 1), "timeoutSeconds": timeout}
            if behind >= 1.0:
                details["pipelineBehindSeconds"] = round(behind, 1)
            if silent - behind > timeout and status == "active":  # the grace delays an alert, never a resolution
                message = f"{device} has sent no data for {silent:.0f} s (timeout {timeout:g} s)"
                opening.append(alerts.Opening(device, DEVICE_OFFLINE, "high", message, None, timeout, details))
            elif silent <= timeout and device in open_offline and _after(last, open_offline[device]):
                back[device] = details
        # Set-based: a plant whose network drops (or comes back) moves thousands of alerts in one tick.
        return alerts.trigger_many(conn, opening, at=now, source=SOURCE) + alerts.resolve_many(
            conn, DEVICE_OFFLINE, back, at=now, source=SOURCE, note="data received again"
        )

    def _last_seen(
        self, conn: psycopg.Connection, devices: list[tuple[str, float]], now: datetime
    ) -> dict[str, datetime]:
        """Each device's last reading time: Redis's current value (aggregate's), and PostgreSQL's (ingest's) for the
        devices Redis has no recent reading of, so that a pipeline running behind does not make devices that send
        look silent (one query for all of them)."""
        seen: dict[str, datetime] = {}
        for (device, _), raw in zip(devices, self.redis.mget([current(device) for device, _ in devices]), strict=True):
            if raw:
                with contextlib.suppress(ValueError, KeyError, TypeError):  # unreadable: PostgreSQL knows
                    seen[device] = datetime.fromisoformat(json.loads(raw)["timestamp"])
        stale = [d for d, timeout in devices if d not in seen or (now - seen[d]).total_seconds() > timeout]
        if stale:
            # Imported history is no sign of life: only readings after the newest imported one count.
            rows = conn.execute(
                "SELECT d, (SELECT max(timestamp) FROM sensor_readings r WHERE r.device_id = d AND r.timestamp >"
                " coalesce((SELECT max(last_at) FROM reading_imports ri WHERE ri.device_id = d), '-infinity'))"
                " FROM unnest(%s::text[]) AS d",
                (stale,),
            ).fetchall()
            for device, last in rows:
                if last is not None and (device not in seen or last > seen[device]):
                    seen[device] = last
        return seen

    def _retain(self, conn: psycopg.Connection, now: datetime) -> dict[str, Any]:
        params = {"now": now}
        partitions = [row[0] for row in conn.execute(RETENTION_SQL[0], params).fetchall()]
        stats, alerts_deleted, events, _ = (conn.execute(query, params).rowcount for query in RETENTION_SQL[1:])
        if partitions:
            storage.forget_cache()
            log.info("partitions dropped by retention", extra={"partitions": partitions})
        return {
            "droppedPartitions": partitions,
            "deletedStats": stats,
            "deletedAlerts": alerts_deleted,
            "deletedEvents": events,
        }


def _after(last: datetime, since: datetime | None) -> bool:
    return since is None or last > since


# functions-framework entry point: one PingSource event per HTTP request.


@cache
def _instance() -> EscalateCron:
    return EscalateCron(
        environment.database(),
        environment.redis_client(),
        environment.kafka(),
        escalate_after_s=environment.settings().escalate_after_s,
        waiting=partial(waiting_s, environment.kafka(), feeds(load_wiring())),
    )


def feeds(wiring: Wiring) -> list[tuple[str, str]]:
    """The (topic, consumer group) pairs whose progress shows a device alive: ingest's and aggregate's."""
    return sorted({(topic, s.group) for s in wiring.subscriptions if s.function in LIVENESS for topic in s.topics})


LIVENESS = ("ingest", "aggregate")  # PostgreSQL's last reading and Redis's current value: what `_last_seen` reads


handle = entry_point(_instance)
