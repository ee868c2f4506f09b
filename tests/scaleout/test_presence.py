"""WebSocket presence: who is connected to an app on any process, in Redis and in the
workers' file, seen from another process; a process that dies stops counting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tessera.cluster.link import Cluster
from tessera.cluster.shared import SharedFile
from tessera.services.presence import PresenceStore
from tessera.services.presence.redis import RedisPresenceStore
from tessera.services.presence.shared import SharedPresenceStore
from tests.scaleout.conftest import RedisServer

Stores = Callable[[], PresenceStore]


@pytest.fixture(params=["redis", "shared"])
async def stores(request, tmp_path: Path) -> AsyncIterator[Stores]:
    """Makes the stores of processes sharing one place, each with a lease of 1 s."""
    async with AsyncExitStack() as stack:
        if request.param == "redis":
            server = request.getfixturevalue("redis_server")

            def make() -> PresenceStore:
                cluster = Cluster(server.url)
                stack.push_async_callback(cluster.close)
                return RedisPresenceStore(cluster, lease=1)

        else:

            def make() -> PresenceStore:
                shared = SharedFile(tmp_path)
                stack.push_async_callback(shared.close)
                return SharedPresenceStore(shared, lease=1)

        yield make


async def test_each_process_sees_who_is_connected_to_an_app_anywhere(stores: Stores):
    a, b = stores(), stores()
    await a.write({("shop", "ann"): True, ("shop", "bob"): True, ("blog", "cat"): True})
    await b.write({("shop", "bob"): True, ("shop", "dan"): True})
    assert await b.users("shop") == {"ann", "bob", "dan"}
    assert await a.users("blog") == {"cat"}
    await a.write({("shop", "bob"): False, ("shop", "ann"): False})
    assert await a.users("shop") == {"bob", "dan"}
    await b.clear()
    assert await a.users("shop") == set()
    assert await a.users("blog") == {"cat"}


async def test_the_users_of_a_process_that_died_stop_counting(stores: Stores):
    dead, alive = stores(), stores()
    await dead.renew([("shop", "ann")])
    await alive.renew([("shop", "bob")])
    assert await alive.users("shop") == {"ann", "bob"}
    # dead renews no more; alive goes on renewing, as its heartbeat does.
    for _ in range(100):
        await alive.renew([("shop", "bob")])
        if await alive.users("shop") == {"bob"}:
            break
        await asyncio.sleep(0.05)
    assert await alive.users("shop") == {"bob"}


async def test_a_renewal_writes_again_what_redis_lost(redis_server: RedisServer):
    async with AsyncExitStack() as stack:
        clusters = [Cluster(redis_server.url), Cluster(redis_server.url)]
        for cluster in clusters:
            stack.push_async_callback(cluster.close)
        mine, theirs = (RedisPresenceStore(cluster) for cluster in clusters)
        await mine.write({("shop", "ann"): True})
        redis_server.client().flushall()
        assert await theirs.users("shop") == set()
        await mine.renew([("shop", "ann"), ("shop", "bob")])
        assert await theirs.users("shop") == {"ann", "bob"}
        await mine.renew([("shop", "bob")])
        assert await theirs.users("shop") == {"bob"}
