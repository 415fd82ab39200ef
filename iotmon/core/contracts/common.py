"""Field types shared by the contracts: identifiers, times, numbers as PostgreSQL stores them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

DECIMAL_LIMIT = 99_999_999.99  # DECIMAL(10,2), the type of stored values and thresholds

# Patterns end in `(?!\n)$`: Python's `$` also matches before a final line break, which would let "device-001\n"
# through (in the JSON Schemas, read by ECMAScript rules, the look-ahead changes nothing).
DeviceId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,49}(?!\n)$",
        description="Device identifier, e.g. device-001.",
        examples=["device-001"],
    ),
]
AlertId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^alert-[0-9]{3,}(?!\n)$",
        description="alerts.id, zero-padded to three digits: alert-001.",
        examples=["alert-001"],
    ),
]
Timestamp = Annotated[
    str,
    msgspec.Meta(
        description="UTC, millisecond precision: 2026-01-11T10:05:00.000Z.",
        extra_json_schema={"format": "date-time"},
    ),
]
Value = Annotated[float, msgspec.Meta(ge=-DECIMAL_LIMIT, le=DECIMAL_LIMIT)]
# Control characters are refused in every string (PostgreSQL stores no NUL, terminals and logs obey the others);
# free text keeps tabs and line breaks.
Text = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$",
        description="Text without NUL or control characters (tabs and line breaks allowed).",
    ),
]
Line = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[^\x00-\x1f\x7f-\x9f]*(?!\n)$", description="One line of text, without control characters."
    ),
]
Details = Annotated[dict[str, Any], msgspec.Meta(description="Specifics, as JSON: rule details, offending fields.")]
Trend = Literal["increasing", "decreasing", "stable"]
HealthStatus = Literal["healthy", "degraded", "unhealthy"]
DependencyStatus = Literal["healthy", "unhealthy"]
Role = Literal["viewer", "operator", "admin"]  # each can do what the ones before it can


class Contract(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """A contract: JSON in camelCase; unknown fields are refused when it is read."""


class Body(Contract):
    """What a client sends (a request body, an event, a subscription): fields with defaults may be left out."""


class MetaFields(msgspec.Struct, rename="camel"):
    """An operation's own `meta` fields, beside the answer's time the envelope adds."""
