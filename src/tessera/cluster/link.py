"""The Redis connection shared by the scale-out backends of one process: it opens the
connection, names the keys, and turns a lost connection into one clear error."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tessera.cluster.errors import ClusterUnavailable
from tessera.cluster.outage import Outage

PREFIX = "tessera:"
# Connections fail fast so a call answers with a clear error instead of hanging.
CONNECT_TIMEOUT = 1.0
# Above the longest blocking read (one second), below a client's patience.
SOCKET_TIMEOUT = 5.0
RETRIES = 2
# redis-py refuses a 101st connection in use ("Too many connections"): a process serving
# a few hundred calls at once, each counting usage or publishing, needs more.
MAX_CONNECTIONS = 1000

#: The errors that mean "Redis cannot be reached right now".
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


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
            max_connections=MAX_CONNECTIONS,
            # After Redis restarts, pooled connections are dead: one retry on a new one.
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), RETRIES),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        #: Whether Redis answers now, and what to hand over when it returns.
        self.outage = Outage(self.ping, self.safe_url)

    def key(self, *parts: str) -> str:
        """A key of the cluster's namespace, e.g. ``key("ws", "seq")``."""
        return PREFIX + ":".join(parts)

    def unavailable(self, exc: BaseException, doing: str) -> ClusterUnavailable:
        """The error to raise when ``doing`` failed because Redis is unreachable (which
        begins an outage, if none is under way)."""
        self.outage.lost(exc)
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
        await self.outage.close()
        await self.redis.aclose()


async def cancel(tasks: Iterable[asyncio.Task[object]]) -> None:
    """Cancel ``tasks`` and wait for them to end.

    A cancellation that arrives while redis-py reads a reply can come out as a
    ConnectionError, which the reconnecting loops catch; so cancel again until they end.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
