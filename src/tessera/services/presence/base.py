"""Which users of an app have a WebSocket open on some process of the cluster.

``broadcast`` reaches every user connected to the caller's app, and with several processes
most of them hold their sockets elsewhere. So each process records the (app, user) pairs
it holds sockets for in the place the processes share (Redis, or the workers' file), and
renews that record on a heartbeat: the record of a process that died expires after
:data:`LEASE` seconds, and until then a broadcast still numbers and keeps a message for
its users, who get it when they resume elsewhere.

One process alone records nothing: its own connections are every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Collection, Mapping
from typing import Protocol

logger = logging.getLogger("tessera.websocket")

#: Seconds between two renewals of a process's record.
RENEW_EVERY = 10.0
#: Seconds a process's record outlives its last renewal: three renewals missed.
LEASE = 30.0

Pair = tuple[str, str]


class PresenceStore(Protocol):
    """Where the processes' records are kept."""

    async def write(self, changes: Mapping[Pair, bool]) -> None:
        """Record that this process now holds sockets of each pair (True) or none (False)."""

    async def renew(self, held: Collection[Pair]) -> None:
        """Keep this process's record alive for :data:`LEASE` more seconds; ``held`` is
        every pair it holds, for a store that may have lost the record."""

    async def users(self, app_id: str) -> set[str]:
        """The users of ``app_id`` with a socket on a live process."""

    async def clear(self) -> None:
        """Remove this process's record: it is stopping."""


class Presence:
    """This process's part of the record: a count of sockets per pair, written when a
    pair comes or goes, many changes in one write."""

    def __init__(self, store: PresenceStore, *, renew_every: float = RENEW_EVERY) -> None:
        self._store = store
        self._renew_every = renew_every
        # Sockets per pair, counted from the start of their opening.
        self._counts: dict[Pair, int] = {}
        self._dirty: set[Pair] = set()
        self._written: asyncio.Future[None] | None = None  # when _dirty is written
        self._writer: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        # One write at a time, so a renewal never restores a pair a later write removed.
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name="tessera-ws-presence")

    def join(self, pair: Pair) -> Awaitable[None]:
        """Count a socket of ``pair`` that is opening; await the result to know that other
        processes see the pair (a write that fails is logged: the renewal repairs it)."""
        count = self._counts.get(pair, 0)
        self._counts[pair] = count + 1
        if count:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        # Shielded: a cancelled opener must not cancel the write other openers await.
        return asyncio.shield(self._changed(pair))

    def leave(self, pair: Pair) -> None:
        """Uncount a socket of ``pair`` that closed, or failed to open."""
        count = self._counts.get(pair, 0) - 1
        if count > 0:
            self._counts[pair] = count
            return
        self._counts.pop(pair, None)
        self._changed(pair)

    async def users(self, app_id: str) -> set[str]:
        """The users of ``app_id`` connected to any process; none if the shared place
        cannot say (the caller then knows only its own)."""
        try:
            return await self._store.users(app_id)
        except Exception:
            logger.warning("users connected to app %s elsewhere unknown", app_id, exc_info=True)
            return set()

    async def renew(self) -> None:
        """Renew this process's record (also after a Redis outage)."""
        async with self._lock:
            await self._store.renew(list(self._counts))

    async def stop(self) -> None:
        for task in (self._renewer, self._writer):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._renewer = self._writer = None
        if self._written is not None and not self._written.done():
            self._written.set_result(None)
        with contextlib.suppress(Exception):
            await self._store.clear()

    def _changed(self, pair: Pair) -> asyncio.Future[None]:
        self._dirty.add(pair)
        if self._written is None:
            self._written = asyncio.get_running_loop().create_future()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        return self._written

    async def _write(self) -> None:
        """Write the changed pairs as they are now, until none is left."""
        try:
            while self._dirty:
                async with self._lock:
                    changes = {pair: pair in self._counts for pair in self._dirty}
                    written, self._written = self._written, None
                    self._dirty = set()
                    try:
                        await self._store.write(changes)
                    except Exception:
                        logger.warning("recording WebSocket presence failed", exc_info=True)
                    finally:
                        if written is not None and not written.done():
                            written.set_result(None)
        finally:
            self._writer = None

    async def _renew_forever(self) -> None:
        while True:
            try:
                await self.renew()
            except Exception:
                logger.warning("renewing WebSocket presence failed", exc_info=True)
            await asyncio.sleep(self._renew_every)
