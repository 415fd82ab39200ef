"""The shape every Socket.IO event's payload must keep before a handler looks at it.

Clients send small subscriptions: a device id, or an object of a few short
fields. Anything larger, deeper, or with control characters in its text (a NUL
that PostgreSQL refuses, a newline that `$` in a pattern lets through) is
refused here, before any contract is read or any query is made.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 3  # nested objects or lists
MAX_ITEMS = 16  # keys of an object, items of a list
MAX_TEXT = 200  # characters of a string, keys included
MAX_ARGUMENTS = 1  # every event takes at most one payload

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def refusal(arguments: tuple[Any, ...]) -> str | None:
    """Why an event's arguments are refused, or None when they are within bounds."""
    if len(arguments) > MAX_ARGUMENTS:
        return f"takes at most {MAX_ARGUMENTS} argument, got {len(arguments)}"
    return _value(arguments[0], 0) if arguments else None


def shown(value: Any) -> str:
    """A client's value in a message, short and printable."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _value(value: Any, depth: int) -> str | None:
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool | int | float):
        return None
    if not isinstance(value, dict | list):
        return f"{type(value).__name__} is not a payload"
    if depth >= MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH}"
    if len(value) > MAX_ITEMS:
        return f"more than {MAX_ITEMS} items"
    items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
    return next((why for item in items if (why := _value(item, depth + 1)) is not None), None)


def _text(value: str) -> str | None:
    if len(value) > MAX_TEXT:
        return f"a string longer than {MAX_TEXT} characters"
    if _CONTROL.search(value):
        return f"control characters in {shown(value)}"
    return None
