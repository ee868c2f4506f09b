"""Rate limits, login throttles and concurrency caps counted across the workers of one
machine, in the file they share (cluster/shared.py).

A token bucket (a user's for a plugin, or the auth routes' for an address) is one row;
a call's buckets are updated in one write transaction, so workers never race on them.
A plugin's calls in flight are rows with the time their lease ends: a worker that dies
holding slots frees them when the leases run out (the plugin's timeout plus a margin),
as in the Redis governor (governance/cluster.py).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Sequence

import orjson

from tessera.cluster.shared import SharedFile
from tessera.governance.governor import Governor, Key, Limits, Scope
from tessera.governance.rates import Rate, refilled, shortfall
from tessera.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    key TEXT PRIMARY KEY, tokens REAL NOT NULL, at REAL NOT NULL, full REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS slots (
    plugin TEXT NOT NULL, slot TEXT NOT NULL, until REAL NOT NULL, PRIMARY KEY (plugin, slot)
) WITHOUT ROWID;
"""

#: Seconds a slot outlives its call's timeout before another worker may reuse it.
LEASE_MARGIN = 10.0
# A call with no timeout still must not hold a dead worker's slot for ever.
_LEASE_WITHOUT_TIMEOUT = 3600.0
# Every this many tokens taken, forget the buckets that have filled up again.
_SWEEP_EVERY = 1000


def _take(conn: sqlite3.Connection, limits: Sequence[tuple[str, Rate]]) -> float:
    """A token from each ``(key, rate)`` bucket, or from none when any is empty; the wait
    in seconds then (TokenBuckets.take_all)."""
    now = time.time()
    filled = []
    wait = 0.0
    for key, rate in limits:
        row = conn.execute("SELECT tokens, at FROM buckets WHERE key = ?", (key,)).fetchone()
        tokens, at = row if row is not None else (rate.requests, now)
        tokens = refilled(tokens, now - at, rate)
        wait = max(wait, shortfall(tokens, rate))
        filled.append((key, tokens, rate))
    spent = 1.0 if wait == 0.0 else 0.0
    for key, tokens, rate in filled:
        # When the bucket is full again: a row past that says nothing a new one would not.
        full = now + (rate.requests - tokens + spent) / rate.per_second
        conn.execute(
            "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)", (key, tokens - spent, now, full)
        )
    return wait


class SharedGovernor(Governor):
    """The :class:`Governor` whose counts every worker of the machine shares."""

    def __init__(
        self, settings: Settings, shared: SharedFile, *, lease_margin: float = LEASE_MARGIN
    ) -> None:
        super().__init__(settings)
        shared.schema(_SCHEMA)
        self._shared = shared
        self._lease_margin = lease_margin
        # The slots this worker holds, per plugin (any of them can be given back for any
        # of the plugin's calls: they count the same calls).
        self._slots: dict[str, list[str]] = {}
        self._taken = 0

    async def take(self, scope: Scope, limits: Sequence[tuple[Key, Rate]]) -> float:
        buckets = [(f"{scope}:{orjson.dumps(key).decode()}", rate) for key, rate in limits]
        self._taken += 1
        sweep = self._taken % _SWEEP_EVERY == 0

        def take(conn: sqlite3.Connection) -> float:
            if sweep:
                conn.execute("DELETE FROM buckets WHERE full < ?", (time.time(),))
            return _take(conn, buckets)

        return await self._shared.run(take)

    async def _occupy(self, plugin: str, limits: Limits) -> bool:
        slot = f"{self._shared.node}-{uuid.uuid4().hex}"
        lease = (limits.timeout or _LEASE_WITHOUT_TIMEOUT) + self._lease_margin
        cap = limits.max_concurrency or 0

        def occupy(conn: sqlite3.Connection) -> bool:
            now = time.time()
            conn.execute("DELETE FROM slots WHERE plugin = ? AND until < ?", (plugin, now))
            (running,) = conn.execute(
                "SELECT COUNT(*) FROM slots WHERE plugin = ?", (plugin,)
            ).fetchone()
            if running >= cap:
                return False
            conn.execute("INSERT INTO slots VALUES (?, ?, ?)", (plugin, slot, now + lease))
            return True

        if not await self._shared.run(occupy):
            return False
        self._slots.setdefault(plugin, []).append(slot)
        return True

    async def release(self, plugin: str, limits: Limits) -> None:
        if limits.max_concurrency is None:
            return
        slot = self._slots[plugin].pop()
        await self._shared.run(
            lambda conn: conn.execute(
                "DELETE FROM slots WHERE plugin = ? AND slot = ?", (plugin, slot)
            )
        )
