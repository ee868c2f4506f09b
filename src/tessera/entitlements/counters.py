"""Where :class:`~tessera.entitlements.ledger.StoreLedger` keeps its counters durably.

Each charge is one conditional update, ``used + amount <= ceiling``, committed before the
call's answer is sent. On the embedded store it is one SQL statement in a table of its
own, run by the store's writer thread in its group commit: a document update costs about
ten times the CPU (230 against 28 us, measured), and a charge is paid on every call. On
MongoDB it is one ``update_one`` with the guard in its filter.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Protocol

from pymongo.errors import DuplicateKeyError

from tessera.entitlements.ledger import UsageKey
from tessera.store.engine.engine import Engine

TABLE = "tessera_entitlement_usage"
PERIODS = "tessera_entitlement_periods"


class Counters(Protocol):
    async def load(self, key: UsageKey) -> int:
        """What the counter has charged (0 for one never charged)."""

    async def add(self, key: UsageKey, amount: int, ceiling: int) -> bool:
        """Add ``amount`` if the result stays at most ``ceiling``; whether it did."""

    async def roll(self, key: UsageKey) -> str | None:
        """Record that the counter is in ``key.period``; the period it leaves, when this
        is the first record of the new one (see ``Ledger.roll``)."""


class SqliteCounters:
    """Counters in a table of the embedded store's SQLite file.

    The charges waiting while one write runs go together in the next: one store job per
    batch, not per call (a job's hand-off to the writer thread and back costs more than
    the statement).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiting: list[tuple[str, int, int, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        def create(conn: Any, catalog: Any) -> None:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} "
                "(id TEXT PRIMARY KEY, used INTEGER NOT NULL) WITHOUT ROWID"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {PERIODS} "
                "(counter TEXT PRIMARY KEY, period TEXT NOT NULL) WITHOUT ROWID"
            )

        await self._engine.write(create)

    async def load(self, key: UsageKey) -> int:
        def read(conn: Any, catalog: Any) -> int:
            row = conn.execute(f"SELECT used FROM {TABLE} WHERE id = ?", (key.id,)).fetchone()
            return int(row[0]) if row else 0

        return self._engine.read_now(read, snapshot=False)

    async def roll(self, key: UsageKey) -> str | None:
        counter = counter_id(key)

        def roll(conn: Any, catalog: Any) -> str | None:
            row = conn.execute(
                f"SELECT period FROM {PERIODS} WHERE counter = ?", (counter,)
            ).fetchone()
            if row is not None and row[0] >= key.period:
                return None
            conn.execute(f"INSERT OR REPLACE INTO {PERIODS} VALUES (?, ?)", (counter, key.period))
            return None if row is None else str(row[0])

        return await self._engine.write(roll)

    async def add(self, key: UsageKey, amount: int, ceiling: int) -> bool:
        added = asyncio.get_running_loop().create_future()
        self._waiting.append((key.id, amount, ceiling, added))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write())
        return await added

    async def _write(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    results = await self._engine.write(functools.partial(_add_all, batch))
                except Exception as exc:  # each waiting charge learns why
                    for *_, added in batch:
                        if not added.done():
                            added.set_exception(exc)
                    continue
                for (*_, added), result in zip(batch, results, strict=True):
                    if not added.done():
                        added.set_result(result)
        finally:
            self._writing = None


def _add_all(batch: list[tuple[str, int, int, Any]], conn: Any, catalog: Any) -> list[bool]:
    """Each charge of ``batch`` if it fits its ceiling, in order; whether it did."""
    results = []
    for counter, amount, ceiling, _ in batch:
        cursor = conn.execute(
            f"INSERT INTO {TABLE} (id, used) VALUES (?, ?) ON CONFLICT (id) "
            "DO UPDATE SET used = used + excluded.used WHERE used + excluded.used <= ?",
            (counter, amount, ceiling),
        )
        results.append(bool(cursor.rowcount))
    return results


class DocumentCounters:
    """Counters as documents of a store collection (MongoDB)."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    async def load(self, key: UsageKey) -> int:
        doc = await self._collection.find_one({"_id": key.id})
        return int(doc["used"]) if doc else 0

    async def add(self, key: UsageKey, amount: int, ceiling: int) -> bool:
        fields = {"app_id": key.app_id, "user_id": key.user_id, "plugin": key.plugin}
        try:
            await self._collection.update_one(
                {"_id": key.id, "used": {"$lte": ceiling - amount}},
                {
                    "$inc": {"used": amount},
                    "$setOnInsert": {**fields, "limit": key.limit, "period": key.period},
                },
                upsert=True,
            )
        except DuplicateKeyError:  # the document exists and the guard refused
            return False
        return True

    async def roll(self, key: UsageKey) -> str | None:
        try:
            before = await self._collection.find_one_and_update(
                {"_id": "period\x1f" + counter_id(key), "period": {"$lt": key.period}},
                {"$set": {"period": key.period}},
                upsert=True,
            )
        except DuplicateKeyError:  # recorded already, in this period or a later one
            return None
        return None if before is None else str(before["period"])


def counter_id(key: UsageKey) -> str:
    """A counter whatever its period: the key's id without the period."""
    return "\x1f".join(key[:4])
