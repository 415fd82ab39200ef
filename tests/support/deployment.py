"""What the deployment tests share: kustomize, the offline schemas, the Containerfile's targets.

kustomize is the real one (sigs.k8s.io/kustomize, pinned), so that what is
validated is exactly what `kubectl apply -k` would send. It is looked for as
$KUSTOMIZE, then as a binary built once from the Go module proxy into the cache
(~/.cache/iotmon/bin, or $IOTMON_CACHE_DIR/bin), then as `kubectl kustomize`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

from tests.support.paths import COMPOSE_SCHEMA, FUNC_YAML_SCHEMA, K8S_SCHEMAS, REPO, SHARED

KNATIVE = REPO / "knative"
LAYERS = {"base": KNATIVE / "base", "dev": KNATIVE / "overlays" / "dev", "prod": KNATIVE / "overlays" / "prod"}
CONTAINERFILE = REPO / "Containerfile"
IMAGE_REPOSITORY = "ghcr.io/iot-monitoring"  # image = <repository>/<Containerfile target>:<tag>
FUNCTIONS = ("ingest", "aggregate", "evaluate-rule", "escalate-cron", "notify")

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.5.0"
KUBERNETES_VERSION = "1.32"  # the schemas core kinds are checked against (Knative 1.17+ needs 1.30+)
CORE_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}


def cache_dir() -> Path:
    return Path(os.environ.get("IOTMON_CACHE_DIR", "~/.cache/iotmon")).expanduser()


@cache
def kustomize_command() -> tuple[str, ...]:
    if chosen := os.environ.get("KUSTOMIZE"):
        return (chosen,)
    binary = cache_dir() / "bin" / f"kustomize-{KUSTOMIZE_VERSION}"
    if binary.is_file():
        return (str(binary),)
    if go := shutil.which("go"):
        binary.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=binary.parent) as gobin:
            env = {**os.environ, "GOBIN": gobin, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
            built = subprocess.run(
                [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if built.returncode == 0:
                os.replace(Path(gobin) / "kustomize", binary)
                return (str(binary),)
            failure = built.stderr[-2000:]
    else:
        failure = "no `go` on PATH"
    if kubectl := shutil.which("kubectl"):
        return (kubectl, "kustomize")
    pytest.fail(
        f"kustomize is needed to render knative/ and none was found: {failure}. Install Go (then the tests build "
        f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION} from the Go module proxy into {binary.parent}), or kubectl, "
        "or set KUSTOMIZE to a kustomize binary."
    )


@cache
def _render(layer: str) -> str:
    done = subprocess.run(
        [*kustomize_command(), "build", str(LAYERS[layer])], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kustomize build {LAYERS[layer]} failed:\n{done.stderr}"
    return done.stdout


def render(layer: str) -> list[dict[str, Any]]:
    """The resources `kubectl apply -k` would send for base, dev or prod (a fresh copy each call)."""
    return [doc for doc in load_all(_render(layer)) if doc]


class _JsonLoader(yaml.SafeLoader):
    """YAML as its JSON view: timestamps stay strings, as the API server and func read them."""


_JsonLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_JsonLoader))  # a SafeLoader


def load(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_JsonLoader)  # a SafeLoader


# Why a check is skipped when there is no ../shared: one line per schema location, whatever the test.
_UPSTREAM = {
    K8S_SCHEMAS: "the offline Kubernetes schemas (Knative and Strimzi CRDs) are in ../shared/schemas/k8s beside the "
    "checkout (CI provides them)",
    COMPOSE_SCHEMA: "the Compose Specification's JSON schema is ../shared/schemas/compose-spec.json beside the "
    "checkout (CI provides it)",
    FUNC_YAML_SCHEMA: "func's func.yaml JSON schema is ../shared/schemas/func_yaml-schema.json beside the checkout "
    "(CI provides it)",
}


def upstream_schema(location: Path, path: Path | None = None) -> Any:
    """The JSON schema at `path` (by default `location` itself) among the upstream schemas in ../shared.

    Without ../shared beside the checkout (a clone on its own) the test is skipped with one line saying what
    is missing; with it (as in CI) a missing schema is a failure that says where each comes from."""
    path = path or location
    if not SHARED.is_dir():
        pytest.skip(f"no ../shared: {_UPSTREAM[location]}")
    if not path.exists():
        pytest.fail(
            f"{path} is missing. The offline schemas live in the project's shared folder beside the checkout "
            f"({SHARED}); see {SHARED / 'schemas' / 'README.md'} for where each comes from: the Knative CRDs are in "
            "the Go modules knative.dev/serving, knative.dev/eventing and knative.dev/eventing-kafka-broker "
            "(`go mod download -json <module>@<version>` prints where the module's config/ YAMLs landed), Strimzi's "
            "in its release's install/cluster-operator, func's in knative/func's schema/func_yaml-schema.json."
        )
    return json.loads(path.read_text())


def group_version(document: dict[str, Any]) -> tuple[str, str]:
    group, _, version = document["apiVersion"].rpartition("/")
    return group, version


def is_core(document: dict[str, Any]) -> bool:
    """A Kubernetes kind (checked against the schemas kubernetes-validate ships), not a custom resource."""
    return group_version(document)[0] in CORE_GROUPS


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Why the resource would be refused: custom kinds against their CRD schema (from ../shared), core kinds
    against Kubernetes' (offline, from kubernetes-validate)."""
    group, version = group_version(document)
    name = f"{document['kind']}/{document['metadata'].get('name')}"
    if group in CORE_GROUPS:
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            return [f"{name}: {'/'.join(map(str, error.path))}: {error.message}"]
        return []
    schema = upstream_schema(K8S_SCHEMAS, K8S_SCHEMAS / group / f"{document['kind'].lower()}_{version}.json")
    validator = validator_for(schema)(schema, format_checker=FormatChecker())
    return [f"{name}: {'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]


def containerfile_stages() -> dict[str, dict[str, Any]]:
    """Each named stage of the Containerfile: its base, its CMD (exec form) and its COPY sources."""
    stages: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())  # join continued lines
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        instruction = words[0].upper()
        if instruction == "FROM":
            current = {"from": words[1], "cmd": None, "copies": []}
            if len(words) >= 4 and words[2].upper() == "AS":
                stages[words[3]] = current
        elif current is not None and instruction == "CMD":
            current["cmd"] = json.loads(line.split(None, 1)[1])
        elif current is not None and instruction == "COPY":
            arguments = [w for w in words[1:] if not w.startswith("--")]
            source = "from" if any(w.startswith("--from=") for w in words) else "context"
            current["copies"].append((source, arguments[:-1], arguments[-1]))
    return stages


def image(target: str) -> str:
    return f"{IMAGE_REPOSITORY}/{target}"


def split_image(reference: str) -> tuple[str, str]:
    """(repository/name, tag) of an image reference."""
    name, _, tag = reference.rpartition(":")
    return name, tag
