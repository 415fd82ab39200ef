"""Silences and maintenance windows: no email or webhook for a device (or all devices) until they expire.

The functions take a psycopg connection (sync), so notify and the REST API use
the same storage. A silence never hides an alert from the dashboard: the
Socket.IO live view is not silenced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg.rows import class_row

from iotmon.core.contracts import alerts as contracts
from iotmon.core.contracts.alerts import MAX_REASON
from iotmon.core.timestamps import iso


class SilenceError(ValueError):
    """A silence that cannot be created: the message says why (for a 400 answer)."""


@dataclass(frozen=True)
class Silence:
    id: int
    device_id: str | None  # None: every device
    reason: str
    created_by: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def contract(self) -> contracts.Silence:
        return contracts.Silence(
            id=self.id,
            device_id=self.device_id,
            reason=self.reason,
            created_by=self.created_by,
            starts_at=iso(self.starts_at),
            ends_at=iso(self.ends_at),
            created_at=iso(self.created_at),
        )


def validate(*, reason: str, created_by: str, starts_at: datetime, ends_at: datetime | None, now: datetime) -> None:
    """Raise SilenceError unless this is a silence worth storing (pure)."""
    if ends_at is None:
        raise SilenceError("a silence needs an expiry (ends_at)")
    for name, moment in (("starts_at", starts_at), ("ends_at", ends_at)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise SilenceError(f"{name} must carry a time zone")
    if ends_at <= starts_at:
        raise SilenceError("ends_at must be after starts_at")
    if ends_at <= now:
        raise SilenceError("ends_at is in the past: the silence would never apply")
    if not reason.strip():
        raise SilenceError("a silence needs a reason")
    if len(reason) > MAX_REASON:
        raise SilenceError(f"the reason is longer than {MAX_REASON} characters")
    if not created_by.strip() or len(created_by) > 100:
        raise SilenceError("created_by must be a user name of 1 to 100 characters")


def create_silence(
    conn: psycopg.Connection,
    *,
    device_id: str | None,
    reason: str,
    created_by: str,
    ends_at: datetime | None,
    starts_at: datetime | None = None,
) -> Silence:
    """Store a silence for a device (None = every device); starts now unless starts_at says later."""
    now = datetime.now(UTC)
    starts_at = starts_at or now
    validate(reason=reason, created_by=created_by, starts_at=starts_at, ends_at=ends_at, now=now)
    try:
        with conn.cursor(row_factory=class_row(Silence)) as cur:
            cur.execute(
                "INSERT INTO silences (device_id, reason, created_by, starts_at, ends_at) VALUES (%s, %s, %s, %s, %s)"
                " RETURNING id, device_id, reason, created_by, starts_at, ends_at, created_at",
                (device_id, reason.strip(), created_by.strip(), starts_at, ends_at),
            )
            silence = cur.fetchone()
    except psycopg.errors.ForeignKeyViolation:
        raise SilenceError(f"unknown device {device_id!r}") from None
    assert silence is not None
    return silence


def list_silences(
    conn: psycopg.Connection, *, device_id: str | None = None, include_expired: bool = False
) -> list[Silence]:
    """Silences, soonest ending first: current and future ones unless include_expired.

    With a device, its own silences and those for every device (what applies to it).
    """
    where, params = [], []
    if not include_expired:
        where.append("ends_at > now()")
    if device_id is not None:
        where.append("(device_id = %s OR device_id IS NULL)")
        params.append(device_id)
    query = "SELECT id, device_id, reason, created_by, starts_at, ends_at, created_at FROM silences"
    if where:
        query += " WHERE " + " AND ".join(where)
    with conn.cursor(row_factory=class_row(Silence)) as cur:
        return cur.execute(query + " ORDER BY ends_at, id", params).fetchall()


def delete_silence(conn: psycopg.Connection, silence_id: int) -> bool:
    """Remove a silence (ending it at once); False if there was none with that id."""
    return conn.execute("DELETE FROM silences WHERE id = %s", (silence_id,)).rowcount == 1


def active_silence(conn: psycopg.Connection, device_id: str) -> Silence | None:
    """The silence that applies to the device right now, if any (the device's own before a global one)."""
    with conn.cursor(row_factory=class_row(Silence)) as cur:
        return cur.execute(
            "SELECT id, device_id, reason, created_by, starts_at, ends_at, created_at FROM silences"
            " WHERE (device_id = %s OR device_id IS NULL) AND starts_at <= now() AND ends_at > now()"
            " ORDER BY device_id NULLS LAST, ends_at DESC LIMIT 1",
            (device_id,),
        ).fetchone()


__all__ = [
    "Silence",
    "SilenceError",
    "active_silence",
    "create_silence",
    "delete_silence",
    "list_silences",
    "validate",
]
