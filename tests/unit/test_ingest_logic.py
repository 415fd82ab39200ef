"""ingest's pure part: sorting events into readings and rejections, and what it sends on."""

from datetime import UTC, datetime

import msgspec

from eventing.events import PRESENCE, READING_BATCH, batch_event, make_event, presence_event, reading_event
from functions.ingest import dead_letters, metrics_events, sort_events
from iotmon.adapters.postgres.registry import Entry
from iotmon.core.contracts.presence import DevicePresence
from iotmon.core.readings import ordering_key

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def reading(device="device-001", second=0, value=20.0):
    return {
        "deviceId": device,
        "timestamp": f"2026-06-15T11:59:{second:02d}Z",
        "sensorType": "temperature",
        "value": value,
        "unit": "celsius",
    }


def test_single_and_batch_events_and_bytes_data():
    batch = batch_event([reading(second=1), reading("device-002", 2)], "/gw", key="gw-1")
    raw = make_event("io.iotmon.reading.v1", "/s", msgspec.json.encode(reading(second=3)), key="device-001")
    result = sort_events([reading_event(reading(), "/s"), batch, raw], NOW)
    assert sorted(r.timestamp[-3:] for r in result.readings) == ["00Z", "01Z", "02Z", "03Z"]
    assert sorted(result.by_key) == ["device-001", "gw-1"]
    assert result.rejected == []


def test_each_bad_reading_is_rejected_with_its_event():
    bad_batch = batch_event([reading(), {**reading(), "value": "x"}], "/gw", key="gw")
    unknown = make_event("com.example.other", "/s", {}, key="k")
    text = make_event("io.iotmon.reading.v1", "/s", "hello", key="k")
    text["datacontenttype"] = "text/plain"
    future = reading_event({**reading(), "timestamp": "2026-06-16T00:00:00Z"}, "/s")
    result = sort_events([bad_batch, unknown, text, future], NOW)
    assert len(result.readings) == 1
    reasons = [rejection.reason for rejection, _ in result.rejected]
    assert "at `$.value`" in reasons[0] and result.rejected[0][0].index == 1
    assert "unknown event type" in reasons[1]
    assert "not application/json" in reasons[2]
    assert "in the future" in reasons[3]
    assert result.rejected[0][1] is bad_batch


def test_metrics_get_one_batch_event_per_arrival_key_with_stable_ids():
    gateway = batch_event([reading(second=s, device=f"device-00{s % 2 + 1}") for s in range(6)], "/gw", key="gw-1")
    single = reading_event(reading("device-003", 9), "/s")
    result = sort_events([gateway, single], NOW)
    events = metrics_events(result.by_key)
    assert [e["partitionkey"] for e in events] == ["gw-1", "device-003"]
    assert all(e["type"] == READING_BATCH for e in events)
    first = msgspec.json.decode(events[0].get_data())["readings"]
    assert [r["timestamp"][-3:] for r in first] == ["00Z", "01Z", "02Z", "03Z", "04Z", "05Z"]
    assert [e["id"] for e in metrics_events(result.by_key)] == [e["id"] for e in events]


def test_dead_letters_carry_reason_original_and_cause_with_stable_ids():
    event = batch_event([{**reading(), "value": None}], "/gw", key="gw")
    rejected = sort_events([event], NOW).rejected
    letter = dead_letters(rejected)[0]
    data = letter.get_data()
    assert data["original"]["value"] is None and data["index"] == 0
    assert data["event"]["id"] == event["id"] and data["event"]["source"] == "/gw"
    assert letter["partitionkey"] == "gw"
    assert dead_letters(rejected)[0]["id"] == letter["id"]


def test_metrics_events_stay_small():
    from functions.ingest import METRICS_BATCH

    many = [reading(second=s % 60, device=f"d-{s}") for s in range(METRICS_BATCH * 2 + 5)]
    result = sort_events([batch_event(many, "/gw", key="gw")], NOW)
    events = metrics_events(result.by_key)
    assert [len(msgspec.json.decode(e.get_data())["readings"]) for e in events] == [METRICS_BATCH, METRICS_BATCH, 5]
    assert len({e["id"] for e in events}) == 3


def test_a_time_problem_in_a_batch_names_its_position():
    batch = batch_event(
        [reading(), {**reading(), "value": "x"}, {**reading(), "timestamp": "2026-06-16T00:00:00Z"}], "/gw", key="gw"
    )
    rejected = sort_events([batch], NOW).rejected
    assert sorted(rejection.index for rejection, _ in rejected) == [1, 2]


def test_readings_of_devices_not_in_service_are_rejected_with_their_place_and_the_reason():
    gone = datetime(2026, 6, 1, tzinfo=UTC)
    batch = batch_event([reading(), reading("ghost", 1), reading("retired", 2), reading(second=3)], "/gw", key="gw")
    single = reading_event(reading("ghost", 4), "/s")
    entries = {"device-001": Entry("line-1", None), "retired": Entry("line-1", gone)}
    result = sort_events([batch, single], NOW).in_service(entries)
    assert [r.timestamp[-3:] for r in result.readings] == ["00Z", "03Z"]
    assert result.by_key == {"gw": result.readings}
    refused = [(rejection.index, rejection.reason, event["id"]) for rejection, event in result.rejected]
    assert refused == [
        (1, "unknown device 'ghost': register it with POST /api/devices", batch["id"]),
        (
            2,
            "device 'retired' was decommissioned at 2026-06-01T00:00:00+00:00: register it again with POST /api/devices",
            batch["id"],
        ),
        (None, "unknown device 'ghost': register it with POST /api/devices", single["id"]),
    ]
    assert [letter.get_data()["index"] for letter in dead_letters(result.rejected)[:2]] == [1, 2]


def presence(device="device-003", state="offline", timestamp="2026-06-15T11:59:30.000Z"):
    return DevicePresence(device_id=device, state=state, timestamp=timestamp, reason="NDEATH of plant/edge1")


def test_presence_reports_are_checked_and_passed_on_unchanged_with_stable_ids():
    good = presence_event(presence(), "/iotmon/bridge")
    future = presence_event(presence(timestamp="2026-06-16T00:00:00Z"), "/iotmon/bridge")
    shapeless = make_event(PRESENCE, "/iotmon/bridge", {"deviceId": "device-003", "state": "asleep"}, key="device-003")
    result = sort_events([reading_event(reading(), "/s"), good, future, shapeless], NOW)
    assert [p for p, _ in result.presences] == [presence()] and len(result.readings) == 1
    reasons = [rejection.reason for rejection, _ in result.rejected]
    assert "in the future" in reasons[0] and "not a device presence" in reasons[1]
    entries = {"device-001": Entry("line", None), "device-003": Entry("line", None)}
    assert result.in_service(entries).presences == result.presences
    refused = result.in_service({"device-001": Entry("line", None)})
    assert refused.presences == [] and "unknown device 'device-003'" in refused.rejected[-1][0].reason
    again = presence_event(presence(), "/elsewhere")
    assert again["id"] == good["id"] and again["partitionkey"] == ordering_key("device-003")
