"""Reading a request body into its contract, with every problem named (pure).

msgspec stops at the first error of a document; an API should list them all.
So a body is decoded as JSON, its field names are checked against the
contract, then each field is converted on its own type (which carries the
contract's limits), and only then the whole is built.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

C = TypeVar("C", bound=msgspec.Struct)
MAX_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class Invalid(ValueError):
    """A body that does not meet its contract: a message and the details an API error carries."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message, self.details = message, details


def field_names(contract: type[msgspec.Struct]) -> list[str]:
    """The contract's field names as they are written in JSON."""
    return [field.encode_name for field in msgspec.structs.fields(contract)]


def decode(body: bytes, contract: type[C]) -> C:
    """The body as the contract; Invalid lists what is wrong (not JSON, unknown fields, each bad field)."""
    return convert(parse(body), contract)


def parse(body: bytes) -> Any:
    """The body as JSON; Invalid if there is none, it is not JSON or it is nested too deep for the decoder."""
    if not body.strip():
        raise Invalid("a JSON body is required")
    return json_document(body)


def json_document(body: bytes) -> Any:
    """A JSON body decoded (empty or not); Invalid if it is not JSON or nested too deep for the decoder."""
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise Invalid(f"request body is not valid JSON: {error}") from None
    except RecursionError:  # (no contract nests anywhere near this deep: each refuses far less)
        raise Invalid("request body is nested too deeply") from None


def bounds_problem(value: Any, depth: int = 1) -> str | None:
    """Why a decoded value (at `depth` in its document) is out of bounds: nested deeper than MAX_DEPTH, or a
    string (key or value) holding a control character; None if it is not."""
    pending: list[tuple[Any, int]] = [(value, depth)]
    while pending:
        item, level = pending.pop()
        if level > MAX_DEPTH:
            return f"nested too deeply (at most {MAX_DEPTH} levels)"
        if isinstance(item, str):
            if found := _CONTROL.search(item):
                return f"holds a control character (U+{ord(found.group()):04X})"
        elif isinstance(item, dict):
            pending += [(key, level) for key in item] + [(inner, level + 1) for inner in item.values()]
        elif isinstance(item, list):
            pending += [(inner, level + 1) for inner in item]
    return None


def convert(document: Any, contract: type[C]) -> C:
    """An already decoded JSON document as the contract; Invalid as for `decode`."""
    allowed = field_names(contract)
    if not isinstance(document, dict):
        raise Invalid(f"the body must be a JSON object with the fields {', '.join(allowed)}")
    if unknown := sorted(set(document) - set(allowed)):
        raise Invalid(f"unknown field(s): {', '.join(unknown)}", {"unknown": unknown, "allowed": sorted(allowed)})
    if problems := _problems(document, contract):
        raise Invalid(f"{len(problems)} invalid field(s)", problems)
    try:
        return msgspec.convert(document, contract)
    except msgspec.ValidationError as error:  # a check across fields (__post_init__)
        raise Invalid(str(error)) from None


def _problems(document: dict[str, Any], contract: type[msgspec.Struct]) -> list[dict[str, str]]:
    problems = []
    for field in msgspec.structs.fields(contract):
        if (reason := bounds_problem(document.get(field.encode_name), depth=2)) is not None:
            problems.append({"field": field.encode_name, "reason": f"'{field.encode_name}' {reason}"})
            continue
        if field.encode_name not in document:
            if field.required:
                problems.append({"field": field.encode_name, "reason": f"'{field.encode_name}' is required"})
            continue
        try:
            msgspec.convert(document[field.encode_name], field.type)
        except msgspec.ValidationError as error:
            problems.append({"field": field.encode_name, "reason": f"'{field.encode_name}': {error}"})
    return problems


def given(update: msgspec.Struct) -> dict[str, Any]:
    """The fields a partial update sets (those not left UNSET), by attribute name."""
    return {
        field.name: value
        for field in msgspec.structs.fields(update)
        if (value := getattr(update, field.name)) is not msgspec.UNSET
    }


def convert_nested(document: Any, contract: type[C], nested: str, inner: type[msgspec.Struct]) -> C:
    """As `convert`, with the object field `nested` (of contract `inner`) checked field by field too, so that
    every problem inside it is listed beside the others, named `nested.field`."""
    value = document.get(nested) if isinstance(document, dict) else None
    if not isinstance(value, dict):
        return convert(document, contract)
    problems = []
    try:
        convert({name: field for name, field in document.items() if name != nested}, contract)
    except Invalid as invalid:
        problems += listed(invalid)
    try:
        convert(value, inner)
    except Invalid as invalid:
        problems += [
            {**problem, "field": f"{nested}.{problem.get('field', '')}".rstrip(".")} for problem in listed(invalid)
        ]
    if problems:
        raise Invalid(f"{len(problems)} problem(s) in the body", problems)
    return convert(document, contract)


def listed(invalid: Invalid) -> list[dict[str, Any]]:
    """An Invalid's problems as a list, one per problem."""
    if isinstance(invalid.details, list):
        return invalid.details
    return [{"reason": invalid.message, **(invalid.details or {})}]
