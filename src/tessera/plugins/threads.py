"""The worker threads of synchronous plugins, shared out per user and per plugin.

One pool serves every synchronous plugin; :class:`~tessera.governance.shares.ThreadShares`
bounds what one user and one plugin hold of it. A thread counts as held from the moment a
call is handed to the pool until its function returns (or, still queued, is cancelled),
not until its caller stops waiting: a call that timed out keeps its thread while the
plugin's code runs on, and so keeps its share.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tessera.governance.shares import ThreadShares, User, default_shares


class PluginThreads:
    """``threads`` worker threads, ``per_user`` and ``per_plugin`` at most held at once
    (by default derived from ``threads``: see :func:`default_shares`)."""

    def __init__(
        self, threads: int, *, per_user: int | None = None, per_plugin: int | None = None
    ) -> None:
        default_user, default_plugin = default_shares(threads)
        self.shares = ThreadShares(per_user or default_user, per_plugin or default_plugin)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="plugin")

    async def run(self, user: User, plugin: str, entry: Callable[[Any], Any], data: Any) -> Any:
        """``entry(data)`` in a worker thread, in the caller's context, once ``user`` and
        ``plugin`` each have a thread of their share free (waiting until then)."""
        await self.shares.take(user, plugin)
        loop = asyncio.get_running_loop()
        try:
            future = self._pool.submit(contextvars.copy_context().run, entry, data)
        except BaseException:
            self.shares.give(user, plugin)
            raise

        def returned(_: Future[Any]) -> None:  # in the worker thread, or where cancelled
            with contextlib.suppress(RuntimeError):  # the loop closed: nothing to give back
                loop.call_soon_threadsafe(self.shares.give, user, plugin)

        future.add_done_callback(returned)
        return await asyncio.wrap_future(future, loop=loop)

    def close(self) -> None:
        """Stop the worker threads (waiting for none: a stuck sync plugin cannot be killed)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
