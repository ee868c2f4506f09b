"""The resume window: each user's numbered messages, kept so a reconnecting client can
ask for the ones it missed.

Every message to a user gets the next number of that user's sequence (``seq``) and is
written to the store before it is delivered, so whatever a client missed while away is
there to replay. The window keeps the last ``max_messages`` messages of each user that are
younger than ``max_age`` seconds; older ones are trimmed as new ones arrive. Because it
lives in the store it survives a restart.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING

DEFAULT_MAX_MESSAGES = 1000
DEFAULT_MAX_AGE = 24 * 3600.0
# Trimming on every message would double the writes; every few dozen keeps the window close.
TRIM_EVERY = 32
# Sequences are stored as signed 64-bit integers (BSON, SQLite, Redis).
MAX_SEQ = 2**63 - 1
# Users whose sequence is counted in memory; beyond, the oldest are forgotten.
MAX_COUNTED_USERS = 100_000


class ResumeLog(Protocol):
    """Numbers, keeps and replays the messages sent to each user."""

    async def last_seq(self, app_id: str, user_id: str) -> int:
        """The number of the user's latest message (0 before the first)."""

    async def append(self, app_id: str, user_id: str, text: str) -> int:
        """Number and keep ``text`` (a JSON message); return its ``seq``."""

    async def since(
        self, app_id: str, user_id: str, after: int, until: int | None = None
    ) -> list[tuple[int, str]]:
        """The kept messages with ``after < seq <= until``, oldest first."""


class StoredResumeLog:
    """The resume window in two collections of the system database.

    ``ws_messages`` holds the numbered messages. Each user's sequence is counted in
    memory, from the store's highest number for the user: one write per message rather
    than two (a counter, then the message). So one process writes a store's window
    (several processes number in Redis: see fanout/redis.py); the unique index on
    ``seq`` refuses a number given twice. ``ws_sequences`` keeps each user's highest
    number from before a trim, so a user whose every message has aged out does not start
    again at 1.
    """

    def __init__(
        self,
        database: Any,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self._sequences = database["ws_sequences"]
        self._messages = database["ws_messages"]
        self.max_messages = max_messages
        self.max_age = max_age
        self._last: dict[tuple[str, str], int] = {}

    async def ensure_indexes(self) -> None:
        await self._sequences.create_index(
            [("app_id", ASCENDING), ("user_id", ASCENDING)], unique=True
        )
        await self._messages.create_index(
            [("app_id", ASCENDING), ("user_id", ASCENDING), ("seq", ASCENDING)], unique=True
        )

    async def last_seq(self, app_id: str, user_id: str) -> int:
        # Counted in memory from the first time a user's number is needed.
        key = (app_id, user_id)
        last = self._last.get(key)
        if last is not None:
            return last
        stored = await self._stored_last_seq(app_id, user_id)
        last = self._last.setdefault(key, stored)  # an append may have numbered meanwhile
        if len(self._last) > MAX_COUNTED_USERS:
            # The oldest counted users are read from the store again when they need it.
            for old in list(itertools.islice(self._last, MAX_COUNTED_USERS // 10)):
                del self._last[old]
        return last

    async def _stored_last_seq(self, app_id: str, user_id: str) -> int:
        user = {"app_id": app_id, "user_id": user_id}
        # Trimming keeps the newest message: the counter matters once all have aged out.
        newest = await self._messages.find_one(user, {"seq": 1}, sort=[("seq", DESCENDING)])
        if newest is None:
            newest = await self._sequences.find_one(user)
        return int(newest["seq"]) if newest else 0

    async def append(self, app_id: str, user_id: str, text: str) -> int:
        key = (app_id, user_id)
        last = self._last.get(key)
        if last is None:
            last = await self.last_seq(app_id, user_id)
        seq = self._last[key] = last + 1
        now = time.time()
        try:
            await self._messages.insert_one(
                {"app_id": app_id, "user_id": user_id, "seq": seq, "text": text, "at": now}
            )
        except BaseException:
            self._last.pop(key, None)  # count again from the store
            raise
        if seq % TRIM_EVERY == 0:
            await self._trim(app_id, user_id, seq, now)
        return seq

    async def since(
        self, app_id: str, user_id: str, after: int, until: int | None = None
    ) -> list[tuple[int, str]]:
        seq_range: dict[str, int] = {"$gt": after}
        if until is not None:
            seq_range["$lte"] = until
        cursor = self._messages.find(
            {
                "app_id": app_id,
                "user_id": user_id,
                "seq": seq_range,
                "at": {"$gte": time.time() - self.max_age},
            },
            {"seq": 1, "text": 1, "_id": 0},
        )
        newest = await cursor.sort("seq", DESCENDING).limit(self.max_messages).to_list(None)
        return [(int(m["seq"]), m["text"]) for m in reversed(newest)]

    async def _trim(self, app_id: str, user_id: str, seq: int, now: float) -> None:
        user = {"app_id": app_id, "user_id": user_id}
        # The number outlives the messages: written before any of them is deleted.
        await self._sequences.update_one(user, {"$max": {"seq": seq}}, upsert=True)
        await self._messages.delete_many({**user, "seq": {"$lte": seq - self.max_messages}})
        await self._messages.delete_many({**user, "at": {"$lt": now - self.max_age}})
