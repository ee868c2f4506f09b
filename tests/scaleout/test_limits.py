"""Rate limits and concurrency caps hold across processes."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from tessera.auth.identity import Identity
from tessera.cluster.link import Cluster as RedisLink
from tessera.governance import Limits, RateLimited, TooManyConcurrentCalls, parse_rate
from tessera.governance.cluster import ClusterGovernor
from tessera.governance.rates import Rate
from tessera.settings import Settings
from tests.scaleout.conftest import Cluster, RedisServer


def test_a_rate_limit_holds_across_processes(pair: Cluster):
    a, b = pair.nodes
    # metered allows 4 calls a minute per user, whichever process answers them.
    statuses = [(a, b)[n % 2].call("hank", "metered").status_code for n in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    refused = b.call("hank", "metered")
    assert refused.json()["error_code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    # Another user has a bucket of their own.
    assert a.call("ivan", "metered").status_code == 200


def test_the_login_throttle_holds_across_processes(pair: Cluster):
    a, b = pair.nodes
    # 10 attempts a minute per address and username, whichever process answers them.
    guess = {"username": "olga", "password": "guess"}
    answers = [httpx.post(f"{(a, b)[n % 2].url}/api/auth/login", json=guess) for n in range(12)]
    assert [r.status_code for r in answers] == [401] * 10 + [429, 429]
    assert answers[-1].json()["error_code"] == "rate_limited"
    assert int(answers[-1].headers["Retry-After"]) >= 1


def test_login_throttle_keys_stay_short_whatever_the_username(pair: Cluster):
    a, _ = pair.nodes
    guess = {"username": "x" * 500_000, "password": "guess"}
    assert httpx.post(f"{a.url}/api/auth/login", json=guess, timeout=10).status_code == 401
    keys = pair.redis.client().keys("tessera:auth:*")
    assert keys
    assert max(len(key) for key in keys) < 200


def test_a_concurrency_cap_holds_across_processes(pair: Cluster):
    a, b = pair.nodes
    statuses: list[int] = []

    def slow_call() -> None:
        while not statuses or statuses[-1] == 429:
            statuses.append(a.call("judy", "capped", sleep=1.5).status_code)

    slow = threading.Thread(target=slow_call)
    slow.start()
    try:
        # capped runs one call at a time in the whole cluster.
        while slow.is_alive():
            refused = b.call("kate", "capped", sleep=0)
            if refused.status_code == 429:
                break
        assert refused.status_code == 429
        assert refused.json()["error_code"] == "too_many_concurrent_calls"
    finally:
        slow.join()
    assert statuses[-1] == 200
    assert b.call("kate", "capped", sleep=0).status_code == 200


async def test_slots_of_a_process_that_died_free_themselves(redis_server: RedisServer):
    settings = Settings.load({}, environ={})
    limits = Limits(timeout=0.3, max_concurrency=1)
    alice = Identity("alice", "alice", "default")
    dead, alive = RedisLink(redis_server.url), RedisLink(redis_server.url)
    try:
        # The first process takes the only slot and dies without releasing it.
        await ClusterGovernor(settings, dead, lease_margin=0.2).admit("job", alice, limits)
        survivor = ClusterGovernor(settings, alive, lease_margin=0.2)
        with pytest.raises(TooManyConcurrentCalls):
            await survivor.admit("job", alice, limits)
        await asyncio.sleep(0.6)
        await survivor.admit("job", alice, limits)
        await survivor.release("job", limits)
    finally:
        await dead.close()
        await alive.close()


async def test_a_capped_call_gives_back_its_slot_while_an_uncapped_one_runs(
    redis_server: RedisServer,
):
    # Across a reload that drops a plugin's cap, calls of both versions run side by side.
    capped = Limits(timeout=1, max_concurrency=1)
    uncapped = Limits(timeout=1, rate=parse_rate("100/second"))
    alice = Identity("alice", "alice", "default")
    link = RedisLink(redis_server.url)
    governor = ClusterGovernor(Settings.load({}, environ={}), link)
    try:
        await governor.admit("job", alice, capped)
        await governor.admit("job", alice, uncapped)
        await governor.release("job", capped)
        await governor.admit("job", alice, capped)  # the only slot is free again
        await governor.release("job", capped)
        await governor.release("job", uncapped)
    finally:
        await link.close()


async def test_limits_are_counted_in_the_process_while_redis_is_down(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
):
    governor_cluster = RedisLink(redis_server.url)
    governor = ClusterGovernor(Settings.load({}, environ={}), governor_cluster)
    limits = Limits(timeout=1, rate=parse_rate("3/minute"), max_concurrency=1)
    alice = Identity("alice", "alice", "default")
    try:
        redis_server.stop()
        for _ in range(3):
            await governor.admit("job", alice, limits)
            await governor.release("job", limits)
        # The process's own bucket still refuses past the rate, and its own slots the cap.
        with pytest.raises(RateLimited):
            await governor.admit("job", alice, limits)
        bob = Identity("bob", "bob", "default")
        await governor.admit("job", bob, limits)
        with pytest.raises(TooManyConcurrentCalls):
            await governor.admit("job", alice, Limits(timeout=1, max_concurrency=1))
        await governor.release("job", limits)
        alone = [r for r in caplog.records if "counted by each process alone" in r.message]
        assert len(alone) == 1  # once per outage
        redis_server.start()
        await _eventually_up(governor_cluster)
        await governor.admit("job", alice, Limits(timeout=1, max_concurrency=1))
        await governor.release("job", Limits(timeout=1, max_concurrency=1))
    finally:
        await governor_cluster.close()


async def test_a_throttle_takes_from_every_bucket_or_none_across_processes(
    redis_server: RedisServer,
):
    settings = Settings.load({}, environ={})
    links = RedisLink(redis_server.url), RedisLink(redis_server.url)
    first, second = (ClusterGovernor(settings, link) for link in links)
    try:
        assert await first.take("auth", _attempt("alice")) == 0
        # alice's bucket is empty: refused, and the address's budget is left as it was.
        assert await second.take("auth", _attempt("alice")) > 0
        assert await second.take("auth", _attempt("bob")) == 0
        assert await first.take("auth", _attempt("carol")) == 0
        assert await second.take("auth", _attempt("dave")) > 0
    finally:
        for link in links:
            await link.close()


async def test_a_throttle_is_counted_in_the_process_while_redis_is_down(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
):
    link = RedisLink(redis_server.url)
    governor = ClusterGovernor(Settings.load({}, environ={}), link)
    try:
        redis_server.stop()
        # Neither every attempt refused nor every one let through: this process's budget.
        assert await governor.take("auth", _attempt("alice")) == 0
        assert await governor.take("auth", _attempt("alice")) > 0
        assert await governor.take("auth", _attempt("bob")) == 0
        alone = [r for r in caplog.records if "counted by each process alone" in r.message]
        assert len(alone) == 1
    finally:
        await link.close()


def _attempt(name: str) -> list[tuple[tuple[str, ...], Rate]]:
    """A login's buckets: one per address and name, one per address (3 an hour)."""
    per_name, per_address = Rate(1, 3600.0), Rate(3, 3600.0)
    return [(("login", "addr", name), per_name), (("login", "addr"), per_address)]


async def _eventually_up(link: RedisLink) -> None:
    for _ in range(100):
        if not link.outage.down:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the outage did not end after Redis returned")
