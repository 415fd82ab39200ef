"""The wiring read from knative/, and the manifests valid against the resources' schemas."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from eventing import topics
from eventing.wiring import Delivery, load_wiring, parse_duration, read_manifests
from iotmon import ROOT
from tests.support.paths import K8S_SCHEMAS

SCHEMA_FILES = {
    ("serving.knative.dev", "Service"): "serving.knative.dev/service_v1.json",
    ("sources.knative.dev", "KafkaSource"): "sources.knative.dev/kafkasource_v1.json",
    ("sources.knative.dev", "PingSource"): "sources.knative.dev/pingsource_v1.json",
    ("eventing.knative.dev", "KafkaSink"): "eventing.knative.dev/kafkasink_v1alpha1.json",
}


def test_ingest_hears_sensors_data_with_a_dead_letter_topic():
    wiring = load_wiring()
    ingest = [s for s in wiring.subscriptions if s.function == "ingest"]
    assert len(ingest) == 1
    assert ingest[0].topics == (topics.SENSORS_DATA,)
    assert ingest[0].group == "ingest"
    assert ingest[0].delivery.retry >= 1
    assert ingest[0].delivery.dead_letter_topic == topics.SENSORS_DATA_DLQ


@pytest.mark.parametrize("document", read_manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_manifest_is_valid(document):
    key = (document["apiVersion"].split("/")[0], document["kind"])
    schema = json.loads((K8S_SCHEMAS / SCHEMA_FILES[key]).read_text())
    errors = sorted(Draft202012Validator(schema).iter_errors(document), key=str)
    assert not errors, [e.message for e in errors]


def test_kustomization_lists_every_manifest():
    import yaml

    listed = set(yaml.safe_load((ROOT / "knative" / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in (ROOT / "knative").glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize(("text", "seconds"), [("PT0.2S", 0.2), ("PT1M", 60), ("PT1H30M", 5400), ("P1D", 86400)])
def test_iso_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "1s", "PT-1S"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_backoff_follows_knative():
    assert Delivery(backoff_policy="exponential", backoff_delay=0.1).delay(3) == pytest.approx(0.8)
    assert Delivery(backoff_policy="linear", backoff_delay=0.1).delay(3) == pytest.approx(0.3)


def test_ping_sources_are_read(tmp_path: Path):
    (tmp_path / "cron.yaml").write_text(
        "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {name: tick}\n"
        "spec:\n  schedule: '*/1 * * * *'\n  data: '{\"a\": 1}'\n  sink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: cron}}\n"
    )
    wiring = load_wiring(tmp_path)
    assert wiring.subscriptions == ()
    assert [(s.name, s.schedule, s.function, s.data) for s in wiring.schedules] == [("tick", "*/1 * * * *", "cron", '{"a": 1}')]


def test_a_dead_letter_sink_must_be_declared(tmp_path: Path):
    (tmp_path / "source.yaml").write_text(
        "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata: {name: s}\n"
        "spec:\n  topics: [t]\n  bootstrapServers: [k:9092]\n  sink: {ref: {kind: Service, name: f}}\n"
        "  delivery: {deadLetterSink: {ref: {kind: KafkaSink, name: missing}}}\n"
    )
    with pytest.raises(ValueError, match="not declared"):
        load_wiring(tmp_path)
