"""evaluate-rule's state per device in Redis: `rules:<device>:state`, a hash {lastTs, state (MessagePack)}.

The state (`iotmon.core.judge.DeviceState`) is bounded in size, and kept as
long as the device is in service: no expiry, because a rule's memory is in
event time (a device that reports once a day still needs yesterday's), and
decommissioning a device forgets it. A save only moves forward (a
compare-and-set on lastTs, in Lua), so a redelivered batch changes nothing.
Lost state starts again from the open alerts in PostgreSQL, the truth.
msgspec reads and writes it straight from and into the state's structs, as
MessagePack: a device's state is about 3 KB, mostly floats, and at one reading
per device per batch their text form cost more than the rules (JSON: 13 µs to
read and 12 to write a state; MessagePack: 9 and 3). A state saved as JSON by
an earlier version still loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec
import redis

from iotmon.core.judge import DeviceState

_SCRIPTS = Path(__file__).with_name("scripts")
_SAVE = _SCRIPTS.joinpath("rule_state_save.lua").read_text()
_LOAD = _SCRIPTS.joinpath("rule_state_load.lua").read_text()


_encode = msgspec.msgpack.Encoder().encode
_from_msgpack = msgspec.msgpack.Decoder(DeviceState).decode
_from_json = msgspec.json.Decoder(DeviceState).decode


def _decode(saved: bytes) -> DeviceState:
    return _from_json(saved) if saved[:1] == b"{" else _from_msgpack(saved)  # (a MessagePack map never starts so)


def state_key(device_id: str) -> str:
    return f"rules:{device_id}:state"


class RuleStates:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._save = client.register_script(_SAVE)
        self._load = client.register_script(_LOAD)

    def load(self, devices: Sequence[str]) -> dict[str, DeviceState | None]:
        """Every device's state (None where there is none), in one call."""
        replies: list[bytes | None] = self._load(keys=[state_key(device) for device in devices]) if devices else []
        return {
            device: None if reply is None else _decode(reply) for device, reply in zip(devices, replies, strict=True)
        }

    def save(self, states: dict[str, DeviceState]) -> None:
        """Save each device's state, in one call; a device whose saved state is newer keeps it."""
        saving = {device: state for device, state in states.items() if state.last_ts is not None}
        if not saving:
            return
        args: list[str | bytes] = []
        for state in saving.values():
            args += [repr(state.last_ts), _encode(state)]
        self._save(keys=[state_key(device) for device in saving], args=args)
