"""compose-dev/compose.yaml: a valid Compose file (checked offline against the Compose Specification), running the
processes the manifests run, wired to the functions the router's wiring names."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft7Validator

from eventing.wiring import load_wiring
from tests.support.deployment import FUNCTIONS, containerfile_stages, load, upstream_schema
from tests.support.paths import COMPOSE_SCHEMA, REPO

COMPOSE = REPO / "compose-dev" / "compose.yaml"
# How the router is told where each function listens (the router reads the same variable): name=url,name=url,…
FUNCTION_URLS = "IOTMON_FUNCTION_URLS"
SERVERS = {"kafka", "postgres", "redis", "mosquitto"}
PROCESSES = {"migrate", "router", "service", "simulator", "mqtt-bridge", "opcua-bridge", *FUNCTIONS}


@pytest.fixture(scope="module")
def compose():
    return load(COMPOSE)


def function_urls(text: str) -> dict[str, str]:
    return dict(pair.strip().split("=", 1) for pair in text.split(",") if pair.strip())


def test_compose_file_is_valid(compose):
    schema = upstream_schema(COMPOSE_SCHEMA)
    errors = [f"{list(e.path)}: {e.message}" for e in Draft7Validator(schema).iter_errors(compose)]
    assert not errors


def test_the_servers_and_every_process(compose):
    assert set(compose["services"]) == SERVERS | PROCESSES


def test_processes_are_built_from_the_containerfile_targets(compose):
    stages = containerfile_stages()
    for name in PROCESSES:
        build = compose["services"][name]["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == REPO
        assert build["dockerfile"] == "Containerfile"
        assert build["target"] in stages
    for function in FUNCTIONS:
        assert compose["services"][function]["build"]["target"] == function
    assert compose["services"]["migrate"]["command"] == ["iotmon", "migrate"]


def test_everything_waits_for_what_it_needs(compose):
    services = compose["services"]
    for name in SERVERS | set(FUNCTIONS) | {"service", "simulator"}:
        assert "healthcheck" in services[name], name
    assert services["mqtt-bridge"]["depends_on"]["mosquitto"] == {"condition": "service_healthy"}
    for name in (*FUNCTIONS, "service"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for function in FUNCTIONS:
        assert services["router"]["depends_on"][function] == {"condition": "service_healthy"}


def test_the_router_delivers_to_every_function_of_the_wiring(compose):
    wiring = load_wiring()
    routed = {s.function for s in wiring.subscriptions} | {s.function for s in wiring.schedules}
    ports = {s.name: s.port for s in wiring.services}
    urls = function_urls(compose["services"]["router"]["environment"][FUNCTION_URLS])
    assert set(urls) == routed == set(FUNCTIONS)
    for function, url in urls.items():
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.port == ports[function]
        assert compose["services"][parts.hostname]["build"]["target"] == function


def test_the_containers_reach_the_servers_compose_runs(compose):
    services = compose["services"]
    postgres = services["postgres"]["environment"]
    kafka = services["kafka"]["environment"]
    for name in PROCESSES:
        environment = services[name]["environment"]
        database = urlsplit(environment["DATABASE_URL"])
        assert (database.hostname, database.username, database.password, database.path) == (
            "postgres",
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            "/" + postgres["POSTGRES_DB"],
        )
        assert urlsplit(environment["REDIS_URL"]).hostname == "redis"
        assert f"//{environment['KAFKA_BOOTSTRAP_SERVERS']}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
        assert environment["HOST"] == "0.0.0.0"


def test_the_opcua_bridge_reads_a_valid_node_mapping_on_demand(compose):
    from iotmon.core.opcua import parse_config

    bridge = compose["services"]["opcua-bridge"]
    assert bridge["profiles"] == ["opcua"]  # it needs a server: started with --profile opcua
    (volume,) = bridge["volumes"]
    mounted = re.fullmatch(r"\$\{IOTMON_OPCUA_CONFIG_FILE:-(?P<file>[^}]+)\}:(?P<path>/\S+):ro", volume)
    assert mounted and mounted["path"] == bridge["environment"]["IOTMON_OPCUA_CONFIG"], volume
    url = re.fullmatch(r"\$\{IOTMON_OPCUA_URL:-(?P<url>[^}]+)\}", bridge["environment"]["IOTMON_OPCUA_URL"])
    assert url, bridge["environment"]["IOTMON_OPCUA_URL"]
    parse_config((COMPOSE.parent / mounted["file"]).read_text(), mounted["file"], url=url["url"])
