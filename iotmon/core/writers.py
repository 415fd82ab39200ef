"""Who writes readings, and which devices it may write (pure).

A gateway writes with an API key scoped to devices or locations (none given:
every device), and may register devices it is the first to report when its key
allows it. A signed-in operator or admin writes any device and may register new
ones, as it could through POST /api/devices.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Writer:
    name: str  # the key's name or the user's, for logs and refusals
    devices: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()
    auto_register: bool = False

    @property
    def unrestricted(self) -> bool:
        return not self.devices and not self.locations

    def may_write(self, device_id: str, location: str | None) -> bool:
        """Whether a reading of `device_id` at `location` (the device's registered location) is in scope."""
        return self.unrestricted or device_id in self.devices or (location is not None and location in self.locations)
