"""Usage counters shared by the workers of ``tessera serve --workers N`` on one machine,
in the file they share (cluster/shared.py).

A hold is one write transaction there: drop the counter's expired holds, add up the live
ones, and take the new one only if it fits, so workers never race. A worker that dies
mid-call leaves a hold that ends with the call's lease, as in the Redis ledger. Each
charge is also written through to the store's counters, which a single process reads
after a restart; a counter seen for the first time takes the larger of the two counts.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
import uuid

from tessera.cluster.shared import SharedFile
from tessera.entitlements.counters import Counters
from tessera.entitlements.errors import EntitlementsUnavailable
from tessera.entitlements.ledger import Hold, UsageKey

logger = logging.getLogger("tessera.entitlements")

# Counters this worker remembers having merged from the store; past this, it forgets.
KNOWN_KEPT = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (id TEXT PRIMARY KEY, used INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS usage_holds (
    id TEXT NOT NULL, hold TEXT NOT NULL, amount INTEGER NOT NULL, until REAL NOT NULL,
    PRIMARY KEY (id, hold)
) WITHOUT ROWID;
"""


def _merge(conn: sqlite3.Connection, counter: str, stored: int) -> None:
    conn.execute(
        "INSERT INTO usage VALUES (?, ?) "
        "ON CONFLICT (id) DO UPDATE SET used = max(used, excluded.used)",
        (counter, stored),
    )


def _take(
    conn: sqlite3.Connection, counter: str, hold: str, amount: int, allowance: float, lease: float
) -> bool:
    now = time.time()
    conn.execute("DELETE FROM usage_holds WHERE id = ? AND until < ?", (counter, now))
    (held,) = conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM usage_holds WHERE id = ?", (counter,)
    ).fetchone()
    (used,) = conn.execute("SELECT used FROM usage WHERE id = ?", (counter,)).fetchone()
    if used + held + amount > allowance:
        return False
    conn.execute(
        "INSERT INTO usage_holds VALUES (?, ?, ?, ?)", (counter, hold, amount, now + lease)
    )
    return True


def _charge(conn: sqlite3.Connection, counter: str, hold: str, amount: int) -> int:
    """Charge a hold (even one whose lease ran out: the call did succeed); the new count."""
    conn.execute("DELETE FROM usage_holds WHERE id = ? AND hold = ?", (counter, hold))
    (used,) = conn.execute(
        "UPDATE usage SET used = used + ? WHERE id = ? RETURNING used", (amount, counter)
    ).fetchone()
    return int(used)


class SharedLedger:
    """The :class:`~tessera.entitlements.ledger.Ledger` of one machine's workers."""

    def __init__(self, shared: SharedFile, counters: Counters) -> None:
        shared.schema(_SCHEMA)
        self._shared = shared
        self._store = counters
        # Counters this worker has brought into the shared file (from the store).
        self._known: set[str] = set()
        # Charges the store failed to take, added to the next one of the counter.
        self._unsaved: dict[UsageKey, int] = {}
        # Holds of calls that succeeded while the shared file could not be written,
        # charged with the next commit of their counter (left alone, each would lapse
        # with its lease, uncharged).
        self._uncharged: dict[UsageKey, list[Hold]] = {}

    async def _know(self, keys: list[UsageKey]) -> None:
        for key in keys:
            if key.id in self._known:
                continue
            stored = await self._store.load(key)
            await self._shared.run(functools.partial(_merge, counter=key.id, stored=stored))
            if len(self._known) >= KNOWN_KEPT:
                self._known.clear()  # merging again changes nothing
            self._known.add(key.id)

    async def hold(
        self, key: UsageKey, amount: int, allowance: float, lease: float, ends: float
    ) -> Hold | None:
        hold_id = f"{self._shared.node}-{uuid.uuid4().hex[:12]}"
        try:
            await self._know([key])
            taken = await self._shared.run(
                lambda conn: _take(conn, key.id, hold_id, amount, allowance, lease)
            )
        except Exception as exc:  # whatever the store or the file raised: no call
            raise EntitlementsUnavailable(f"cannot count usage: {exc}") from exc
        return Hold(key, amount, hold_id) if taken else None

    async def commit(self, hold: Hold) -> None:
        key = hold.key
        pending = [*self._uncharged.pop(key, ()), hold]
        for index, each in enumerate(pending):
            try:
                used = await self._shared.run(
                    functools.partial(_charge, counter=key.id, hold=each.id, amount=each.amount)
                )
            except Exception as exc:
                self._uncharged[key] = pending[index:]
                raise EntitlementsUnavailable(f"cannot count usage: {exc}") from exc
        amount = self._unsaved.pop(key, 0) + sum(each.amount for each in pending)
        try:
            # The stored count may only grow to what the workers have counted.
            await self._store.add(key, amount, used)
        except Exception:
            logger.exception(
                "usage %s: charge of %d not written; kept for the next", key.id, amount
            )
            self._unsaved[key] = amount

    async def release(self, hold: Hold) -> None:
        await self._shared.run(
            lambda conn: conn.execute(
                "DELETE FROM usage_holds WHERE id = ? AND hold = ?", (hold.key.id, hold.id)
            )
        )

    async def used(self, keys: list[UsageKey]) -> list[int]:
        ids = [key.id for key in keys]
        try:
            await self._know(keys)
            rows = await self._shared.run(
                lambda conn: [
                    conn.execute("SELECT used FROM usage WHERE id = ?", (i,)).fetchone()
                    for i in ids
                ]
            )
        except Exception as exc:  # whatever the store or the file raised: no call
            raise EntitlementsUnavailable(f"cannot read usage: {exc}") from exc
        return [int(row[0]) for row in rows]

    async def roll(self, key: UsageKey) -> str | None:
        try:
            return await self._store.roll(key)
        except Exception as exc:  # whatever the store raised: no count, no call
            raise EntitlementsUnavailable(f"cannot read usage: {exc}") from exc
