"""The API's OpenAPI document and docs page, and a property-based test of the API from that document.

The document is generated from the routes (iotmon/service/openapi.py): here it
must be valid OpenAPI, cover exactly the route table (a new route without docs
fails), and schemathesis, fed the document the running service serves, must
find no 5xx and no answer outside the envelopes. The service is the session's shared system
(tests/integration/conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from iotmon.core.contracts.alerts import AlertNote, NewSilence
from iotmon.core.contracts.devices import ConfigUpdate
from iotmon.core.contracts.validation import field_names
from iotmon.service import gateway_keys
from iotmon.service.routes import API_ROUTES
from iotmon.system import System
from tests.support.auth import token
from tests.support.paths import REPO

MAX_EXAMPLES = int(os.environ.get("IOTMON_OPENAPI_EXAMPLES", "25"))
NOT_ENVELOPES = {"/api/health", "/api/openapi.json", "/metrics"}  # the Health contract, the document, Prometheus


@pytest.fixture(scope="module")
def document(service: System) -> dict[str, Any]:
    answer = httpx.get(f"{service.url}/api/openapi.json", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    return answer.json()


def route_table() -> set[tuple[str, str]]:
    """(path, method) of every route the service serves under /api/ and /metrics, read off Starlette's routes."""
    routes = [Route("/metrics", lambda _request: None), *API_ROUTES]
    table = set()
    for route in routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path)
        table |= {(path, method) for method in route.methods if method != "HEAD"}
    return table


# --------------------------------------------------------------------------- the document


def test_the_document_is_valid_openapi(document):
    validate(document)
    assert document["openapi"].startswith("3.")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }


def test_the_document_covers_exactly_the_route_table(document):
    served = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    assert served == route_table()
    assert ("/api/openapi.json", "GET") in served and ("/api/docs", "GET") in served
    operations = [op for item in document["paths"].values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for op in operations:
        assert op["summary"] and op["responses"], op["operationId"]


def test_every_route_is_documented_next_to_its_endpoint():
    undocumented = [route.path for route in API_ROUTES if not hasattr(route.endpoint, "__openapi__")]
    assert not undocumented, f"add @documented(...) to the endpoints of {undocumented}"


def test_operations_carry_the_roles_of_the_access_control(document):
    paths = document["paths"]
    for path, method in [
        ("/api/alerts/{alert_id}/acknowledge", "put"),
        ("/api/silences", "post"),
        ("/api/devices/{device_id}/config", "put"),
        ("/api/silences/{silence_id}", "delete"),
    ]:
        assert paths[path][method]["x-required-role"] == "operator"
        assert paths[path][method]["security"] == [{"bearerAuth": []}]
        assert "403" in paths[path][method]["responses"]
    for method in ("get", "post"):
        assert paths["/api/users"][method]["x-required-role"] == "admin"
        assert paths["/api/keys"][method]["x-required-role"] == "admin"
    assert paths["/api/keys/{key_id}"]["delete"]["x-required-role"] == "admin"
    assert paths["/api/devices"]["get"]["x-required-role"] is None
    # Gateways write with an API key (in either header); an operator's token does too.
    readings = paths["/api/readings"]["post"]
    assert readings["x-required-role"] == "operator"
    assert readings["security"] == [{"gatewayKey": []}, {"gatewayKeyHeader": []}, {"bearerAuth": []}]
    assert {"gatewayKey", "gatewayKeyHeader"} <= set(document["components"]["securitySchemes"])
    assert paths["/api/auth/login"]["post"]["security"] == [{}, {"bearerAuth": []}]


def test_bodies_are_the_contracts_the_handlers_decode(document):
    """The readings body is the events' own contracts; each other body is the contract its handler decodes."""
    schemas = document["components"]["schemas"]
    reading = json.loads((REPO / "schema" / "events" / "reading.schema.json").read_text())
    assert schemas["Reading"]["properties"] == reading["properties"]
    assert schemas["ReadingBatch"]["properties"]["readings"]["items"] == {"$ref": "#/components/schemas/Reading"}
    body = document["paths"]["/api/readings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"oneOf": [{"$ref": "#/components/schemas/Reading"}, {"$ref": "#/components/schemas/ReadingBatch"}]}
    paths = document["paths"]
    for path, method, contract in [
        ("/api/devices/{device_id}/config", "put", ConfigUpdate),
        ("/api/silences", "post", NewSilence),
        ("/api/alerts/{alert_id}/acknowledge", "put", AlertNote),
    ]:
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{contract.__name__}"}
        assert set(schemas[contract.__name__]["properties"]) == set(field_names(contract))


def test_the_docs_page_lists_every_operation(service, document):
    answer = httpx.get(f"{service.url}/api/docs", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    page = answer.text
    assert "<script" not in page and "http://" not in page.replace('href="/api/openapi.json"', "")
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert f'id="{op["operationId"]}"' in page
            block = page.split(f'id="{op["operationId"]}"', 1)[1].split("</div>\n", 1)[0]
            assert f">{method.upper()}</span> <code>{path}</code>" in block


# --------------------------------------------------------------------------- property-based: no 5xx, always the envelope


# Operations that end the caller's session (logout; a change to its own user): each request needs a fresh one.
ENDS_SESSIONS = {("/api/auth/logout", "POST"), ("/api/users/{username}", "PUT")}


@pytest.fixture(scope="module")
def admin_headers(service: System, database_url: str) -> Callable[[bool], dict[str, str]]:
    # admin can do everything an operator can, and the user endpoints are exercised too
    shared = {"Authorization": f"Bearer {token(service.url, database_url, 'admin')}"}

    def headers(fresh: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(service.url, database_url, 'admin')}"} if fresh else shared

    return headers


@pytest.fixture(scope="module")
def api_schema(service: System, database_url: str) -> Iterator[Any]:
    loaded = schemathesis.openapi.from_url(f"{service.url}/api/openapi.json")
    loaded.config.update(base_url=service.url)
    # Undo what the random requests leave behind: users, silences, keys made or revoked (devices and readings are
    # reset by clean_db).
    with psycopg.connect(database_url, autocommit=True) as conn:
        users_before = conn.execute("SELECT username, password_hash, role FROM users").fetchall()
        last_silence = conn.execute("SELECT coalesce(max(id), 0) FROM silences").fetchone()[0]
        live_keys = [row[0] for row in conn.execute("SELECT id FROM api_keys WHERE revoked_at IS NULL")]
        last_key = conn.execute("SELECT coalesce(max(id), 0) FROM api_keys").fetchone()[0]
    yield loaded
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM silences WHERE id > %s", (last_silence,))
        conn.execute("DELETE FROM api_keys WHERE id > %s", (last_key,))
        conn.execute("UPDATE api_keys SET revoked_at = NULL WHERE id = ANY(%s)", (live_keys,))
        conn.execute("DELETE FROM users WHERE NOT username = ANY(%s)", ([row[0] for row in users_before],))
        for row in users_before:
            conn.execute(
                "INSERT INTO users (username, password_hash, role) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", row
            )
    time.sleep(gateway_keys.TTL_S)  # until the service's key cache has forgotten the revocations


def assert_in_envelope(case: Any, response: Any) -> None:
    path = case.operation.path
    media = response.headers.get("content-type", [""])
    media = media[0] if isinstance(media, list) else media
    if path in NOT_ENVELOPES or not media.startswith("application/json"):
        assert response.status_code < 400 or media.startswith("application/json"), (
            f"{case.operation.label}: error not in JSON"
        )
        return
    body = response.json()
    if response.status_code < 400:
        assert body["success"] is True and set(body) == {"success", "data", "meta"}, body
        assert isinstance(body["meta"].get("timestamp"), str)
    else:
        assert body["success"] is False and set(body) == {"success", "error"}, body
        assert set(body["error"]) == {"code", "message", "details"}, body


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def generated_cases() -> list[tuple[str, str, GenerationMode]]:
    """Valid requests for every operation; invalid ones where there is something to get wrong (a query, a body)."""
    endpoints = {
        (re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", route.path), method): route.endpoint
        for route in [*API_ROUTES]
        for method in route.methods
    }
    cases = []
    for path, method in sorted(route_table()):
        cases.append((path, method, GenerationMode.POSITIVE))
        doc = getattr(endpoints.get((path, method)), "__openapi__", None)
        if doc is not None and (doc.query or doc.body is not None):
            cases.append((path, method, GenerationMode.NEGATIVE))
    return cases


@pytest.mark.parametrize(("path", "method", "mode"), generated_cases())
def test_the_api_from_its_own_document(api_schema, admin_headers, clean_db, path, method, mode):
    """Generated requests (valid, then invalid) for every operation: no 5xx, the documented statuses,
    content types and schemas, and always the envelope."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        response = case.call(headers=admin_headers((path, method) in ENDS_SESSIONS), timeout=30)
        case.validate_response(response, checks=CHECKS)
        assert_in_envelope(case, response)

    check()


# What the generators never send (hypothesis' text has no lone surrogates, URLs no broken UTF-8), a client may.
SURROGATE = '"\\ud800x"'  # valid JSON, but a string no UTF-8 encoder (or PostgreSQL) takes
HOSTILE = [
    ("POST", "/api/auth/login", f'{{"username": {SURROGATE}, "password": "x"}}'),
    ("POST", "/api/auth/login", f'{{"username": "admin", "password": {SURROGATE}}}'),
    ("POST", "/api/users", f'{{"username": "someone", "password": {SURROGATE}}}'),
    ("POST", "/api/users", f'{{"username": {SURROGATE}, "password": "long enough password"}}'),
    (
        "POST",
        "/api/readings",
        '{"deviceId": "device-001", "timestamp": "2026-01-01T00:00:00Z", "sensorType": "t",'
        f' "value": 1, "unit": {SURROGATE}}}',
    ),
    ("POST", "/api/silences", f'{{"deviceId": {SURROGATE}, "reason": "r", "endsAt": "2999-01-01T00:00:00Z"}}'),
    ("POST", "/api/silences", f'{{"deviceId": null, "reason": {SURROGATE}, "endsAt": "2999-01-01T00:00:00Z"}}'),
    ("PUT", "/api/devices/device-001/config", f'{{"location": {SURROGATE}}}'),
    ("PUT", "/api/alerts/alert-000001/acknowledge", f'{{"note": {SURROGATE}}}'),
    ("GET", "/api/alerts?deviceId=%ED%A0%80&type=%FF", None),
    ("GET", "/api/silences?deviceId=%ED%A0%80", None),
    ("GET", "/api/devices/%ED%A0%80/history?from=%FF", None),
    ("GET", "/api/devices/%ED%A0%80", None),
    ("GET", "/api/analytics/trends/%00", None),
    ("DELETE", "/api/users/%ED%A0%80", None),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE)
def test_strings_no_generator_sends_get_no_5xx(service, admin_headers, clean_db, method, path, body):
    headers = {**admin_headers(False), "content-type": "application/json"}
    answer = httpx.request(method, f"{service.url}{path}", content=body, headers=headers, timeout=30)
    assert answer.status_code < 500, answer.text
    assert answer.json()["success"] is (answer.status_code < 400), answer.text
