"""CSV exports streamed from a server-side cursor (history and alerts use it)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

from iotmon.service.context import ServiceContext

CSV_BATCH = 5000
# A cell starting so is a formula to a spreadsheet; a leading ' makes it text (OWASP's CSV injection advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: Any) -> Any:
    """Text a spreadsheet shows as it is; numbers and other values unchanged."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(_FORMULA_START) else cell


async def stream_csv(
    context: ServiceContext,
    sql: str,
    values: Any,
    header: list[str],
    format_row: Callable[[tuple[Any, ...]], list[Any]],
) -> AsyncIterator[bytes]:
    """CSV lines from a named (server-side) cursor, CSV_BATCH rows at a time: never the whole result in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode()

    writer.writerow(header)
    yield take()
    async with context.db.connection() as conn, conn.transaction(), conn.cursor(name="iotmon_csv_export") as cursor:
        await cursor.execute(sql, values)
        while rows := await cursor.fetchmany(CSV_BATCH):
            for row in rows:
                writer.writerow([neutralised(cell) for cell in format_row(row)])
            yield take()
