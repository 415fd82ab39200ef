"""Rate limits per channel: a token bucket in Redis, shared by every replica of notify.

The whole take-a-token step is one Lua script, so it is atomic across
replicas, and it reads the clock from Redis (TIME), so replicas with skewed
clocks agree. The bucket refills continuously at `per_minute` tokens a minute
up to `burst`; an idle bucket expires (a missing bucket is a full one).
"""

from __future__ import annotations

import redis

from iotmon.core.channels import RateLimit

KEY_PREFIX = "notify:ratelimit:"  # + channel; notify's own keys, beside the seed's in iotmon/redis_keys.py

_TAKE = """
redis.replicate_commands()
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


def bucket_key(channel: str) -> str:
    return KEY_PREFIX + channel


class TokenBucket:
    def __init__(self, client: redis.Redis) -> None:
        self._take = client.register_script(_TAKE)

    def take(self, channel: str, limit: RateLimit) -> bool:
        """Take one token from the channel's bucket; False when it is empty (the send must be skipped)."""
        return bool(self._take(keys=[bucket_key(channel)], args=[limit.per_minute / 60.0, limit.burst]))
