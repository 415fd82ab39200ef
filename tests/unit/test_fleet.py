"""The fleet's states, counts, groups, search and changes (iotmon.core.fleet, pure)."""

from __future__ import annotations

from typing import Any

from iotmon.core import fleet
from iotmon.core.contracts.fleet import FleetDevice


def device(device_id: str, state: str, location: str = "line-1", **fields: Any) -> FleetDevice:
    values: dict[str, Any] = {
        "name": None,
        "type": "pressure",
        "unit": "psi",
        "status": "offline" if state == "offline" else "active",
        "alert_status": "normal",
        "value": None if state == "offline" else 1.0,
        "level": None if state == "offline" else state,
        "timestamp": None,
    }
    return FleetDevice(device_id=device_id, location=location, state=state, **{**values, **fields})  # type: ignore[arg-type]


def test_a_silent_device_or_one_without_a_value_is_offline_else_its_level():
    assert fleet.state_of("offline", "critical") == "offline"
    assert fleet.state_of("active", None) == "offline"
    assert fleet.state_of("active", "warning") == "warning"
    assert fleet.state_of("maintenance", "normal") == "normal"


def test_counts_and_the_worst_critical_before_offline_before_warning():
    devices = [device("a", "normal"), device("b", "warning"), device("c", "offline")]
    counts = fleet.counts(devices)
    assert (counts.total, counts.normal, counts.warning, counts.offline, counts.critical) == (3, 1, 1, 1, 0)
    assert counts.worst == "offline"
    assert fleet.counts([*devices, device("d", "critical")]).worst == "critical"
    assert fleet.counts([]).worst == "normal"


def test_groups_by_location_the_worst_first_then_the_most_in_trouble():
    devices = [
        device("a", "normal", "line-a"),
        device("b", "warning", "line-b"),
        device("c", "warning", "line-c"),
        device("d", "warning", "line-c"),
        device("e", "critical", "line-d"),
    ]
    groups = fleet.groups(devices)
    assert [(g.location, g.worst, g.total) for g in groups] == [
        ("line-d", "critical", 1),
        ("line-c", "warning", 2),
        ("line-b", "warning", 1),
        ("line-a", "normal", 1),
    ]


def test_search_text_states_type_location_and_the_order():
    devices = [
        device("pump-1", "normal", name="Feed pump"),
        device("pump-2", "critical", alert_status="high"),
        device("pump-3", "critical"),
        device("fan-1", "offline", "line-2", type="vibration"),
    ]
    found = fleet.search(devices, fleet.Search())
    assert [d.device_id for d in found] == ["pump-2", "pump-3", "fan-1", "pump-1"]  # worst, its alert, id
    assert [d.device_id for d in fleet.search(devices, fleet.Search(text="FEED"))] == ["pump-1"]
    assert [d.device_id for d in fleet.search(devices, fleet.Search(text="line-2"))] == ["fan-1"]
    only = fleet.Search(states=frozenset({"critical", "offline"}), type="pressure", sort="id")
    assert [d.device_id for d in fleet.search(devices, only)] == ["pump-2", "pump-3"]
    assert fleet.search(devices, fleet.Search(location="line-9")) == []


def test_changes_are_the_devices_whose_state_or_worst_alert_moved():
    before = fleet.seen([device("a", "normal"), device("b", "normal"), device("c", "warning")])
    now = [
        device("a", "normal"),
        device("b", "critical"),
        device("c", "warning", alert_status="low"),
        device("d", "normal"),
    ]
    assert [(c.device_id, c.state, c.alert_status) for c in fleet.changes(before, now)] == [
        ("b", "critical", "normal"),
        ("c", "warning", "low"),
        ("d", "normal", "normal"),
    ]


def test_a_list_put_in_order_once_serves_every_search_in_that_order():
    devices = [device("b", "normal", "line-1"), device("a", "warning", "line-2"), device("c", "critical", "line-1")]
    by_state = fleet.ordered(devices, "status")
    assert [d.device_id for d in by_state] == ["c", "a", "b"]
    assert [d.device_id for d in fleet.ordered(devices, "id")] == ["a", "b", "c"]
    assert fleet.matching(by_state, fleet.Search()) is by_state  # nothing narrows it: no copy of 10,000
    assert [d.device_id for d in fleet.matching(by_state, fleet.Search(location="line-1"))] == ["c", "b"]
