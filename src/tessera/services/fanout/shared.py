"""The fan-out and resume window of the workers of one machine, in the file they share.

Each user's sequence is a row, and their window the rows of the messages table, numbered
and kept in one write transaction, so no worker can deliver a number whose message is
not stored yet (as fanout/redis.py does with a Lua script). The messages table is also
how they travel: after the commit the sender rings the other workers' bells
(cluster/shared.py), and each reads the rows it has not seen, in order, and delivers them
to the connections it holds.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

from tessera.cluster.shared import SharedFile, woken
from tessera.services.fanout.base import Deliver, UserMessage
from tessera.services.resume import DEFAULT_MAX_AGE, DEFAULT_MAX_MESSAGES

logger = logging.getLogger("tessera.websocket")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ws_seq (
    app TEXT NOT NULL, user TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (app, user)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ws_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL, user TEXT NOT NULL, seq INTEGER NOT NULL,
    at REAL NOT NULL, node TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ws_messages_user ON ws_messages (app, user, seq);
"""

_TOPIC = "ws"
# Rows read at a time by a listener.
_BATCH = 500
# Every this many messages sent, a worker drops the window's rows past their age.
_SWEEP_EVERY = 500


class SharedResumeLog:
    """Each user's ``seq`` and last messages, shared by every worker."""

    def __init__(
        self,
        shared: SharedFile,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        shared.schema(_SCHEMA)
        self._shared = shared
        self.max_messages = max_messages
        self.max_age = max_age
        self._sent = 0

    async def last_seq(self, app_id: str, user_id: str) -> int:
        def read(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT seq FROM ws_seq WHERE app = ? AND user = ?", (app_id, user_id)
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._shared.run(read)

    async def append(self, app_id: str, user_id: str, text: str) -> int:
        self._sent += 1
        sweep = self._sent % _SWEEP_EVERY == 0
        node = self._shared.node

        def append(conn: sqlite3.Connection) -> int:
            now = time.time()
            (seq,) = conn.execute(
                "INSERT INTO ws_seq VALUES (?, ?, 1) "
                "ON CONFLICT DO UPDATE SET seq = seq + 1 RETURNING seq",
                (app_id, user_id),
            ).fetchone()
            conn.execute(
                "INSERT INTO ws_messages (app, user, seq, at, node, text) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (app_id, user_id, seq, now, node, text),
            )
            conn.execute(
                "DELETE FROM ws_messages WHERE app = ? AND user = ? AND seq <= ?",
                (app_id, user_id, seq - self.max_messages),
            )
            if sweep:
                conn.execute("DELETE FROM ws_messages WHERE at < ?", (now - self.max_age,))
            return int(seq)

        return await self._shared.run(append, ring=_TOPIC)

    async def since(
        self, app_id: str, user_id: str, after: int, until: int | None = None
    ) -> list[tuple[int, str]]:
        oldest = time.time() - self.max_age
        last = until if until is not None else 2**62

        def read(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            rows = conn.execute(
                "SELECT seq, text FROM ws_messages WHERE app = ? AND user = ? "
                "AND seq > ? AND seq <= ? AND at >= ? ORDER BY seq",
                (app_id, user_id, after, last, oldest),
            ).fetchall()
            return [(int(seq), text) for seq, text in rows]

        return (await self._shared.run(read))[-self.max_messages :]


class SharedFanout:
    """Delivers to this worker's connections at once, and to the others through the file."""

    def __init__(self, shared: SharedFile) -> None:
        shared.schema(_SCHEMA)
        self._shared = shared
        self._deliver: Deliver | None = None
        self._listener: asyncio.Task[None] | None = None

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._listener = asyncio.create_task(self._listen(), name="tessera-ws-fanout")

    async def publish(self, message: UserMessage) -> None:
        # SharedResumeLog.append stored it and rang the bells already.
        if self._deliver is not None:
            await self._deliver(message)

    async def stop(self) -> None:
        self._deliver = None
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None

    async def _listen(self) -> None:
        """Deliver the other workers' messages, in the order they were numbered."""
        node = self._shared.node
        bell = self._shared.listen(_TOPIC)

        try:
            ((last,),) = await self._shared.select("SELECT COALESCE(MAX(id), 0) FROM ws_messages")
            while True:
                rows = await self._shared.select(
                    "SELECT id, app, user, seq, text FROM ws_messages "
                    "WHERE id > ? AND node != ? ORDER BY id LIMIT ?",
                    *(last, node, _BATCH),
                )
                for _, app_id, user_id, seq, text in rows:
                    await self._receive(UserMessage(app_id, user_id, seq, text))
                if rows:
                    last = rows[-1][0]
                if len(rows) < _BATCH:
                    await woken(bell)
        finally:
            self._shared.unlisten(_TOPIC, bell)

    async def _receive(self, message: UserMessage) -> None:
        if self._deliver is None:
            return
        try:
            await self._deliver(message)
        except Exception:
            logger.exception("delivering a WebSocket message of user %s failed", message.user_id)
