"""The workers' shared file (cluster/shared.py) used by two links at once, as two workers
of one machine would: counts agree, and what a dead worker held frees itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tessera.auth.identity import Identity
from tessera.cluster.shared import SharedFile
from tessera.governance.errors import RateLimited, TooManyConcurrentCalls
from tessera.governance.governor import Limits
from tessera.governance.rates import Rate
from tessera.governance.shared import SharedGovernor
from tessera.settings import Settings

ALICE = Identity("alice", "alice", "default")


@pytest.fixture
async def links(tmp_path: Path) -> AsyncIterator[tuple[SharedFile, SharedFile]]:
    first, second = SharedFile(tmp_path), SharedFile(tmp_path)
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


async def test_slots_of_a_worker_that_died_free_themselves(links):
    settings = Settings.load({}, environ={})
    limits = Limits(timeout=0.3, max_concurrency=1)
    dead, alive = links
    # The first worker takes the only slot and dies without giving it back.
    await SharedGovernor(settings, dead, lease_margin=0.2).admit("job", ALICE, limits)
    survivor = SharedGovernor(settings, alive, lease_margin=0.2)
    with pytest.raises(TooManyConcurrentCalls):
        await survivor.admit("job", ALICE, limits)
    await asyncio.sleep(0.6)
    await survivor.admit("job", ALICE, limits)
    await survivor.release("job", limits)


async def test_a_rate_is_counted_once_for_both_workers(links):
    settings = Settings.load({}, environ={})
    limits = Limits(timeout=5, rate=Rate(3, 60.0))
    first, second = (SharedGovernor(settings, link) for link in links)
    for governor in (first, second, first):
        await governor.admit("job", ALICE, limits)
    for governor in (first, second):
        with pytest.raises(RateLimited):
            await governor.admit("job", ALICE, limits)


async def test_a_throttle_takes_from_every_bucket_or_none_for_both_workers(links):
    settings = Settings.load({}, environ={})
    first, second = (SharedGovernor(settings, link) for link in links)
    per_name, per_address = Rate(1, 3600.0), Rate(3, 3600.0)

    def attempt(name: str) -> list[tuple[tuple[str, ...], Rate]]:
        return [(("login", "addr", name), per_name), (("login", "addr"), per_address)]

    assert await first.take("auth", attempt("alice")) == 0
    # alice's bucket is empty: refused, and the address's budget is left as it was.
    assert await second.take("auth", attempt("alice")) > 0
    assert await second.take("auth", attempt("bob")) == 0
    assert await first.take("auth", attempt("carol")) == 0
    assert await second.take("auth", attempt("dave")) > 0
