"""The Containerfile (parsed, not built: there is no container engine here) has a target for every process."""

from __future__ import annotations

import fnmatch
import importlib
import re

import pytest

from iotmon.cli import build_parser
from tests.support.deployment import FUNCTIONS, containerfile_stages
from tests.support.paths import REPO

FRAMEWORK = re.compile(r"--source=(?P<source>\S+) --target=(?P<target>\S+) --signature-type=(?P<signature>\S+)")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_has_a_target_serving_its_handler(function):
    stage = containerfile_stages()[function]
    assert stage["cmd"][0] == "functions-framework"
    match = FRAMEWORK.fullmatch(" ".join(stage["cmd"][1:]))
    assert match, stage["cmd"]
    source = REPO / match["source"]
    assert source == REPO / "functions" / f"{function.replace('-', '_')}.py"
    module = importlib.import_module(f"functions.{source.stem}")  # as functions-framework loads it: no connection yet
    assert callable(getattr(module, match["target"], None)), f"{source} has no {match['target']}()"
    assert match["signature"] == "cloudevent"


@pytest.mark.parametrize(("target", "command"), [("service", "serve"), ("simulator", "simulate"), ("router", "router")])
def test_the_long_lived_processes_run_iotmon_commands(target, command):
    cmd = containerfile_stages()[target]["cmd"]
    assert cmd == ["iotmon", command]
    build_parser().parse_args(cmd[1:])  # the command exists


def test_the_opcua_bridge_target_runs_the_bridge():
    cmd = containerfile_stages()["opcua-bridge"]["cmd"]
    assert cmd == ["iotmon", "bridge", "opcua"]
    args = build_parser().parse_args([*cmd[1:], "--config", "opcua.yaml"])  # the command exists
    assert args.bridge_command == "opcua"


def test_the_default_target_is_the_service_and_the_package_carries_the_built_dashboard():
    stages = containerfile_stages()
    assert list(stages)[-1] == "service"
    assert ("from", ["/src/frontend/dist"], "frontend/dist") in stages["python"]["copies"]
    text = (REPO / "Containerfile").read_text()
    assert "RUN npm ci" in text and "RUN npm run build" in text


def test_every_target_builds_on_the_one_python_stage():
    stages = containerfile_stages()
    for name in (*FUNCTIONS, "service", "simulator", "router", "opcua-bridge"):
        assert stages[name]["from"] == "python", name


def test_what_the_build_copies_exists_and_is_not_ignored():
    ignored = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    for stage in containerfile_stages().values():
        for origin, sources, _ in stage["copies"]:
            if origin != "context":
                continue
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
                hits = [
                    p
                    for p in ignored
                    if fnmatch.fnmatch(source.rstrip("/"), p.rstrip("/")) or source.startswith(p + "/")
                ]
                assert not hits, f"COPY {source} is excluded by .dockerignore {hits}"
