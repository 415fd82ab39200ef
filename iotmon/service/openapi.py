"""The OpenAPI 3.1 document, built from the routes the service serves and the contracts they declare.

Nothing here is a hand-kept list of paths or shapes: `build()` walks Starlette
routes. A route gives the path, the methods and the path parameters; its
endpoint gives the operationId (the function's name), the summary and
description (its docstring) and what `@documented(...)`, written next to it,
declares: query parameters, the request body and the responses, as contracts
(iotmon.core.contracts), whose JSON Schemas msgspec writes into the
components. Who may call an operation is asked of the access control itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.routing import BaseRoute, Route

from iotmon import __version__
from iotmon.core.contracts.envelopes import Envelope, ErrorEnvelope, Meta
from iotmon.service.access import KEY_WRITES, required_role
from iotmon.service.requests import body_limit, size

ATTRIBUTE = "__openapi__"
OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_TYPES: dict[Any, str] = {int: "integer", str: "string", bool: "boolean", float: "number"}
_CONVERTOR_TYPES = {"IntegerConvertor": "integer", "FloatConvertor": "number"}
Contract = type[msgspec.Struct]

# --------------------------------------------------------------------------- declarations next to the endpoints


@dataclass(frozen=True)
class Query:
    """A query parameter: its type (int, str, bool, float), a description, JSON Schema keywords
    (minimum, maximum, enum, maxLength, default, ...) and whether it is required."""

    kind: Any
    description: str
    required: bool = False
    keywords: dict[str, Any] = field(default_factory=dict)

    def __init__(self, kind: Any, description: str, required: bool = False, **keywords: Any) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "keywords", keywords)

    def parameter(self, name: str) -> dict[str, Any]:
        schema = {"type": _TYPES.get(self.kind, self.kind), **self.keywords}
        return {
            "name": name,
            "in": "query",
            "required": self.required,
            "description": self.description,
            "schema": schema,
        }


@dataclass(frozen=True)
class Reply:
    """A response: in the envelope, its `data` and `meta` contracts; else a whole JSON `body` contract or
    another media type."""

    description: str
    data: Contract | None = None
    meta: Contract | None = None
    body: Contract | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class Payload:
    """A request body that is no contract (a file): its media types and their JSON Schemas."""

    content: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Doc:
    query: dict[str, Query]
    body: Contract | tuple[Contract, ...] | Payload | None  # a contract, the contracts it may be one of, or a file
    body_required: bool
    body_description: str | None
    responses: dict[int, Reply]
    path: dict[str, str]
    operation_id: str | None


def documented(
    *,
    query: dict[str, Query] | None = None,
    body: Contract | tuple[Contract, ...] | Payload | None = None,
    body_required: bool = True,
    body_description: str | None = None,
    responses: dict[int, str | Reply] | None = None,
    path: dict[str, str] | None = None,
    operation_id: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declares an endpoint's query parameters, JSON body and responses; the endpoint is returned unchanged."""
    replies = {
        status: reply if isinstance(reply, Reply) else Reply(reply) for status, reply in (responses or {}).items()
    }
    doc = Doc(query or {}, body, body_required, body_description, replies, path or {}, operation_id)

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        setattr(endpoint, ATTRIBUTE, doc)
        return endpoint

    return mark


def ref(contract: Contract) -> dict[str, str]:
    return {"$ref": REF.format(name=contract.__name__)}


# Shared parameter declarations
FROM = Query(str, "Start of the range: ISO 8601 (no offset = UTC) or epoch milliseconds.")
TO = Query(str, "End of the range: ISO 8601 (no offset = UTC) or epoch milliseconds.")

_STANDARD_ERRORS = {
    401: "No token where one is needed, or a bad or expired token (UNAUTHORIZED, INVALID_TOKEN, TOKEN_EXPIRED).",
    403: "The token's role is not enough (FORBIDDEN).",
    429: "Over the per-IP rate limit (RATE_LIMITED); see Retry-After.",
}

# --------------------------------------------------------------------------- building


def documented_routes(routes: Iterable[BaseRoute]) -> list[Route]:
    """The routes the document covers: every plain route under /api/ and /metrics (not the catch-alls)."""
    return [
        route
        for route in routes
        if isinstance(route, Route) and (route.path.startswith("/api/") or route.path == "/metrics")
    ]


def template(path: str) -> str:
    """Starlette's `{name}` / `{name:path}` → OpenAPI's `{name}`."""
    return _PARAM.sub(r"{\1}", path)


def _summary(endpoint: Callable[..., Any]) -> tuple[str, str | None]:
    doc = (endpoint.__doc__ or "").strip()
    if not doc:
        return endpoint.__name__.replace("_", " "), None
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), (" ".join(rest.split()) or None)


def _tag(path: str) -> str:
    parts = path.split("/")
    if len(parts) < 3 or parts[2] in ("health", "status", "openapi.json", "docs"):
        return "system"
    return parts[2]


class _Builder:
    """Builds operations and remembers every contract they refer to, for the components."""

    def __init__(self, anonymous_read: bool) -> None:
        self.anonymous_read = anonymous_read
        self.contracts: list[Contract] = [Envelope, ErrorEnvelope, Meta]

    def use(self, contract: Contract) -> dict[str, str]:
        if contract not in self.contracts:
            self.contracts.append(contract)
        return ref(contract)

    def operation(self, route: Route, method: str, doc: Doc | None) -> dict[str, Any]:
        endpoint = route.endpoint
        path = template(route.path)
        summary, description = _summary(endpoint)
        role = required_role(method, path, self.anonymous_read) if path.startswith("/api") else None
        operation: dict[str, Any] = {
            "operationId": (doc.operation_id if doc and doc.operation_id else endpoint.__name__),
            "summary": summary,
            "tags": [_tag(path)],
            "x-required-role": role,
        }
        if description:
            operation["description"] = description
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": (doc.path.get(name) if doc else None) or name.replace("_", " "),
                "schema": {"type": _CONVERTOR_TYPES.get(type(convertor).__name__, "string")},
            }
            for name, convertor in route.param_convertors.items()
        ]
        parameters += [query.parameter(name) for name, query in (doc.query if doc else {}).items()]
        if parameters:
            operation["parameters"] = parameters
        if doc and doc.body is not None:
            operation["requestBody"] = {
                "required": doc.body_required,
                "content": self.body_content(doc.body),
                **({"description": doc.body_description} if doc.body_description else {}),
            }
        # Who may call it: a token is required for a role, optional (and checked when sent) otherwise.
        if path in KEY_WRITES and method == "POST":
            operation["security"] = [{"gatewayKey": []}, {"gatewayKeyHeader": []}, {"bearerAuth": []}]
        elif path.startswith("/api"):
            operation["security"] = [{"bearerAuth": []}] if role else [{}, {"bearerAuth": []}]
        operation["responses"] = self.responses(path, doc, role)
        return operation

    def body_content(self, body: Contract | tuple[Contract, ...] | Payload) -> dict[str, Any]:
        if isinstance(body, Payload):
            return body.content
        schema = {"oneOf": [self.use(c) for c in body]} if isinstance(body, tuple) else self.use(body)
        return {"application/json": {"schema": schema}}

    def responses(self, path: str, doc: Doc | None, role: str | None) -> dict[str, Any]:
        declared = dict(doc.responses) if doc else {}
        if path.startswith("/api"):
            # What the middlewares may answer for any /api request (security.py, access.py).
            declared.setdefault(401, Reply(_STANDARD_ERRORS[401]))
            if role and role != "viewer":
                declared.setdefault(403, Reply(_STANDARD_ERRORS[403]))
            if not path.startswith("/api/health"):
                declared.setdefault(429, Reply(_STANDARD_ERRORS[429]))
            if doc and doc.body is not None:  # (requests.py: every body has its path's limit)
                limit = body_limit(path)
                declared.setdefault(413, Reply(f"The body is over {size(limit)} (PAYLOAD_TOO_LARGE)."))
        if not any(200 <= status < 300 for status in declared):
            declared[200] = Reply("OK")
        return {
            str(status): {"description": reply.description, "content": self.content(status, reply)}
            for status, reply in sorted(declared.items())
        }

    def content(self, status: int, reply: Reply) -> dict[str, Any]:
        if reply.media_type is not None:
            return {
                reply.media_type: {"schema": {"type": "object" if reply.media_type == "application/json" else "string"}}
            }
        if reply.body is not None:
            return {"application/json": {"schema": self.use(reply.body)}}
        if status >= 400:
            return {"application/json": {"schema": ref(ErrorEnvelope)}}
        if reply.data is None:
            return {"application/json": {"schema": ref(Envelope)}}
        answer: dict[str, Any] = {"data": self.use(reply.data)}
        if reply.meta is not None:
            answer["meta"] = {"allOf": [ref(Meta), self.use(reply.meta)]}
        schema = {"allOf": [ref(Envelope), {"type": "object", "properties": answer}]}
        return {"application/json": {"schema": schema}}


def build(routes: Iterable[BaseRoute], *, anonymous_read: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes."""
    builder = _Builder(anonymous_read)
    paths: dict[str, dict[str, Any]] = {}
    for route in documented_routes(routes):
        doc: Doc | None = getattr(route.endpoint, ATTRIBUTE, None)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                paths.setdefault(template(route.path), {})[method.lower()] = builder.operation(route, method, doc)
    _, schemas = msgspec.json.schema_components(builder.contracts, ref_template=REF)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "iot-monitoring API",
            "version": __version__,
            "description": (
                'REST API of the iot-monitoring service. Every JSON answer is the envelope `{"success": true, '
                '"data", "meta"}` or `{"success": false, "error": {"code", "message", "details"}}` (except GET '
                "/api/health, in its own format). Reading is open "
                + ("to anonymous clients" if anonymous_read else "to viewers")
                + "; writes need an operator token and user and API key management an admin token, from POST"
                " /api/auth/login. Gateways write readings with an API key."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A token from POST /api/auth/login: `Authorization: Bearer <token>`.",
                },
                "gatewayKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "iotmon_gw_…",
                    "description": "A gateway API key from POST /api/keys: `Authorization: Bearer iotmon_gw_…`.",
                },
                "gatewayKeyHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "A gateway API key from POST /api/keys, in its own header.",
                },
            },
        },
    }
