"""Failed logins counted in Redis, per username and per client address, shared by every replica.

Each subject is a hash {failures, last} that expires FORGET_AFTER_S after its
last failure; a successful login clears the username's count (not the
address's: one success must not reset a guesser working through many names).
"""

from __future__ import annotations

import hashlib
import time

import redis.asyncio as aioredis

from iotmon.core.login_throttle import FORGET_AFTER_S, PER_ADDRESS, PER_USERNAME, retry_after

PREFIX = "login:failures:"


def _keys(username: str, address: str) -> tuple[str, str]:
    # Hashed: the key's size does not depend on what was typed as a username.
    name = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
    return f"{PREFIX}user:{name}", f"{PREFIX}addr:{address}"


class LoginFailures:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def wait_s(self, username: str, address: str) -> int:
        """Seconds before this username may try again from this address (0: now)."""
        user_key, address_key = _keys(username, address)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(user_key, "failures", "last")
            pipe.hmget(address_key, "failures", "last")
            by_user, by_address = await pipe.execute()
        now = time.time()
        return max(
            retry_after(int(by_user[0] or 0), float(by_user[1] or 0), now, PER_USERNAME),
            retry_after(int(by_address[0] or 0), float(by_address[1] or 0), now, PER_ADDRESS),
        )

    async def failed(self, username: str, address: str) -> None:
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in _keys(username, address):
                pipe.hincrby(key, "failures", 1)
                pipe.hset(key, "last", now)
                pipe.expire(key, FORGET_AFTER_S)
            await pipe.execute()

    async def succeeded(self, username: str, address: str) -> None:
        await self.redis.delete(_keys(username, address)[0])
