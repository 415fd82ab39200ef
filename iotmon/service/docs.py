"""The API's description: GET /api/openapi.json, and GET /api/docs, the same document as plain HTML.

The page is rendered on the server (no script, no CDN): the CSP is
`script-src 'self'` and the service may run offline.
"""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from iotmon.service.openapi import Reply, build, documented
from iotmon.service.responses import JSONResponse

_ROLE_DOC = {
    None: "Anyone.",
    "viewer": "A viewer, operator or admin token.",
    "operator": "An operator or admin token.",
    "admin": "An admin token.",
}


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


def app_document(request: Request) -> dict[str, Any]:
    """The app's document, built once from its own routes."""
    state = request.app.state
    document = getattr(state, "openapi", None)
    if document is None:
        document = build(request.app.routes, anonymous_read=request.app.state.access.anonymous_read)
        state.openapi = document
    return document


@documented(
    responses={200: Reply("The OpenAPI 3.1 document (not in the envelope).", media_type="application/json")},
    operation_id="openapi_document",
)
async def openapi_json(request: Request) -> Response:
    """This document: OpenAPI 3.1, generated from the routes the service serves."""
    return JSONResponse(app_document(request))


@documented(responses={200: Reply("An HTML page.", media_type="text/html")})
async def docs_page(request: Request) -> Response:
    """The API documentation as an HTML page, rendered from the OpenAPI document."""
    return HTMLResponse(render_docs(app_document(request)))
