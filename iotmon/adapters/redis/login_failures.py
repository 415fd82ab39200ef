"""Failed logins counted in Redis, per username and per client address, shared by every replica.

Each subject is a hash {failures, last} that expires FORGET_AFTER_S after its
last failure. An attempt is counted *before* its password is checked (in one
MULTI), so that attempts sent all at once are counted at once rather than all
seeing the count from before them; a success takes its count back and clears
the username's (not the address's: one success must not reset a guesser
working through many names).
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

    async def reserve(self, username: str, address: str) -> int:
        """Count this attempt as a failure until it succeeds; or, if it comes before the wait the failures so far
        impose, the seconds left (and it is not counted)."""
        now = time.time()
        keys = _keys(username, address)
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hget(key, "last")
                pipe.hincrby(key, "failures", 1)
                pipe.hset(key, "last", now)
                pipe.expire(key, FORGET_AFTER_S)
            user_last, user_count, _, _, address_last, address_count, _, _ = await pipe.execute()
        wait = max(
            retry_after(user_count - 1, float(user_last or 0), now, PER_USERNAME),
            retry_after(address_count - 1, float(address_last or 0), now, PER_ADDRESS),
        )
        if wait:
            await self._take_back(keys, (user_last, address_last))
        return wait

    async def succeeded(self, username: str, address: str) -> None:
        user_key, address_key = _keys(username, address)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(user_key)
            pipe.hincrby(address_key, "failures", -1)
            await pipe.execute()

    async def _take_back(self, keys: tuple[str, str], lasts: tuple[bytes | None, bytes | None]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, last in zip(keys, lasts, strict=True):
                pipe.hincrby(key, "failures", -1)
                if last is not None:
                    pipe.hset(key, "last", last)
            await pipe.execute()
