"""Rate limits per channel: a token bucket in Redis, shared by every replica of notify.

The whole take-a-token step is one Lua script, so it is atomic across
replicas, and it reads the clock from Redis (TIME), so replicas with skewed
clocks agree. The bucket refills continuously at `per_minute` tokens a minute
up to `burst`; an idle bucket expires (a missing bucket is a full one).
"""

from __future__ import annotations

from pathlib import Path

import redis

from iotmon.core.channels import RateLimit

KEY_PREFIX = "notify:ratelimit:"  # + channel

_TAKE = Path(__file__).with_name("scripts").joinpath("token_bucket.lua").read_text()


def bucket_key(channel: str) -> str:
    return KEY_PREFIX + channel


class TokenBucket:
    def __init__(self, client: redis.Redis) -> None:
        self._take = client.register_script(_TAKE)

    def take(self, channel: str, limit: RateLimit) -> bool:
        """Take one token from the channel's bucket; False when it is empty (the send must be skipped)."""
        return bool(self._take(keys=[bucket_key(channel)], args=[limit.per_minute / 60.0, limit.burst]))
