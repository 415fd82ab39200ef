"""A contract's shape without its value checks, for data this system wrote after checking it (pure).

msgspec checks a string's pattern with Python's `re`, once per field per record:
for a reading (five patterns) that is nine tenths of its decode. Readings on
`metrics` were checked by ingest, the only writer of that topic, before it
wrote them; aggregate and evaluate-rule read them with `unchecked(ReadingBatch)`:
the same fields, names and types (a wrong type is still refused), without the
patterns, lengths and bounds. The result is a subclass of the contract, so what
it decodes is a Reading to every reader.
"""

from __future__ import annotations

import types
from functools import cache
from typing import Annotated, Any, TypeVar, Union, cast, get_args, get_origin

import msgspec

C = TypeVar("C", bound=msgspec.Struct)


@cache
def unchecked(contract: type[C]) -> type[C]:
    """`contract` with every field's constraints (msgspec.Meta) left out, nested contracts likewise."""
    fields = [(field.name, _plain(field.type), _default(field)) for field in msgspec.structs.fields(contract)]
    derived = msgspec.defstruct(f"Unchecked{contract.__name__}", fields, bases=(contract,))
    return cast(type[C], derived)


def _plain(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return Union[tuple(_plain(arg) for arg in get_args(annotation))]  # noqa: UP007 (built from a tuple)
    if origin is list:
        return list[_plain(get_args(annotation)[0])]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return unchecked(annotation)
    return annotation


def _default(field: msgspec.structs.FieldInfo) -> Any:
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.field(default_factory=field.default_factory)
    return field.default
