"""How Sparkplug names become ours (pure): device ids, sensor types, locations.

A device here measures one thing (one sensor type, one unit, one set of
limits), while a Sparkplug device (a PLC, a drive) publishes many metrics: so
each numeric metric is a device of its own, by default
`<edge node>-<device>-<metric>` (`<edge node>-<metric>` for the edge node's own
metrics), its sensor type the last part of the metric's name. Both are
templates in the settings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

DEVICE_ID_MAX = 50  # the DeviceId contract
SENSOR_TYPE_MAX = 50
_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9._:-]+")
_NOT_IN_A_TYPE = re.compile(r"[^a-z0-9]+")


def id_part(name: str) -> str:
    """A Sparkplug name as part of a device id: folders joined by dots, any other character not allowed a '_'."""
    return _NOT_IN_AN_ID.sub("_", name.strip().replace("/", ".")).strip("._-:") or "_"


def device_id(template: str, group: str, node: str, device: str | None, metric: str) -> str:
    """The device id a template makes; over 50 characters, cut and told apart by a digest of the whole."""
    made = template.format(
        group=id_part(group), node=id_part(node), device=id_part(device or ""), metric=id_part(metric)
    )
    made = made.lstrip("._:-") or "sparkplug"  # an id starts with a letter or digit
    if len(made) <= DEVICE_ID_MAX:
        return made
    digest = hashlib.sha256(made.encode()).hexdigest()[:8]
    return f"{made[: DEVICE_ID_MAX - 9]}-{digest}"


def sensor_type(metric: str, overrides: Mapping[str, str]) -> str:
    """The configured type of a metric, else the last part of its name in lower case with '_' between words."""
    if metric in overrides:
        return overrides[metric]
    last = metric.rsplit("/", 1)[-1]
    made = _NOT_IN_A_TYPE.sub("_", last.lower()).strip("_")
    if not made or not made[0].isalpha():
        made = f"m_{made}".rstrip("_")
    return made[:SENSOR_TYPE_MAX]
