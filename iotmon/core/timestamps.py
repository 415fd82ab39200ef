"""One timestamp format, everywhere the system writes a time: UTC, milliseconds, Z (the API's and the events')."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime) -> str:
    """2025-01-11T10:05:00.000Z"""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
