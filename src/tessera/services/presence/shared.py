"""The workers' WebSocket presence in the file they share (cluster/shared.py).

A row per (app, user, worker) holding a socket, and a row per worker with the time its
lease ends, moved on by each renewal: a read counts only the rows of workers whose lease
runs, and a renewal deletes the rows of those whose lease ended (a worker that died).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Mapping

from tessera.cluster.shared import SharedFile
from tessera.services.presence.base import LEASE, Pair

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ws_presence (
    app TEXT NOT NULL, user TEXT NOT NULL, node TEXT NOT NULL, PRIMARY KEY (app, user, node)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ws_presence_node ON ws_presence (node);
CREATE TABLE IF NOT EXISTS ws_present_nodes (
    node TEXT PRIMARY KEY, until REAL NOT NULL
) WITHOUT ROWID;
"""


class SharedPresenceStore:
    """One worker's rows of the pairs it holds, and the reading of every worker's."""

    def __init__(self, shared: SharedFile, *, lease: float = LEASE) -> None:
        shared.schema(_SCHEMA)
        self._shared = shared
        self._lease = lease

    async def write(self, changes: Mapping[Pair, bool]) -> None:
        node, until = self._shared.node, time.time() + self._lease
        added = [(app, user, node) for (app, user), present in changes.items() if present]
        removed = [(app, user, node) for (app, user), present in changes.items() if not present]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR IGNORE INTO ws_presence VALUES (?, ?, ?)", added)
            conn.executemany(
                "DELETE FROM ws_presence WHERE app = ? AND user = ? AND node = ?", removed
            )
            # Its first write may come before its first renewal.
            conn.execute("INSERT OR IGNORE INTO ws_present_nodes VALUES (?, ?)", (node, until))

        await self._shared.run(write)

    async def renew(self, held: Collection[Pair]) -> None:
        """Move this worker's lease on, and drop the rows of workers whose lease ended.
        Its own rows are kept by its writes; ``held`` is written again only if its lease
        had ended (a worker paused for longer than the lease)."""
        node, now = self._shared.node, time.time()
        rows = [(app, user, node) for app, user in held]

        def renew(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT until FROM ws_present_nodes WHERE node = ?", (node,)
            ).fetchone()
            ended = "SELECT node FROM ws_present_nodes WHERE until < ?"
            conn.execute(f"DELETE FROM ws_presence WHERE node IN ({ended})", (now,))
            conn.execute("DELETE FROM ws_present_nodes WHERE until < ?", (now,))
            if row is None or row[0] < now:
                conn.executemany("INSERT OR IGNORE INTO ws_presence VALUES (?, ?, ?)", rows)
            conn.execute(
                "INSERT OR REPLACE INTO ws_present_nodes VALUES (?, ?)", (node, now + self._lease)
            )

        await self._shared.run(renew)

    async def users(self, app_id: str) -> set[str]:
        rows = await self._shared.select(
            "SELECT DISTINCT p.user FROM ws_presence p JOIN ws_present_nodes n USING (node) "
            "WHERE p.app = ? AND n.until >= ?",
            *(app_id, time.time()),
        )
        return {user for (user,) in rows}

    async def clear(self) -> None:
        node = self._shared.node

        def clear(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM ws_presence WHERE node = ?", (node,))
            conn.execute("DELETE FROM ws_present_nodes WHERE node = ?", (node,))

        await self._shared.run(clear)
