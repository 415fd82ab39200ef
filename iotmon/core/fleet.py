"""The fleet's states, counts, groups, search and changes (pure: no I/O).

A device's fleet state is `offline` when it is silent beyond its offline timeout (or was never heard from),
else the level of its latest value. The worst of a set of devices is, from the most to the least severe,
critical, offline, warning, normal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from iotmon.core.contracts.devices import DeviceStatus, Level
from iotmon.core.contracts.fleet import AlertStatus, FleetChange, FleetCounts, FleetDevice, FleetGroup, FleetState

State = Literal["normal", "warning", "critical", "offline"]
STATES: tuple[State, ...] = get_args(State)
RANK: dict[str, int] = {"normal": 0, "warning": 1, "offline": 2, "critical": 3}  # the least to the most severe
Sort = Literal["status", "id"]
SORTS: tuple[Sort, ...] = get_args(Sort)


def state_of(status: DeviceStatus, level: Level | None) -> State:
    """The fleet state of a device with this status whose latest value has this level (None: no value)."""
    if status == "offline" or level is None:
        return "offline"
    return level


def worst(states: Iterable[str]) -> FleetState:
    found: FleetState = "normal"
    for state in states:
        if RANK[state] > RANK[found]:
            found = state  # type: ignore[assignment]
    return found


def counts(devices: Iterable[FleetDevice]) -> FleetCounts:
    tally = dict.fromkeys(STATES, 0)
    for device in devices:
        tally[device.state] += 1
    return FleetCounts(total=sum(tally.values()), **tally, worst=worst(s for s, n in tally.items() if n))


def groups(devices: Iterable[FleetDevice]) -> list[FleetGroup]:
    """One group per location, worst first, then by location."""
    by_location: dict[str, list[FleetDevice]] = defaultdict(list)
    for device in devices:
        by_location[device.location].append(device)
    found = [_group(name, counts(members)) for name, members in by_location.items()]
    found.sort(key=lambda group: (-RANK[group.worst], -_bad(group), group.location))
    return found


def _group(location: str, tally: FleetCounts) -> FleetGroup:
    return FleetGroup(
        location=location,
        total=tally.total,
        normal=tally.normal,
        warning=tally.warning,
        critical=tally.critical,
        offline=tally.offline,
        worst=tally.worst,
    )


def _bad(group: FleetCounts) -> int:
    return group.critical + group.offline + group.warning


@dataclass(frozen=True, slots=True)
class Search:
    """What the list shows: a text in the id, name, type or location; states; a type; a location."""

    text: str | None = None
    states: frozenset[str] = frozenset()
    type: str | None = None
    location: str | None = None
    sort: Sort = "status"

    def matches(self, device: FleetDevice) -> bool:
        if self.states and device.state not in self.states:
            return False
        if self.type is not None and device.type != self.type:
            return False
        if self.location is not None and device.location != self.location:
            return False
        if self.text:
            needle = self.text.casefold()
            return any(
                needle in field.casefold()
                for field in (device.device_id, device.name or "", device.type, device.location)
            )
        return True


def search(devices: Sequence[FleetDevice], asked: Search) -> list[FleetDevice]:
    """The devices that match, the worst first (then by id), or by id."""
    return matching(ordered(devices, asked.sort), asked)


def ordered(devices: Iterable[FleetDevice], sort: Sort) -> list[FleetDevice]:
    """Every device the worst first (then by its worst open alert, then by id), or by id."""
    if sort == "status":
        return sorted(devices, key=lambda d: (-RANK[d.state], -_alert_rank(d.alert_status), d.device_id))
    return sorted(devices, key=lambda d: d.device_id)


def matching(devices: list[FleetDevice], asked: Search) -> list[FleetDevice]:
    """The devices that match, in the order given: a list put in order once serves every search."""
    if not (asked.text or asked.states or asked.type is not None or asked.location is not None):
        return devices
    return [device for device in devices if asked.matches(device)]


_ALERT_RANK = {"normal": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def _alert_rank(alert_status: AlertStatus) -> int:
    return _ALERT_RANK.get(alert_status, 0)


Seen = dict[str, tuple[str, str]]  # device → (state, worst open alert)


def seen(devices: Iterable[FleetDevice]) -> Seen:
    return {device.device_id: (device.state, device.alert_status) for device in devices}


def changes(before: Seen, devices: Iterable[FleetDevice]) -> list[FleetChange]:
    """The devices whose state or worst open alert is not what `before` says (new devices included)."""
    return [
        FleetChange(
            device_id=device.device_id,
            location=device.location,
            state=device.state,
            alert_status=device.alert_status,
            value=device.value,
            timestamp=device.timestamp,
        )
        for device in devices
        if before.get(device.device_id) != (device.state, device.alert_status)
    ]
