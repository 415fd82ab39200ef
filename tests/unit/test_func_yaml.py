"""func/<name>/func.yaml: valid for Knative Functions' `func`, and in step with the function's Knative Service."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker

from eventing.wiring import read_manifests
from tests.support.deployment import FUNCTIONS, load, upstream_schema
from tests.support.paths import FUNC_YAML_SCHEMA, REPO


def service(name):
    (document,) = [
        d
        for d in read_manifests()
        if d["kind"] == "Service"
        and d["apiVersion"].startswith("serving.knative.dev/")
        and d["metadata"]["name"] == name
    ]
    return document


@pytest.mark.parametrize("function", FUNCTIONS)
def test_func_yaml_is_valid(function):
    schema = upstream_schema(FUNC_YAML_SCHEMA)
    errors = [
        f"{list(e.path)}: {e.message}"
        for e in Draft4Validator(schema, format_checker=FormatChecker()).iter_errors(
            load(REPO / "func" / function / "func.yaml")
        )
    ]
    assert not errors


def test_there_is_one_func_yaml_per_function():
    assert {p.parent.name for p in (REPO / "func").glob("*/func.yaml")} == set(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_func_yaml_says_what_the_knative_service_says(function):
    func = load(REPO / "func" / function / "func.yaml")
    knative = service(function)
    template = knative["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    (container,) = template["spec"]["containers"]

    assert func["name"] == function and func["invoke"] == "cloudevent" and func["runtime"] == "python"
    assert func["image"] == container["image"]
    assert func["namespace"] == func["deploy"]["namespace"] == "iot-monitoring"
    assert func["deploy"]["options"]["scale"] == {
        "min": int(annotations["autoscaling.knative.dev/min-scale"]),
        "max": int(annotations["autoscaling.knative.dev/max-scale"]),
        "metric": annotations["autoscaling.knative.dev/metric"],
        "target": int(annotations["autoscaling.knative.dev/target"]),
    }
    resources = func["deploy"]["options"]["resources"]
    assert resources["requests"] == container["resources"]["requests"]
    assert resources["limits"] == {
        **container["resources"]["limits"],
        "concurrency": template["spec"]["containerConcurrency"],
    }

    envs = func["run"]["envs"]
    imported = {e["value"] for e in envs if "name" not in e}
    required = {f"{{{{ configMap:{e['configMapRef']['name']} }}}}" for e in container["envFrom"] if "configMapRef" in e}
    required |= {
        f"{{{{ secret:{e['secretRef']['name']} }}}}"
        for e in container["envFrom"]
        if "secretRef" in e and not e["secretRef"].get("optional")
    }
    assert imported == required
    assert {e["name"]: e["value"] for e in envs if "name" in e} == {e["name"]: func_value(e) for e in container["env"]}


def func_value(entry: dict[str, Any]) -> str:
    """A container's env entry as func.yaml writes it: a value, or `{{ secret:<name>:<key> }}` for a Secret's key."""
    if "value" in entry:
        return str(entry["value"])
    ref = entry["valueFrom"]["secretKeyRef"]
    return f"{{{{ secret:{ref['name']}:{ref['key']} }}}}"
