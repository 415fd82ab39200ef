"""compose-dev/compose.yaml is a valid Compose file (checked offline against the Compose Specification)."""

import json

import yaml
from jsonschema import Draft7Validator

from iotmon import ROOT
from tests.support.paths import COMPOSE_SCHEMA


def test_compose_file_is_valid():
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    document = yaml.safe_load((ROOT / "compose-dev" / "compose.yaml").read_text())
    errors = [error.message for error in Draft7Validator(schema).iter_errors(document)]
    assert not errors
    assert set(document["services"]) == {"kafka", "postgres", "redis"}
