"""evaluate-rule's state per device in Redis: the last readings judged, and each rule's alert machine.

- `rules:<device>:window`: list of the last readings as "epoch,value" (the rules' rolling window);
- `rules:<device>:state`: hash {lastTs, machines (JSON)}: the newest reading judged and the machines.

Both expire after `ttl_s`. A save only moves forward (a compare-and-set on
lastTs, in Lua), so a redelivered batch changes nothing. Lost state starts
again from the open alerts in PostgreSQL, the truth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from iotmon.core.alert_machine import MachineState

STATE_TTL_S = 86_400
_SAVE = Path(__file__).with_name("scripts").joinpath("rule_state_save.lua").read_text()


def state_key(device_id: str) -> str:
    return f"rules:{device_id}:state"


def window_key(device_id: str) -> str:
    return f"rules:{device_id}:window"


@dataclass(frozen=True, slots=True)
class Stored:
    """A device's state as saved: None and empty when there is none."""

    last_ts: float | None
    machines: dict[str, MachineState]
    window: list[tuple[float, float]]  # (epoch s, value), oldest first


@dataclass(frozen=True, slots=True)
class Update:
    device_id: str
    last_ts: float
    machines: dict[str, MachineState]
    new_entries: Sequence[tuple[float, float]]  # readings to append to the window


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RuleStates:
    def __init__(self, client: redis.Redis, window_cap: int, ttl_s: int = STATE_TTL_S) -> None:
        self.redis, self.window_cap, self.ttl_s = client, window_cap, ttl_s
        self._save = client.register_script(_SAVE)

    def load(self, devices: Sequence[str]) -> dict[str, Stored]:
        """Every device's state, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for device in devices:
            pipe.hgetall(state_key(device))
            pipe.lrange(window_key(device), 0, -1)
        replies = pipe.execute()
        found = {}
        for n, device in enumerate(devices):
            state = {_text(name): _text(value) for name, value in replies[2 * n].items()}
            machines = {
                rule: MachineState.from_dict(data) for rule, data in json.loads(state.get("machines", "{}")).items()
            }
            last_ts = float(state["lastTs"]) if state.get("lastTs") else None
            window = (
                [(float(t), float(v)) for t, v in (_text(e).split(",") for e in replies[2 * n + 1])] if last_ts else []
            )
            found[device] = Stored(last_ts, machines, window)
        return found

    def save(self, updates: Sequence[Update]) -> None:
        """Save each device's state, in one round trip; a device whose saved state is newer keeps it."""
        pipe = self.redis.pipeline(transaction=False)
        for update in updates:
            machines = json.dumps({rule: machine.to_dict() for rule, machine in update.machines.items()})
            entries = [f"{t!r},{v!r}" for t, v in update.new_entries[-self.window_cap :]]
            args: list[str | int] = [repr(update.last_ts), machines, self.ttl_s, self.window_cap, *entries]
            self._save(keys=[state_key(update.device_id), window_key(update.device_id)], args=args, client=pipe)
        pipe.execute()
