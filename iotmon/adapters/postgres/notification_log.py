"""The notifications log in PostgreSQL: what was decided for each alert change on each channel.

Its unique key (alert id, change key, channel, target) is the deduplication.
A row is written after the attempt, with the outcome: `sent`, `silenced` and
`rate_limited` are final (a redelivered change sends nothing again); `failed`
is not (a redelivery tries that channel again and updates the row in place).
"""

from __future__ import annotations

import psycopg

from iotmon.core.contracts.alerts import AlertChange
from iotmon.core.routing import change_key

SENT = "sent"
FAILED = "failed"
RATE_LIMITED = "rate_limited"
SILENCED = "silenced"
FINAL = frozenset({SENT, RATE_LIMITED, SILENCED})

_RECORD = """
INSERT INTO notifications (alert_id, change_key, channel, target, device_id, action, severity, status, error,
                           silence_id)
VALUES (%(alert_id)s, %(change_key)s, %(channel)s, %(target)s, %(device_id)s, %(action)s, %(severity)s,
        %(status)s, %(error)s, %(silence_id)s)
ON CONFLICT (alert_id, change_key, channel, target) DO UPDATE
   SET status = EXCLUDED.status, error = EXCLUDED.error, silence_id = EXCLUDED.silence_id,
       attempts = notifications.attempts + 1, updated_at = now()
 WHERE notifications.status = 'failed'
"""


def outcomes(conn: psycopg.Connection, change: AlertChange) -> dict[tuple[str, str], str]:
    """(channel, target) → status of what is already logged for this change."""
    rows = conn.execute(
        "SELECT channel, target, status FROM notifications WHERE alert_id = %s AND change_key = %s",
        (change.alert_id, change_key(change)),
    ).fetchall()
    return {(channel, target): status for channel, target, status in rows}


def record(
    conn: psycopg.Connection,
    change: AlertChange,
    channel: str,
    target: str,
    status: str,
    *,
    error: str | None = None,
    silence_id: int | None = None,
) -> None:
    """Log an outcome; a final row already there is kept (ON CONFLICT only replaces `failed`)."""
    conn.execute(
        _RECORD,
        {
            "alert_id": change.alert_id,
            "change_key": change_key(change),
            "channel": channel,
            "target": target,
            "device_id": change.device_id,
            "action": change.action,
            "severity": change.severity,
            "status": status,
            "error": error[:2000] if error else None,
            "silence_id": silence_id,
        },
    )
