"""Query-parameter parsing that answers bad input with a 400 in the envelope."""

from __future__ import annotations

from datetime import UTC, datetime

from iotmon.service.responses import ApiError


def timestamp(name: str, raw: str | None, default: datetime) -> datetime:
    """An ISO 8601 time (a missing offset means UTC) or epoch milliseconds."""
    if raw is None or raw == "":
        return default
    try:
        if raw.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(raw) / 1000, UTC)
        # An unencoded "+" in a query string arrives as a space.
        parsed = datetime.fromisoformat(raw.replace(" ", "+") if "T" in raw else raw)
    except (ValueError, OverflowError, OSError):
        raise ApiError(
            400, "VALIDATION_ERROR", f"'{name}' must be an ISO 8601 time or epoch milliseconds", {name: raw}
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def integer(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", f"'{name}' must be an integer", {name: raw}) from None
    if not low <= value <= high:
        raise ApiError(400, "VALIDATION_ERROR", f"'{name}' must be between {low} and {high}", {name: raw})
    return value
