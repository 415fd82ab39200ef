"""What Redis holds of one device — its live value, statistics, windows and rule machines — forgotten at once
when the device is decommissioned, so it leaves the live views and a device registered later under its id
starts afresh."""

from __future__ import annotations

import redis.asyncio as aioredis

from iotmon.adapters.redis import keys, live_windows, rule_state


def device_keys(device_id: str) -> list[str]:
    return [
        keys.current(device_id),
        *(keys.stats(device_id, window) for window in keys.WINDOWS),
        *live_windows.own_keys(device_id),
        rule_state.state_key(device_id),
    ]


async def forget(client: aioredis.Redis, device_id: str) -> None:
    """The device's keys go, and it leaves the active devices; the other devices' state stays."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(*device_keys(device_id))
        pipe.zrem(live_windows.DEVICES_SEEN, device_id)
        await pipe.execute()
