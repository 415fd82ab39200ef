"""The wiring the local router reads from knative/base (the manifests themselves are checked in test_manifests.py)."""

from pathlib import Path

import pytest

from eventing import topics
from eventing.wiring import Delivery, load_wiring, parse_duration, read_manifests
from tests.support.paths import KNATIVE_DIR

FUNCTIONS = {"ingest", "aggregate", "evaluate-rule", "escalate-cron", "notify"}


def test_ingest_hears_sensors_data_with_a_dead_letter_topic():
    wiring = load_wiring()
    ingest = [s for s in wiring.subscriptions if s.function == "ingest"]
    assert len(ingest) == 1
    assert ingest[0].topics == (topics.SENSORS_DATA,)
    assert ingest[0].group == "ingest"
    assert ingest[0].delivery.retry >= 1
    assert ingest[0].delivery.dead_letter_topic == topics.SENSORS_DATA_DLQ


def test_the_wiring_of_the_five_functions():
    wiring = load_wiring()
    heard = {(s.function, s.topics, s.group) for s in wiring.subscriptions}
    assert heard == {
        ("ingest", (topics.SENSORS_DATA,), "ingest"),
        ("aggregate", (topics.METRICS,), "aggregate"),
        ("evaluate-rule", (topics.METRICS,), "evaluate-rule"),
        ("notify", (topics.ALERTS,), "notify"),
    }
    assert [(s.function, s.schedule) for s in wiring.schedules] == [("escalate-cron", "* * * * *")]
    assert {s.name for s in wiring.services} == FUNCTIONS
    assert all(s.port == 8080 for s in wiring.services)


def test_alert_changes_have_their_own_dead_letter_topic():
    notify = next(s for s in load_wiring().subscriptions if s.function == "notify")
    assert notify.delivery.dead_letter_topic == topics.ALERTS_DLQ


def test_every_source_is_ordered_with_a_timeout_and_starts_at_the_earliest_offset():
    for subscription in load_wiring().subscriptions:
        assert subscription.ordering == "ordered", subscription.name
        assert subscription.initial_offset == "earliest", subscription.name
        assert subscription.delivery.timeout == pytest.approx(30), subscription.name


def test_outages_are_retried_for_minutes_never_more_than_ten_seconds_apart():
    for subscription in load_wiring().subscriptions:
        delivery = subscription.delivery
        delays = [delivery.delay(attempt) for attempt in range(1, delivery.retry + 1)]
        assert sum(delays) >= 5 * 60, subscription.name
        assert max(delays) <= 10, subscription.name


def test_the_topics_the_wiring_uses_are_the_known_ones():
    assert load_wiring().topics() == set(topics.ALL)


def test_the_router_reads_the_base():
    assert KNATIVE_DIR.name == "base" and (KNATIVE_DIR / "kustomization.yaml").is_file()
    kinds = {doc["kind"] for doc in read_manifests()}
    assert {"KafkaSource", "PingSource", "KafkaSink", "KafkaTopic", "Namespace", "Deployment", "Job"} <= kinds


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


PING = (
    "apiVersion: sources.knative.dev/v1\nkind: PingSource\nmetadata: {name: tick}\n"
    "spec:\n  schedule: '*/1 * * * *'\n  data: '{\"a\": 1}'\n  sink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: cron}}\n"
)


def test_ping_sources_are_read(tmp_path: Path):
    (tmp_path / "cron.yaml").write_text(PING)
    wiring = load_wiring(tmp_path)
    assert wiring.subscriptions == ()
    assert [(s.name, s.schedule, s.function, s.data) for s in wiring.schedules] == [
        ("tick", "*/1 * * * *", "cron", '{"a": 1}')
    ]


def test_nested_kustomizations_are_followed_and_unlisted_files_ignored(tmp_path: Path):
    (tmp_path / "kustomization.yaml").write_text("resources: [inner]\n")
    (tmp_path / "stray.yaml").write_text(PING.replace("tick", "stray"))
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "kustomization.yaml").write_text("namespace: x\nresources: [cron.yaml]\n")
    (tmp_path / "inner" / "cron.yaml").write_text(PING)
    assert [s.name for s in load_wiring(tmp_path).schedules] == ["tick"]


@pytest.mark.parametrize(
    ("kustomization", "error"),
    [
        ("resources: [cron.yaml]\npatches: [{path: p.yaml}]\n", "patches would change"),
        ("resources: [https://example.com/x.yaml]\n", "remote resource"),
        ("resources: [missing.yaml]\n", "does not exist"),
    ],
)
def test_what_the_router_could_not_follow_is_refused(tmp_path: Path, kustomization, error):
    (tmp_path / "kustomization.yaml").write_text(kustomization)
    (tmp_path / "cron.yaml").write_text(PING)
    with pytest.raises(ValueError, match=error):
        load_wiring(tmp_path)


def test_delivery_timeout_and_ordering_are_read(tmp_path: Path):
    (tmp_path / "source.yaml").write_text(
        "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata: {name: s}\n"
        "spec:\n  topics: [t]\n  bootstrapServers: [k:9092]\n  ordering: unordered\n  sink: {ref: {kind: Service, name: f}}\n"
        "  delivery: {retry: 2, backoffPolicy: linear, backoffDelay: PT1S, timeout: PT2.5S}\n"
    )
    (subscription,) = load_wiring(tmp_path).subscriptions
    assert subscription.ordering == "unordered"
    assert subscription.initial_offset == "latest"  # Knative's default
    assert subscription.delivery == Delivery(retry=2, backoff_policy="linear", backoff_delay=1.0, timeout=2.5)


def test_a_dead_letter_sink_must_be_declared(tmp_path: Path):
    (tmp_path / "source.yaml").write_text(
        "apiVersion: sources.knative.dev/v1\nkind: KafkaSource\nmetadata: {name: s}\n"
        "spec:\n  topics: [t]\n  bootstrapServers: [k:9092]\n  sink: {ref: {kind: Service, name: f}}\n"
        "  delivery: {deadLetterSink: {ref: {kind: KafkaSink, name: missing}}}\n"
    )
    with pytest.raises(ValueError, match="not declared"):
        load_wiring(tmp_path)
