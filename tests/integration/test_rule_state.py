"""evaluate-rule's state in Redis: one call loads or saves a batch's devices, and a save never goes back."""

from __future__ import annotations

import msgspec

from iotmon.adapters.redis.rule_state import RuleStates, state_key
from iotmon.core.judge import DeviceState


def state(last_ts: float, interval_s: float) -> DeviceState:
    return DeviceState(last_ts=last_ts, interval_s=interval_s)


def saved(states: RuleStates, *devices: str) -> list[tuple[float | None, float | None] | None]:
    """(last_ts, interval_s) of each device's loaded state."""
    return [None if s is None else (s.last_ts, s.interval_s) for s in states.load(list(devices)).values()]


def test_states_round_trip_and_a_missing_one_is_none(redis):
    states = RuleStates(redis)
    states.save({"device-001": state(100.0, 2.0), "device-002": state(50.0, 5.0), "device-003": DeviceState()})
    assert saved(states, "device-001", "device-002", "device-003") == [(100.0, 2.0), (50.0, 5.0), None]


def test_an_older_state_never_replaces_a_newer_one(redis):
    states = RuleStates(redis)
    states.save({"device-001": state(100.0, 2.0)})
    states.save({"device-001": state(90.0, 9.0), "device-002": state(10.0, 1.0)})  # a redelivery, and a new one
    assert saved(states, "device-001", "device-002") == [(100.0, 2.0), (10.0, 1.0)]
    states.save({"device-001": state(101.0, 3.0)})
    assert saved(states, "device-001") == [(101.0, 3.0)]


def test_a_state_saved_as_json_by_an_earlier_version_still_loads(redis):
    earlier = state(100.0, 2.0)
    redis.hset(state_key("device-001"), mapping={"lastTs": "100.0", "state": msgspec.json.encode(earlier)})
    assert RuleStates(redis).load(["device-001"]) == {"device-001": earlier}
