"""Shares of the sync-plugin threads: how many one user and one plugin may hold at once.

A synchronous plugin holds a worker thread until its function returns, and nothing can
stop it sooner: a call that answered 504 keeps its thread while the code runs on. Without
shares, one user whose calls hang (or one plugin that hangs for everyone) takes every
thread, and every other sync call in the server times out. With them, a call over its
share waits for a thread of its own share to come back, never for one of somebody else's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable

#: A user, as the runtime tells users apart: (app_id, user_id).
User = tuple[str, str]


def default_shares(threads: int) -> tuple[int, int]:
    """``(per_user, per_plugin)`` for a pool of ``threads``.

    A plugin may hold half the pool, so a plugin whose calls all hang leaves the other half
    to every other plugin; a user a quarter, so a user whose calls hang leaves at least half
    of even that plugin's share to its other users, while one user's burst (a browser opens
    about six connections) still runs in parallel. At least one each, for tiny pools.
    """
    return max(1, threads // 4), max(1, threads // 2)


class Quota:
    """At most ``limit`` slots per key; a taker over it waits in line, first come first
    served. A slot given back goes straight to the next in line, so a newcomer cannot
    overtake the waiting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[Hashable, int] = {}
        self._waiting: dict[Hashable, deque[asyncio.Future[None]]] = {}

    def held(self, key: Hashable) -> int:
        """The slots ``key`` holds now."""
        return self._held.get(key, 0)

    async def take(self, key: Hashable) -> None:
        """Hold one slot of ``key``, waiting for one when all are held."""
        held = self._held.get(key, 0)
        if held < self.limit and key not in self._waiting:
            self._held[key] = held + 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(turn)
        try:
            await turn  # done when give() handed this waiter its slot
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give(key)  # handed a slot just as the wait was cancelled: pass it on
            else:
                self._forget(key, turn)
            raise

    def give(self, key: Hashable) -> None:
        """Give back one slot of ``key``: to the first still waiting, else to the pool."""
        line = self._waiting.get(key)
        while line:
            turn = line.popleft()
            if not turn.done():
                if not line:
                    del self._waiting[key]
                turn.set_result(None)
                return
        self._waiting.pop(key, None)
        held = self._held[key] - 1
        if held:
            self._held[key] = held
        else:
            del self._held[key]  # one entry per key in use, not per key ever seen

    def _forget(self, key: Hashable, turn: asyncio.Future[None]) -> None:
        line = self._waiting.get(key)
        if line is None or turn not in line:  # give() may have dropped it already
            return
        line.remove(turn)
        if not line:
            del self._waiting[key]


class ThreadShares:
    """The per-user and per-plugin quotas of the sync-plugin threads.

    A call takes its user's slot first, then its plugin's. That order matters: a call
    waiting for its user's share holds nothing of the plugin's, so a user over their share
    never keeps the plugin's other users waiting; one waiting for the plugin's share holds
    only a slot of its own user's.
    """

    def __init__(self, per_user: int, per_plugin: int) -> None:
        self.users = Quota(per_user)
        self.plugins = Quota(per_plugin)

    async def take(self, user: User, plugin: str) -> None:
        """Hold a thread of ``user``'s share and of ``plugin``'s, waiting for each in turn."""
        await self.users.take(user)
        try:
            await self.plugins.take(plugin)
        except BaseException:
            self.users.give(user)
            raise

    def give(self, user: User, plugin: str) -> None:
        """Give back what :meth:`take` took, once the thread's function has returned."""
        self.plugins.give(plugin)
        self.users.give(user)
