"""Direct SQL for tests that seed or inspect PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg


def sql(url: str, query: str, *params: Any) -> Any:
    """Run one statement; the rows when it returns some, else the row count."""
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount
