"""Alerts in PostgreSQL: the lifecycle's moves, each one atomic with its history row.

Statuses: triggered → acknowledged / escalated → resolved (iotmon.core.alerts).
PostgreSQL guarantees one open alert per (device, type) (`idx_alerts_one_open`),
so concurrent evaluators and redeliveries meet in the database: a move that
has already been made is a no-op and returns nothing. Every move that happens
writes exactly one `alert_history` row in the same statement, and its
`alert_outbox` row (iotmon.adapters.postgres.outbox) in the same transaction,
and returns the change as the alert event's data (the AlertChange contract),
with `sequence` = that row's id. `source` names who made it (the event's
CloudEvent source); publishing is the outbox relay's job.

System moves (rules, escalation) return `None` or `[]` when there is nothing to
do; operator moves (`acknowledge`, `resolve`) raise `AlertNotFound` or
`InvalidTransition`, which the REST API turns into 404 / 409.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from iotmon.adapters.postgres import outbox
from iotmon.core import timestamps
from iotmon.core.alerts import ALLOWED, SEVERITIES, AlertNotFound, InvalidTransition, Status, alert_id
from iotmon.core.contracts.alerts import ActiveAlert, Alert, AlertChange, AlertStep

SYSTEM = "system"
# The columns `alert()` reads, for every query that shows alerts.
ALERT_COLUMNS = (
    "id, device_id, alert_type, message, severity, value::float8, threshold::float8, status,"
    " triggered_at, acknowledged_at, resolved_at, escalated_at, acknowledged_by, resolved_by, details"
)
STEP_COLUMNS = "id, action, from_status, to_status, actor, note, details, at"


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else timestamps.iso(moment)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def change(row: Mapping[str, Any]) -> AlertChange:
    """One change: an alert row joined with its history row (seq, action, actor, note, at)."""
    return AlertChange(
        alert_id=alert_id(row["id"]),
        device_id=row["device_id"],
        type=row["alert_type"],
        severity=row["severity"],
        status=row["status"],
        action=row["action"],
        message=row["message"],
        value=_number(row["value"]),
        threshold=_number(row["threshold"]),
        timestamp=timestamps.iso(row["at"]),
        triggered_at=iso(row["triggered_at"]),
        actor=row["actor"],
        note=row["note"],
        details=_json_safe(row["details"] or {}),
        sequence=row["seq"],
    )


def alert(row: Mapping[str, Any]) -> Alert:
    """An alert as the API shows it, from a row of ALERT_COLUMNS."""
    return Alert(
        id=alert_id(row["id"]),
        device_id=row["device_id"],
        type=row["alert_type"],
        message=row["message"],
        severity=row["severity"],
        value=row["value"],
        threshold=row["threshold"],
        status=row["status"],
        triggered_at=timestamps.iso(row["triggered_at"]),
        acknowledged_at=iso(row["acknowledged_at"]),
        resolved_at=iso(row["resolved_at"]),
        escalated_at=iso(row["escalated_at"]),
        acknowledged_by=row["acknowledged_by"],
        resolved_by=row["resolved_by"],
        details=row["details"] or {},
    )


def step(row: Mapping[str, Any]) -> AlertStep:
    """One entry of an alert's history, from a row of STEP_COLUMNS."""
    return AlertStep(
        sequence=row["id"],
        action=row["action"],
        from_status=row["from_status"],
        to_status=row["to_status"],
        actor=row["actor"],
        note=row["note"],
        details=row["details"] or {},
        at=timestamps.iso(row["at"]),
    )


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: float(v) if isinstance(v, Decimal) else str(v)))


def _atomic(conn: psycopg.Connection) -> AbstractContextManager[object]:
    """A transaction for one move, or, inside the caller's transaction (evaluate-rule's batch), part of that:
    no savepoint, whose two extra round trips per move would buy nothing, since a failed move fails the
    caller's transaction whole."""
    return conn.transaction() if conn.info.transaction_status == TransactionStatus.IDLE else nullcontext()


def _lock(conn: psycopg.Connection, device_id: str, alert_type: str) -> None:
    """Serialise the moves that open or close the alert of one (device, type), until the transaction ends.

    The unique index alone is not enough under READ COMMITTED: an INSERT whose
    snapshot predates a concurrent resolve would see no resolved alert (so its
    redelivery guard passes) and no conflict (the resolved row has left the
    partial index), and open a second alert. Under this lock each statement's
    snapshot sees the other's commit.
    """
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7301004))",
        (f"{device_id}/{alert_type}",),
    )


def _lock_many(conn: psycopg.Connection, keys: Sequence[tuple[str, str]]) -> None:
    """`_lock` for many (device, type) pairs in one statement, in one order (so two such calls cannot deadlock)."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 7301004)) FROM unnest(%s::text[]) AS k ORDER BY k",
        (sorted({f"{device}/{kind}" for device, kind in keys}),),
    )


_MOVE = """
WITH old AS (
  SELECT id, status, {history} AS step_details FROM alerts WHERE {where} ORDER BY id FOR UPDATE
), moved AS (
  UPDATE alerts a SET {sets}, updated_at = %(at)s FROM old WHERE a.id = old.id
  RETURNING a.*, old.status AS from_status, old.step_details
), history AS (
  INSERT INTO alert_history (alert_id, action, from_status, to_status, actor, note, details, at)
  SELECT id, %(action)s, from_status, status, %(actor)s, %(note)s, step_details, %(at)s FROM moved ORDER BY id
  RETURNING id AS seq, alert_id, action, actor, note, at
)
SELECT moved.*, history.seq, history.action, history.actor, history.note, history.at
FROM moved JOIN history ON history.alert_id = moved.id ORDER BY history.seq
"""


def _move(
    conn: psycopg.Connection,
    where: LiteralString,
    sets: LiteralString,
    params: Mapping[str, Any],
    *,
    action: str,
    at: datetime,
    source: str,
    actor: str = SYSTEM,
    note: str | None = None,
    history: Mapping[str, Any] | None = None,
    by_device: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[AlertChange]:
    """Change the open alerts matching `where`, write their history rows (one statement) and outbox rows. The
    history rows' details: `history`, or each device's own from `by_device`."""
    step = "%(history)s::jsonb -> device_id" if by_device is not None else "%(history)s::jsonb"
    query = sql.SQL(_MOVE).format(where=sql.SQL(where), sets=sql.SQL(sets), history=sql.SQL(step))
    details = {d: dict(v) for d, v in by_device.items()} if by_device is not None else dict(history or {})
    values = {**params, "action": action, "at": at, "actor": actor, "note": note, "history": Jsonb(details)}
    with _atomic(conn), conn.cursor(row_factory=dict_row) as cursor:
        changes = [change(row) for row in cursor.execute(query, values).fetchall()]
        outbox.add(conn, changes, source)
    return changes


# System moves: rules and escalation


def trigger(
    conn: psycopg.Connection,
    device_id: str,
    alert_type: str,
    *,
    severity: str,
    message: str,
    value: float | None,
    threshold: float | None,
    details: Mapping[str, Any],
    at: datetime,
    source: str,
) -> AlertChange | None:
    """Open an alert, or nothing if one is open already (or one was resolved at or after `at`: a redelivery)."""
    query = """
    WITH new AS (
      INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at,
                          updated_at, details)
      SELECT %(device)s::varchar, %(type)s::varchar, %(message)s::text, %(severity)s::varchar, %(value)s::numeric,
             %(threshold)s::numeric, 'triggered', %(at)s::timestamptz, %(at)s::timestamptz, %(details)s::jsonb
      WHERE NOT EXISTS (
        SELECT 1 FROM alerts WHERE device_id = %(device)s::varchar AND alert_type = %(type)s::varchar
          AND status = 'resolved' AND resolved_at >= %(at)s::timestamptz)
      ON CONFLICT (device_id, alert_type) WHERE status <> 'resolved' DO NOTHING
      RETURNING *
    ), history AS (
      INSERT INTO alert_history (alert_id, action, from_status, to_status, actor, details, at)
      SELECT id, 'triggered', NULL, 'triggered', %(actor)s, details, triggered_at FROM new
      RETURNING id AS seq, alert_id, action, actor, note, at
    )
    SELECT new.*, history.seq, history.action, history.actor, history.note, history.at
    FROM new JOIN history ON history.alert_id = new.id
    """
    params = {
        "device": device_id,
        "type": alert_type,
        "message": message,
        "severity": severity,
        "value": value,
        "threshold": threshold,
        "at": at,
        "details": Jsonb(dict(details)),
        "actor": SYSTEM,
    }
    with _atomic(conn), conn.cursor(row_factory=dict_row) as cursor:
        _lock(conn, device_id, alert_type)
        row = cursor.execute(query, params).fetchone()
        made = change(row) if row else None
        outbox.add(conn, [made] if made else [], source)
    return made


@dataclass(frozen=True, slots=True)
class Opening:
    """One alert `trigger_many` opens."""

    device_id: str
    alert_type: str
    severity: str
    message: str
    value: float | None
    threshold: float | None
    details: Mapping[str, Any]


_TRIGGER_MANY = """
WITH input AS (
  SELECT * FROM unnest(%(devices)s::varchar[], %(types)s::varchar[], %(messages)s::text[], %(severities)s::varchar[],
                       %(values)s::numeric[], %(thresholds)s::numeric[], %(details)s::jsonb[])
    AS i(device_id, alert_type, message, severity, value, threshold, details)
), new AS (
  INSERT INTO alerts (device_id, alert_type, message, severity, value, threshold, status, triggered_at, updated_at,
                      details)
  SELECT device_id, alert_type, message, severity, value, threshold, 'triggered', %(at)s, %(at)s, details FROM input i
  WHERE NOT EXISTS (
    SELECT 1 FROM alerts a WHERE a.device_id = i.device_id AND a.alert_type = i.alert_type
      AND a.status = 'resolved' AND a.resolved_at >= %(at)s::timestamptz)
  ON CONFLICT (device_id, alert_type) WHERE status <> 'resolved' DO NOTHING
  RETURNING *
), history AS (
  INSERT INTO alert_history (alert_id, action, from_status, to_status, actor, details, at)
  SELECT id, 'triggered', NULL, 'triggered', %(actor)s, details, triggered_at FROM new ORDER BY id
  RETURNING id AS seq, alert_id, action, actor, note, at
)
SELECT new.*, history.seq, history.action, history.actor, history.note, history.at
FROM new JOIN history ON history.alert_id = new.id ORDER BY history.seq
"""


def trigger_many(
    conn: psycopg.Connection, openings: Sequence[Opening], *, at: datetime, source: str
) -> list[AlertChange]:
    """`trigger` for many alerts in three statements whatever their number (a plant's network going down opens
    thousands of `device_offline` at once): the ones already open, or resolved at or after `at`, are skipped."""
    if not openings:
        return []
    params = {
        "devices": [o.device_id for o in openings],
        "types": [o.alert_type for o in openings],
        "messages": [o.message for o in openings],
        "severities": [o.severity for o in openings],
        "values": [o.value for o in openings],
        "thresholds": [o.threshold for o in openings],
        "details": [Jsonb(dict(o.details)) for o in openings],
        "at": at,
        "actor": SYSTEM,
    }
    with _atomic(conn), conn.cursor(row_factory=dict_row) as cursor:
        _lock_many(conn, [(o.device_id, o.alert_type) for o in openings])
        made = [change(row) for row in cursor.execute(_TRIGGER_MANY, params).fetchall()]
        outbox.add(conn, made, source)
    return made


def raise_severity(
    conn: psycopg.Connection,
    device_id: str,
    alert_type: str,
    *,
    severity: str,
    message: str,
    value: float | None,
    threshold: float | None,
    details: Mapping[str, Any],
    at: datetime,
    source: str,
) -> AlertChange | None:
    """`updated`: the open alert's severity rises (nothing if it is already as high)."""
    where = (
        "device_id = %(device)s AND alert_type = %(type)s AND status <> 'resolved'"
        " AND array_position(%(order)s::text[], severity) < array_position(%(order)s::text[], %(severity)s)"
    )
    sets = (
        "severity = %(severity)s, message = %(message)s, value = %(value)s, threshold = %(threshold)s,"
        " details = a.details || %(details)s"
    )
    params = {
        "device": device_id,
        "type": alert_type,
        "order": list(SEVERITIES),
        "severity": severity,
        "message": message,
        "value": value,
        "threshold": threshold,
        "details": Jsonb(dict(details)),
    }
    moved = _move(
        conn,
        where,
        sets,
        params,
        action="updated",
        at=at,
        source=source,
        history={"severity": severity, **details},
    )
    return moved[0] if moved else None


def mark_flapping(
    conn: psycopg.Connection, device_id: str, alert_type: str, *, at: datetime, source: str
) -> AlertChange | None:
    """`updated`: the open alert is flapping (details.flapping = true), once."""
    where = (
        "device_id = %(device)s AND alert_type = %(type)s AND status <> 'resolved'"
        " AND NOT coalesce((details ->> 'flapping')::boolean, false)"
    )
    sets = "details = a.details || %(flag)s"
    params = {
        "device": device_id,
        "type": alert_type,
        "flag": Jsonb({"flapping": True, "flappingSince": iso(at)}),
    }
    moved = _move(conn, where, sets, params, action="updated", at=at, source=source, history={"flapping": True})
    return moved[0] if moved else None


def resolve_open(
    conn: psycopg.Connection,
    device_id: str,
    alert_type: str,
    *,
    at: datetime,
    source: str,
    note: str | None = None,
    details: Mapping[str, Any] | None = None,
    opened_by: datetime | None = None,
) -> AlertChange | None:
    """`resolved` by the system: the condition is gone (nothing if no alert is open, or, with `opened_by`, none
    opened by then: a redelivered report of the condition's end cannot close a later alert)."""
    where: LiteralString = "device_id = %(device)s AND alert_type = %(type)s AND status <> 'resolved'"
    if opened_by is not None:
        where += " AND triggered_at <= %(opened_by)s"
    sets = "status = 'resolved', resolved_at = %(at)s, resolved_by = %(actor)s"
    with _atomic(conn):
        _lock(conn, device_id, alert_type)
        moved = _move(
            conn,
            where,
            sets,
            {"device": device_id, "type": alert_type, "opened_by": opened_by},
            action="resolved",
            at=at,
            source=source,
            note=note,
            history=details,
        )
    return moved[0] if moved else None


def resolve_many(
    conn: psycopg.Connection,
    alert_type: str,
    details: Mapping[str, Mapping[str, Any]],
    *,
    at: datetime,
    source: str,
    note: str | None = None,
) -> list[AlertChange]:
    """`resolve_open` for the open `alert_type` alerts of many devices in three statements: `details` maps each
    device to its history row's details."""
    if not details:
        return []
    with _atomic(conn):
        _lock_many(conn, [(device, alert_type) for device in details])
        return _move(
            conn,
            "device_id = ANY(%(devices)s) AND alert_type = %(type)s AND status <> 'resolved'",
            "status = 'resolved', resolved_at = %(at)s, resolved_by = %(actor)s",
            {"devices": list(details), "type": alert_type},
            action="resolved",
            at=at,
            source=source,
            note=note,
            by_device=details,
        )


def resolve_device(
    conn: psycopg.Connection, device_id: str, *, at: datetime, source: str, actor: str, note: str
) -> list[AlertChange]:
    """`resolved` by `actor`: every open alert of a device that is going away (its rules will not judge again)."""
    with conn.transaction():
        open_types = conn.execute(
            "SELECT DISTINCT alert_type FROM alerts WHERE device_id = %s AND status <> 'resolved' ORDER BY 1",
            (device_id,),
        ).fetchall()
        for (alert_type,) in open_types:  # in one order, so two such moves cannot deadlock
            _lock(conn, device_id, alert_type)
        return _move(
            conn,
            "device_id = %(device)s AND status <> 'resolved'",
            "status = 'resolved', resolved_at = %(at)s, resolved_by = %(actor)s",
            {"device": device_id},
            action="resolved",
            at=at,
            source=source,
            actor=actor,
            note=note,
        )


def escalate_due(conn: psycopg.Connection, cutoff: datetime, *, at: datetime, source: str) -> list[AlertChange]:
    """`escalated`: every alert still `triggered` (unacknowledged) since before `cutoff`."""
    where = "status = 'triggered' AND triggered_at < %(cutoff)s"
    sets = "status = 'escalated', escalated_at = %(at)s"
    return _move(
        conn,
        where,
        sets,
        {"cutoff": cutoff},
        action="escalated",
        at=at,
        source=source,
        history={"triggeredBefore": iso(cutoff)},
    )


# Operator moves (the REST API): by alert number, with a clear error on an invalid move


def acknowledge(
    conn: psycopg.Connection, number: int, actor: str, note: str | None = None, *, source: str
) -> AlertChange:
    sets = "status = 'acknowledged', acknowledged_at = %(at)s, acknowledged_by = %(actor)s"
    return _operator_move(conn, number, "acknowledged", sets, actor, note, source)


def resolve(conn: psycopg.Connection, number: int, actor: str, note: str | None = None, *, source: str) -> AlertChange:
    sets = "status = 'resolved', resolved_at = %(at)s, resolved_by = %(actor)s"
    return _operator_move(conn, number, "resolved", sets, actor, note, source)


def _operator_move(
    conn: psycopg.Connection,
    number: int,
    to_status: Status,
    sets: LiteralString,
    actor: str,
    note: str | None,
    source: str,
) -> AlertChange:
    with conn.transaction():
        found = conn.execute("SELECT device_id, alert_type FROM alerts WHERE id = %s", (number,)).fetchone()
        if found is None:
            raise AlertNotFound(f"{alert_id(number)} does not exist")
        _lock(conn, *found)
        (status,) = conn.execute("SELECT status FROM alerts WHERE id = %s FOR UPDATE", (number,)).fetchone() or ("",)
        if status not in ALLOWED[to_status]:
            raise InvalidTransition(number, status, to_status)
        now = datetime.now(UTC)
        return _move(
            conn,
            "id = %(id)s",
            sets,
            {"id": number},
            action=to_status,
            at=now,
            source=source,
            actor=actor,
            note=note,
        )[0]


# Reading alerts


def open_alerts(conn: psycopg.Connection, device_ids: list[str] | None = None) -> list[ActiveAlert]:
    """The open alerts, newest first (what `alerts:active` holds)."""
    query = (
        "SELECT id, device_id, alert_type, value, threshold, severity, triggered_at, status, message"
        " FROM alerts WHERE status <> 'resolved'"
    )
    params: tuple[Any, ...] = ()
    if device_ids is not None:
        query += " AND device_id = ANY(%s)"
        params = (device_ids,)
    rows = conn.execute(query + " ORDER BY triggered_at DESC, id DESC", params).fetchall()
    return [
        ActiveAlert(
            id=alert_id(number),
            device_id=device,
            type=kind,
            value=_number(value),
            threshold=_number(threshold),
            severity=severity,
            timestamp=timestamps.iso(triggered_at),
            status=status,
            message=message,
        )
        for number, device, kind, value, threshold, severity, triggered_at, status, message in rows
    ]


# `open_alerts` as the JSON document `alerts:active` holds, built by PostgreSQL: rewritten after every batch of alert
# changes, it would otherwise cost the evaluator a Python object per open alert each time. The formats are
# alert_id's, timestamps.iso's and the ActiveAlert contract's (test_alerts checks both give the same).
_OPEN_DOCUMENT = """
SELECT coalesce(json_agg(json_build_object(
  'id', 'alert-' || CASE WHEN id < 1000 THEN lpad(id::text, 3, '0') ELSE id::text END,
  'deviceId', device_id, 'type', alert_type, 'value', value::float8, 'threshold', threshold::float8,
  'severity', severity,
  'timestamp', to_char(triggered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
  'status', status, 'message', message
) ORDER BY triggered_at DESC, id DESC), '[]')::text
FROM alerts WHERE status <> 'resolved'
"""


def open_alerts_document(conn: psycopg.Connection) -> bytes:
    """The open alerts, newest first, as the JSON list `alerts:active` holds."""
    (document,) = conn.execute(_OPEN_DOCUMENT).fetchone() or ("[]",)
    return str(document).encode()


def open_count(conn: psycopg.Connection) -> int:
    (count,) = conn.execute("SELECT count(*) FROM alerts WHERE status <> 'resolved'").fetchone() or (0,)
    return int(count)


def history(conn: psycopg.Connection, number: int) -> list[AlertStep]:
    """An alert's history, oldest first."""
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            f"SELECT {STEP_COLUMNS} FROM alert_history WHERE alert_id = %s ORDER BY id", (number,)
        ).fetchall()
    return [step(row) for row in rows]
