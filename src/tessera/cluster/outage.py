"""Whether this process reaches the cluster's Redis, and what to do when it returns.

Any Redis call that finds Redis unreachable reports it here (``lost``). From then until
Redis answers again the process serves on its own: messages and events are kept to be
handed over later, limits are counted in this process (docs/operations.md). A watcher
pings Redis twice a second; once it answers, the ``on_restore`` callbacks hand over what
was kept, in the order they were registered, and only then is the outage over, so
nothing kept during the outage overtakes what was kept before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

logger = logging.getLogger("tessera.cluster")

#: Seconds between pings while Redis is unreachable.
PING_EVERY = 0.5

#: Hands over what was kept; answers how many items it handed over.
Restore = Callable[[], Awaitable[int]]


class Outage:
    """The state of this process's link to Redis.

    :param ping: answers whether Redis answers now.
    :param where: Redis's address without its password, for the log.
    """

    def __init__(self, ping: Callable[[], Awaitable[bool]], where: str) -> None:
        self._ping = ping
        self._where = where
        #: When (``time.time()``) the current outage began; None while Redis answers.
        self.since: float | None = None
        #: Outages since this process started.
        self.count = 0
        self._restores: list[Restore] = []
        self._afterwards: list[Callable[[], Awaitable[None]]] = []
        self._watcher: asyncio.Task[None] | None = None

    @property
    def down(self) -> bool:
        return self.since is not None

    def on_restore(self, callback: Restore) -> None:
        """Run ``callback`` when Redis answers again, before the outage is declared over;
        if it raises, the outage goes on and it runs again at the next ping."""
        self._restores.append(callback)

    def after_restore(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` once each outage is over (errors are logged)."""
        self._afterwards.append(callback)

    def lost(self, exc: BaseException) -> None:
        """Report that a Redis call found Redis unreachable (logged once per outage)."""
        if self.since is not None:
            return
        self.since = time.time()
        self.count += 1
        logger.warning(
            "Redis at %s is unreachable (%s): serving this process alone until it returns",
            self._where,
            exc,
        )
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch(), name="tessera-redis-outage")

    async def _watch(self) -> None:
        while self.since is not None:
            await asyncio.sleep(PING_EVERY)
            if not await self._ping() or not await self._hand_over():
                continue
            lasted = time.time() - self.since
            self.since = None
            logger.warning("Redis at %s is back after %.1f s", self._where, lasted)
            # What was kept while the last pass awaited: handed over now, late but kept.
            await self._hand_over_once()
            for callback in self._afterwards:
                try:
                    await callback()
                except Exception:  # Redis gone again: the next outage's end runs it again
                    logger.warning("after the Redis outage: %s failed", callback, exc_info=True)

    async def _hand_over(self) -> bool:
        """Run the callbacks until a pass finds nothing left; False if one failed."""
        while True:
            handed = await self._hand_over_once()
            if handed is None:
                return False
            if handed == 0:
                return True

    async def _hand_over_once(self) -> int | None:
        handed = 0
        for callback in self._restores:
            try:
                handed += await callback()
            except Exception:  # Redis gone again, most likely: try at the next ping
                logger.warning(
                    "handing over what was kept during the Redis outage failed; retrying",
                    exc_info=True,
                )
                return None
        return handed

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None
