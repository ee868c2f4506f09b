"""Plugin enable, disable and reload, carried to every worker of one machine through the
file they share (cluster/shared.py), as plugins/switches.py does through Redis.

The worker an operator asks saves the decision in the store (``plugins/state.py``),
writes the switch to the file and rings the workers' bells; each applies the switches it
has not seen, in order. A worker starting reads the saved decisions first.
"""

from __future__ import annotations

import asyncio
import sqlite3

from tessera.cluster.shared import SharedFile, woken
from tessera.plugins.registry import PluginRegistry
from tessera.plugins.state import PluginStates
from tessera.plugins.switches import ACTIONS, apply_switch, catch_up

_SCHEMA = """
CREATE TABLE IF NOT EXISTS switches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, action TEXT NOT NULL,
    name TEXT NOT NULL
);
"""
_TOPIC = "plugins"
# Switches kept for a worker that is slow to read them.
_KEEP = 1000


class SharedSwitches:
    """Announces this worker's plugin switches and applies the other workers' ones."""

    def __init__(self, shared: SharedFile, registry: PluginRegistry, states: PluginStates) -> None:
        shared.schema(_SCHEMA)
        self._shared = shared
        self._registry = registry
        self._states = states
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="tessera-plugin-switches")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None

    async def announce(self, action: str, name: str) -> None:
        """Tell the other workers that plugin ``name`` was enabled, disabled or reloaded."""
        assert action in ACTIONS, action
        node = self._shared.node

        def write(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "INSERT INTO switches (node, action, name) VALUES (?, ?, ?)", (node, action, name)
            )
            conn.execute("DELETE FROM switches WHERE id <= ?", (int(cur.lastrowid or 0) - _KEEP,))

        await self._shared.run(write, ring=_TOPIC)

    async def _listen(self) -> None:
        bell = self._shared.listen(_TOPIC)
        node = self._shared.node

        try:
            # The newest first, then the saved decisions: no switch falls between the two.
            ((last,),) = await self._shared.select("SELECT COALESCE(MAX(id), 0) FROM switches")
            await catch_up(self._registry, self._states)
            self.subscribed.set()
            while True:
                rows = await self._shared.select(
                    "SELECT id, node, action, name FROM switches WHERE id > ? ORDER BY id", last
                )
                for _, origin, action, name in rows:
                    if origin != node:
                        apply_switch(self._registry, action, name)
                if rows:
                    last = rows[-1][0]
                await woken(bell)
        finally:
            self._shared.unlisten(_TOPIC, bell)
