"""The Redis connection shared by the scale-out backends of one process.

With ``TESSERA_REDIS_URL`` set, the WebSocket fan-out and resume window, the event bus,
rate limits and concurrency caps, and plugin switches all keep their shared state in one
Redis. This module opens that connection, names the keys, and turns a lost connection
into one clear error.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PREFIX = "tessera:"
# Connections fail fast so a call answers with a clear error instead of hanging.
CONNECT_TIMEOUT = 1.0
# Above the longest blocking read (one second), below a client's patience.
SOCKET_TIMEOUT = 5.0

#: The errors that mean "Redis cannot be reached right now".
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class ClusterUnavailable(RuntimeError):
    """Redis, which the cluster shares its state through, cannot be reached."""


class Cluster:
    """One process's link to the cluster's Redis.

    :param url: a ``redis://`` or ``rediss://`` URL.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        #: Identifies this process in the cluster (consumer names, message origins).
        self.node = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.redis: Any = aioredis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SOCKET_TIMEOUT,
            health_check_interval=10,
        )

    def key(self, *parts: str) -> str:
        """A key of the cluster's namespace, e.g. ``key("ws", "seq")``."""
        return PREFIX + ":".join(parts)

    def unavailable(self, exc: BaseException, doing: str) -> ClusterUnavailable:
        """The error to raise when ``doing`` failed because Redis is unreachable."""
        return ClusterUnavailable(
            f"cannot {doing}: Redis at {self.safe_url} is unreachable ({exc}); "
            "retry when it is back"
        )

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages and logs."""
        scheme, sep, rest = self.url.partition("://")
        return f"{scheme}{sep}{rest.rpartition('@')[2]}"

    async def ping(self) -> bool:
        """Whether Redis answers now."""
        try:
            return bool(await self.redis.ping())
        except UNREACHABLE:
            return False

    async def close(self) -> None:
        await self.redis.aclose()
