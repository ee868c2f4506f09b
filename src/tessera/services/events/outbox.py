"""Events kept in the store while Redis is unreachable, until they are in the stream.

A cluster process that cannot reach Redis still accepts events: it runs its own
subscriptions' handlers at once and writes the event here, naming the subscriptions that
handled it, so that the others handle it once Redis is back and these not again
(events/redis.py). Rows are handed to Redis oldest first and deleted once there; the
append is idempotent (each event carries an id Redis remembers for a week), so a row
handed over twice, by a process that died before deleting it or by two processes at
once, reaches the stream once.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bson import Binary

logger = logging.getLogger("tessera.events")

_BATCH = 200
_RETRY_SECONDS = 1.0

Send = Callable[[list[dict[str, bytes]]], Awaitable[None]]


class EventOutbox:
    """The store collection of events waiting for Redis, and the task that fills it."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self._waiting: collections.deque[dict[str, bytes]] = collections.deque()
        self._queued = asyncio.Event()
        self._written = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._stored = 0

    @property
    def depth(self) -> int:
        """Events this process knows are waiting: queued for the store, or in it."""
        return len(self._waiting) + self._stored

    async def start(self) -> None:
        self._stored = await self._collection.count_documents({})
        self._writer = asyncio.create_task(self._write(), name="tessera-events-outbox")

    def keep(self, fields: dict[str, bytes]) -> None:
        """Queue an event's stream fields for the store (written within milliseconds)."""
        self._waiting.append(fields)
        self._written.clear()
        self._queued.set()

    async def _write(self) -> None:
        while True:
            await self._queued.wait()
            while self._waiting:
                batch = [self._waiting[i] for i in range(min(_BATCH, len(self._waiting)))]
                rows = [{k: Binary(v) for k, v in fields.items()} for fields in batch]
                try:
                    await self._collection.insert_many(rows)
                except Exception:  # the store failing too (a full disk): keep trying
                    logger.exception("%d events wait to be written to the store", len(batch))
                    await asyncio.sleep(_RETRY_SECONDS)
                    continue
                self._stored += len(batch)
                for _ in batch:
                    self._waiting.popleft()
            self._queued.clear()
            self._written.set()

    async def hand_over(self, send: Send) -> int:
        """Send every kept event to Redis, oldest first, deleting each batch once sent;
        return how many were sent. Raises what ``send`` raises (Redis gone again)."""
        if self._waiting:
            await self._written.wait()
        handed = 0
        while True:
            rows = await self._collection.find({}).sort("_id", 1).limit(_BATCH).to_list(None)
            if not rows:
                self._stored = 0
                return handed
            await send([{k: bytes(v) for k, v in row.items() if k != "_id"} for row in rows])
            await self._collection.delete_many({"_id": {"$in": [row["_id"] for row in rows]}})
            self._stored = max(0, self._stored - len(rows))
            handed += len(rows)

    async def stop(self) -> None:
        if self._writer is not None:
            if self._waiting:
                try:
                    await asyncio.wait_for(self._written.wait(), 2.0)
                except TimeoutError:
                    logger.error("%d events not written to the store at shutdown", self.depth)
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
