"""The OpenAPI 3.1 document, built from the routes the service actually serves.

Nothing here is a hand-kept list of paths: `build()` walks Starlette routes
(the app's own, at GET /api/openapi.json). A route gives the path, the
methods and the path parameters (from its convertors); its endpoint gives the
operationId (the function's name), the summary and description (its
docstring) and what `@documented(...)`, written next to it, declares: query
parameters, the request body and the responses. Who may call an operation is
asked of the access control itself (`auth.required_role`). The readings body
is the pipeline's own JSON Schemas (schema/events/*.schema.json).

GET /api/docs renders the same document as plain server-side HTML (no script,
no CDN: the CSP is `script-src 'self'` and the service may run offline).
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from iotmon import __version__
from iotmon.adapters.postgres.db import SCHEMA_DIR
from iotmon.service.responses import JSONResponse

EVENT_SCHEMAS = SCHEMA_DIR / "events"
ATTRIBUTE = "__openapi__"
OPENAPI_VERSION = "3.1.0"
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_TYPES: dict[Any, str] = {int: "integer", str: "string", bool: "boolean", float: "number"}
_CONVERTOR_TYPES = {"IntegerConvertor": "integer", "FloatConvertor": "number"}


# --------------------------------------------------------------------------- declarations next to the endpoints


@dataclass(frozen=True)
class Query:
    """A query parameter: its type (int, str, bool, float), a description, JSON Schema keywords
    (minimum, maximum, enum, maxLength, format, default, ...) and whether it is required."""

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
    """A response: its description, what `data` holds (JSON, in the envelope) or another media type."""

    description: str
    data: dict[str, Any] | None = None
    media_type: str | None = None  # None: JSON, in the seed envelope (or the error envelope for >= 400)
    schema: dict[str, Any] | None = None  # the whole body's schema, for a body that is not an envelope


@dataclass(frozen=True)
class Doc:
    query: dict[str, Query]
    body: dict[str, Any] | None
    body_required: bool
    body_description: str | None
    responses: dict[int, Reply]
    path: dict[str, str]
    operation_id: str | None
    tag: str | None


def documented(
    *,
    query: dict[str, Query] | None = None,
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    body_description: str | None = None,
    responses: dict[int, str | Reply] | None = None,
    path: dict[str, str] | None = None,
    operation_id: str | None = None,
    tag: str | None = None,
) -> Callable[[Callable], Callable]:
    """Declares an endpoint's query parameters, JSON body and responses; the endpoint is returned unchanged."""
    replies = {
        status: reply if isinstance(reply, Reply) else Reply(reply) for status, reply in (responses or {}).items()
    }
    doc = Doc(query or {}, body, body_required, body_description, replies, path or {}, operation_id, tag)

    def mark(endpoint: Callable) -> Callable:
        setattr(endpoint, ATTRIBUTE, doc)
        return endpoint

    return mark


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any] | None = None, required: Iterable[str] = (), **keywords: Any) -> dict[str, Any]:
    """A JSON Schema object, shorthand for the declarations."""
    schema: dict[str, Any] = {"type": "object", **keywords}
    if properties is not None:
        schema["properties"] = properties
    if required:
        schema["required"] = list(required)
    return schema


# Shared parameter declarations
FROM = Query(str, "Start of the range: ISO 8601 (no offset = UTC) or epoch milliseconds.")
TO = Query(str, "End of the range: ISO 8601 (no offset = UTC) or epoch milliseconds.")

# --------------------------------------------------------------------------- components

_ENVELOPE = obj(
    {
        "success": {"const": True},
        "data": {"description": "The answer (see each operation)."},
        "meta": obj({"timestamp": {"type": "string", "format": "date-time"}}, ["timestamp"]),
    },
    ["success", "data", "meta"],
    description="The seed's success envelope.",
)
_ERROR = obj(
    {
        "success": {"const": False},
        "error": obj(
            {
                "code": {"type": "string", "description": "Machine-readable, e.g. VALIDATION_ERROR, DEVICE_NOT_FOUND."},
                "message": {"type": "string"},
                "details": {"description": "Any JSON: the offending fields, the allowed values..."},
            },
            ["code", "message", "details"],
            additionalProperties=False,
        ),
    },
    ["success", "error"],
    additionalProperties=False,
    description="The seed's error envelope.",
)
_STANDARD_ERRORS = {
    400: "Invalid input (VALIDATION_ERROR), with the problems in `details`.",
    401: "No token where one is needed, or a bad or expired token (UNAUTHORIZED, INVALID_TOKEN, TOKEN_EXPIRED).",
    403: "The token's role is not enough (FORBIDDEN).",
    404: "No such resource.",
    409: "The request conflicts with the resource's state.",
    413: "The body is too large (PAYLOAD_TOO_LARGE).",
    429: "Over the per-IP rate limit (RATE_LIMITED); see Retry-After.",
    503: "A dependency is unavailable; try again.",
}
_ROLE_DOC = {
    None: "Anyone.",
    "viewer": "A viewer, operator or admin token.",
    "operator": "An operator or admin token.",
    "admin": "An admin token.",
}


def event_schemas() -> dict[str, dict[str, Any]]:
    """schema/events/*.schema.json as components (`reading-batch` → ReadingBatch), refs rewritten to components."""
    names = {path.name: _component_name(path.name) for path in EVENT_SCHEMAS.glob("*.schema.json")}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: rewrite(value) for key, value in node.items() if key not in ("$schema", "$id")}
            target = out.get("$ref")
            if isinstance(target, str) and target.rsplit("/", 1)[-1] in names:
                out["$ref"] = f"#/components/schemas/{names[target.rsplit('/', 1)[-1]]}"
            return out
        if isinstance(node, list):
            return [rewrite(value) for value in node]
        return node

    return {
        names[path.name]: rewrite(json.loads(path.read_text())) for path in sorted(EVENT_SCHEMAS.glob("*.schema.json"))
    }


def _component_name(filename: str) -> str:
    return "".join(part.capitalize() for part in filename.removesuffix(".schema.json").split("-"))


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


def _summary(endpoint: Callable) -> tuple[str, str | None]:
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


def _operation(route: Route, method: str, doc: Doc | None, anonymous_read: bool) -> dict[str, Any]:
    from iotmon.service.auth import required_role

    endpoint = route.endpoint
    path = template(route.path)
    summary, description = _summary(endpoint)
    role = required_role(method, path, anonymous_read) if path.startswith("/api") else None
    operation: dict[str, Any] = {
        "operationId": (doc.operation_id if doc and doc.operation_id else endpoint.__name__),
        "summary": summary,
        "tags": [doc.tag if doc and doc.tag else _tag(path)],
        "x-required-role": role,
    }
    if description:
        operation["description"] = description
    parameters = []
    for name, convertor in route.param_convertors.items():
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": (doc.path.get(name) if doc else None) or name.replace("_", " "),
                "schema": {"type": _CONVERTOR_TYPES.get(type(convertor).__name__, "string")},
            }
        )
    for name, query in (doc.query if doc else {}).items():
        parameters.append(query.parameter(name))
    if parameters:
        operation["parameters"] = parameters
    if doc and doc.body is not None:
        operation["requestBody"] = {
            "required": doc.body_required,
            "content": {"application/json": {"schema": doc.body}},
            **({"description": doc.body_description} if doc.body_description else {}),
        }
    # Who may call it: a token is required for a role, optional (and checked when sent) otherwise.
    if path.startswith("/api"):
        operation["security"] = [{"bearerAuth": []}] if role else [{}, {"bearerAuth": []}]
    operation["responses"] = _responses(path, method, doc, role)
    return operation


def _responses(path: str, method: str, doc: Doc | None, role: str | None) -> dict[str, Any]:
    declared = dict(doc.responses) if doc else {}
    if path.startswith("/api"):
        # What the middlewares may answer for any /api request (security.py, auth.py).
        declared.setdefault(401, Reply(_STANDARD_ERRORS[401]))
        if role and role != "viewer":
            declared.setdefault(403, Reply(_STANDARD_ERRORS[403]))
        if not path.startswith("/api/health"):
            declared.setdefault(429, Reply(_STANDARD_ERRORS[429]))
    if not any(200 <= status < 300 for status in declared):
        declared[200] = Reply("OK")
    out: dict[str, Any] = {}
    for status in sorted(declared):
        reply = declared[status]
        if reply.schema is not None or reply.media_type is not None:
            media = reply.media_type or "application/json"
            content = {media: {"schema": reply.schema or {"type": "string"}}}
        elif status >= 400:
            content = {"application/json": {"schema": ref("Error")}}
        elif reply.data is not None:
            content = {"application/json": {"schema": {"allOf": [ref("Envelope"), obj({"data": reply.data})]}}}
        else:
            content = {"application/json": {"schema": ref("Envelope")}}
        out[str(status)] = {"description": reply.description, "content": content}
    return out


def build(routes: Iterable[BaseRoute], *, anonymous_read: bool = True) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes."""
    paths: dict[str, dict[str, Any]] = {}
    for route in documented_routes(routes):
        doc: Doc | None = getattr(route.endpoint, ATTRIBUTE, None)
        for method in sorted(route.methods or {"GET"}):
            if method == "HEAD":
                continue
            item = paths.setdefault(template(route.path), {})
            item[method.lower()] = _operation(route, method, doc, anonymous_read)
    schemas = {"Envelope": _ENVELOPE, "Error": _ERROR, **event_schemas()}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "iot-monitoring API",
            "version": __version__,
            "description": (
                "REST API of the iot-monitoring service. Every JSON answer is the seed envelope "
                '`{"success": true, "data", "meta"}` or `{"success": false, "error": {"code", "message", "details"}}` '
                "(except GET /api/health, in the seed's health format). Reading is open "
                + ("to anonymous clients" if anonymous_read else "to viewers")
                + "; writes need an operator token and user management an admin token, from POST /api/auth/login."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": copy.deepcopy(schemas),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A token from POST /api/auth/login: `Authorization: Bearer <token>`.",
                }
            },
        },
    }


# --------------------------------------------------------------------------- the docs page

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:64rem;padding:0 1rem;color:#1b1f24}
h1{margin-bottom:.2rem} h2{margin-top:2rem;border-bottom:1px solid #ccd;text-transform:capitalize}
.op{border:1px solid #d0d7de;border-radius:6px;margin:.8rem 0;padding:.6rem .9rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700;font-family:monospace}
.GET{color:#0969da}.POST{color:#1a7f37}.PUT{color:#9a6700}.DELETE{color:#cf222e}
code,pre{font-family:ui-monospace,monospace;font-size:12.5px} pre{background:#f6f8fa;padding:.5rem;overflow:auto;max-height:20rem}
table{border-collapse:collapse;margin:.3rem 0} td,th{border:1px solid #d0d7de;padding:.15rem .5rem;text-align:left;vertical-align:top}
.role{float:right;font-size:12px;color:#57606a}
"""


def _schema_text(schema: Any) -> str:
    return html.escape(json.dumps(schema, indent=1, ensure_ascii=False))


def render_docs(document: dict[str, Any]) -> str:
    """The document as a readable HTML page: operations by tag, with parameters, bodies, responses and roles."""
    e = html.escape
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            by_tag.setdefault(operation["tags"][0], []).append((method.upper(), path, operation))
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>{e(document['info']['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(document['info']['title'])} <small>{e(document['info']['version'])}</small></h1>",
        f"<p>{e(document['info']['description'])}</p>",
        '<p>Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a> (OpenAPI '
        f"{e(document['openapi'])}).</p>",
    ]
    for tag in sorted(by_tag):
        parts.append(f"<h2>{e(tag)}</h2>")
        for method, path, op in by_tag[tag]:
            role = op.get("x-required-role")
            parts.append(f'<div class=op id="{e(op["operationId"])}">')
            parts.append(f"<span class=role>{e(_ROLE_DOC.get(role, str(role)))}</span>")
            parts.append(f'<div><span class="m {method}">{method}</span> <code>{e(path)}</code></div>')
            parts.append(f"<p><b>{e(op['summary'])}</b>")
            if op.get("description"):
                parts.append(f"<br>{e(op['description'])}")
            parts.append(f"</p><p><small>operationId <code>{e(op['operationId'])}</code></small></p>")
            if op.get("parameters"):
                parts.append("<table><tr><th>parameter</th><th>in</th><th>schema</th><th>description</th></tr>")
                for p in op["parameters"]:
                    req = " (required)" if p.get("required") else ""
                    parts.append(
                        f"<tr><td><code>{e(p['name'])}</code>{req}</td><td>{e(p['in'])}</td>"
                        f"<td><code>{e(json.dumps(p['schema']))}</code></td><td>{e(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            if op.get("requestBody"):
                body = op["requestBody"]
                parts.append(
                    f"<p>Body (JSON{', required' if body.get('required') else ', optional'})"
                    f"{': ' + e(body['description']) if body.get('description') else ''}</p>"
                )
                parts.append(f"<pre>{_schema_text(body['content']['application/json']['schema'])}</pre>")
            parts.append("<table><tr><th>status</th><th>type</th><th>description</th></tr>")
            for status, reply in op["responses"].items():
                media = ", ".join(reply.get("content", {})) or "-"
                parts.append(f"<tr><td>{e(status)}</td><td>{e(media)}</td><td>{e(reply['description'])}</td></tr>")
            parts.append("</table></div>")
    parts.append("<h2>schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f'<h3 id="schema-{e(name)}">{e(name)}</h3><pre>{_schema_text(schema)}</pre>')
    parts.append("</body></html>")
    return "".join(parts)


# --------------------------------------------------------------------------- the endpoints


def app_document(request: Request) -> dict[str, Any]:
    """The app's document, built once from its own routes."""
    state = request.app.state
    document = getattr(state, "openapi", None)
    if document is None:
        document = build(request.app.routes, anonymous_read=request.app.state.access.anonymous_read)
        state.openapi = document
    return document


@documented(
    responses={200: Reply("The OpenAPI 3.1 document (not in the envelope).", schema={"type": "object"})},
    operation_id="openapi_document",
)
async def openapi_json(request: Request) -> Response:
    """This document: OpenAPI 3.1, generated from the routes the service serves."""
    return JSONResponse(app_document(request))


@documented(responses={200: Reply("An HTML page.", media_type="text/html")})
async def docs_page(request: Request) -> Response:
    """The API documentation as an HTML page, rendered from the OpenAPI document."""
    return HTMLResponse(render_docs(app_document(request)))
