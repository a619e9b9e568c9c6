"""ReplayCache implementations: remember a JWT `jti` until its token expires.

In memory for one process (the embedded default); Redis (`SET key 1 NX EX ttl`) when several
processes or hosts serve the same CDS endpoint, so that a token replayed to another replica is
refused too. Keys are hashed: the stored names reveal nothing and have a fixed length.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

_PREFIX = "osteoalert:cds-jti:"


class ReplayCacheUnavailableError(Exception):
    """The replay cache cannot be reached: a service error (503), not an authentication failure."""


class InMemoryReplayCache:
    """Per-process cache; entries expire, and expired ones are purged as new ones arrive."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._queue: list[tuple[float, str]] = []  # (expiry, key), soonest first

    async def first_use(self, key: str, ttl_seconds: float) -> bool:
        now = self._clock()
        self._purge(now)
        if key in self._expiry:
            return False
        expires = now + max(ttl_seconds, 0.0)
        self._expiry[key] = expires
        heapq.heappush(self._queue, (expires, key))
        return True

    def __len__(self) -> int:
        return len(self._expiry)

    def _purge(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            _, key = heapq.heappop(self._queue)
            self._expiry.pop(key, None)


class RedisReplayCache:
    """Shared cache on Redis; `prefix` namespaces the keys (tests use a unique one)."""

    def __init__(self, redis: Redis, *, prefix: str = _PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "osteoalert:cds-jti:", timeout: float = 2.0
    ) -> RedisReplayCache:
        return cls(Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout), prefix=prefix)

    async def first_use(self, key: str, ttl_seconds: float) -> bool:
        name = self._prefix + hashlib.sha256(key.encode()).hexdigest()
        seconds = max(1, math.ceil(ttl_seconds))  # EX takes whole seconds; rounding up never shortens it
        try:
            return bool(await self._redis.set(name, b"1", nx=True, ex=seconds))
        except RedisError as err:
            raise ReplayCacheUnavailableError(type(err).__name__) from err

    async def aclose(self) -> None:
        await self._redis.aclose()
