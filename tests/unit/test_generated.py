"""The files generated from the contracts are what the contracts make now (`make generate` rewrites them)."""

from __future__ import annotations

from iotmon import generate
from tests.support.paths import REPO


def test_the_generated_files_are_up_to_date() -> None:
    stale = [str(path.relative_to(REPO)) for path in generate.stale(REPO)]
    assert not stale, f"stale generated files {stale}: run `make generate` and commit them"


def test_each_event_schema_is_the_contract_of_its_data() -> None:
    for name, contract in generate.EVENTS.items():
        schema = generate.event_schema(name, contract)
        assert schema["title"] == contract.__name__ and schema["$id"].endswith(f"/{name}.schema.json")
