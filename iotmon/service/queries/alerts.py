"""Alerts in PostgreSQL for the API: filtered pages, one alert with its history, the CSV export's query."""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from iotmon.adapters.postgres.alerts import ALERT_COLUMNS, STEP_COLUMNS, alert, step
from iotmon.core.contracts.alerts import Alert, AlertPageMeta

_COUNTS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE severity = 'critical') AS critical, count(*) FILTER (WHERE severity = 'high') AS high,
       count(*) FILTER (WHERE severity = 'medium') AS medium, count(*) FILTER (WHERE severity = 'low') AS low
FROM alerts WHERE {where}
"""


def listing(where: LiteralString) -> LiteralString:
    """The alerts matching `where`, newest first (the page's and the CSV export's query)."""
    return f"SELECT {ALERT_COLUMNS} FROM alerts WHERE {where} ORDER BY triggered_at DESC, id DESC"


async def page(
    conn: AsyncConnection[Any], where: LiteralString, values: dict[str, Any], limit: int, offset: int
) -> tuple[list[Alert], AlertPageMeta]:
    """A page of the alerts matching `where`, with how many match by severity."""
    cursor = conn.cursor(row_factory=dict_row)
    counts = await (await cursor.execute(_COUNTS.format(where=where), values)).fetchone() or {}
    rows = await (
        await cursor.execute(
            listing(where) + " LIMIT %(limit)s OFFSET %(offset)s", {**values, "limit": limit, "offset": offset}
        )
    ).fetchall()
    meta = AlertPageMeta(
        total_alerts=counts["total"],
        critical_alerts=counts["critical"],
        high_alerts=counts["high"],
        medium_alerts=counts["medium"],
        low_alerts=counts["low"],
        count=len(rows),
        limit=limit,
        offset=offset,
    )
    return [alert(row) for row in rows], meta


async def with_history(conn: AsyncConnection[Any], number: int) -> Alert | None:
    """An alert and its history, oldest first."""
    cursor = conn.cursor(row_factory=dict_row)
    row = await (await cursor.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = %s", (number,))).fetchone()
    if row is None:
        return None
    steps = await (
        await cursor.execute(f"SELECT {STEP_COLUMNS} FROM alert_history WHERE alert_id = %s ORDER BY id", (number,))
    ).fetchall()
    found = alert(row)
    found.history = [step(entry) for entry in steps]
    return found
