"""The alert outbox: alert changes committed, to be published on `alerts` at least once.

A move (iotmon.adapters.postgres.alerts) adds its change here in its own
transaction, so no change can be committed without its outbox row. `relay`
hands the rows to a sender in sequence order and deletes them only once the
sender returned: a crash before that leaves them for the next relay, a crash
after the send but before the delete sends them again, and consumers drop a
sequence they have already seen. Relays take turns (an advisory lock), so the
changes of one alert go out in the order they were made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from iotmon.core.contracts.alerts import AlertChange

BATCH = 500
_RELAY_LOCK = 7_301_010


class Pending(NamedTuple):
    source: str  # the CloudEvent source: who made the change
    change: AlertChange


Send = Callable[[Sequence[Pending]], object]


def add(conn: psycopg.Connection, changes: Sequence[AlertChange], source: str) -> None:
    """Queue changes for publishing; call it in the transaction that made them."""
    if changes:
        conn.cursor().executemany(
            "INSERT INTO alert_outbox (seq, source, change) VALUES (%s, %s, %s)",
            [(change.sequence, source, Jsonb(msgspec.to_builtins(change))) for change in changes],
        )


def relay(conn: psycopg.Connection, send: Send) -> int:
    """Send every queued change, oldest first, in batches; returns how many were sent. Raises what `send`
    raises (the rows stay queued)."""
    sent = 0
    while True:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_RELAY_LOCK,))
            rows = conn.execute(
                "SELECT seq, source, change FROM alert_outbox ORDER BY seq LIMIT %s", (BATCH,)
            ).fetchall()
            if not rows:
                return sent
            send([Pending(source, msgspec.convert(change, AlertChange)) for _, source, change in rows])
            conn.execute("DELETE FROM alert_outbox WHERE seq = ANY(%s)", ([seq for seq, _, _ in rows],))
        sent += len(rows)
        if len(rows) < BATCH:  # all there was (what others add meanwhile, they relay themselves)
            return sent


def queued(conn: psycopg.Connection) -> int:
    """Changes committed and not yet published (health: a growing number means the relay is stuck)."""
    (count,) = conn.execute("SELECT count(*) FROM alert_outbox").fetchone() or (0,)
    return int(count)
