"""Plans and entitlements across processes: usage counted in Redis, exactly, and refused
while Redis is down."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tessera.cluster.link import Cluster as RedisLink
from tessera.entitlements.ledger import UsageKey
from tessera.entitlements.ledger_redis import RedisLedger
from tessera.runtime import local_tokens
from tessera.settings import Settings
from tests.entitlements.conftest import HERE, PLANS
from tests.entitlements.test_exactness import charge_concurrently
from tests.scaleout.conftest import Cluster, RedisServer
from tests.test_cli import free_port, wait_healthy


def start(cluster: Cluster, count: int) -> None:
    shutil.copytree(HERE / "plugins", cluster.folder / "plugins")
    cluster.start(count, plans=PLANS)


def test_200_concurrent_calls_over_two_processes_charge_exactly_50(cluster: Cluster) -> None:
    start(cluster, 2)
    urls = [node.url for node in cluster.nodes]
    token = cluster.nodes[0].token("ann", plan="pro")
    statuses = asyncio.run(charge_concurrently(urls, token, 200))
    assert statuses == {200: 50, 429: 150}
    for node in cluster.nodes:
        with node.client("ann", plan="pro") as ann:
            listed = ann.post("/api/execute/notes", json={"action": "list"}).json()
        assert listed["entitlements"]["limits"]["notes_per_month"]["used"] == 50


def test_a_redis_outage_refuses_charging_calls_with_503(cluster: Cluster) -> None:
    start(cluster, 1)
    node = cluster.nodes[0]
    with node.client("ann", plan="free") as ann:
        assert ann.post("/api/execute/notes", json={"action": "create"}).status_code == 200
        cluster.redis.stop()
        answer = ann.post("/api/execute/notes", json={"action": "create"})
        assert answer.status_code == 503
        assert answer.json()["error_code"] == "entitlements_unavailable"
        cluster.redis.start()
        assert ann.post("/api/execute/notes", json={"action": "create"}).status_code == 200
        # Two of the two allowed: the call refused during the outage was not charged.
        assert ann.post("/api/execute/notes", json={"action": "create"}).status_code == 429


def test_a_charge_redis_missed_at_the_end_of_a_call_is_written_with_the_next(
    cluster: Cluster,
) -> None:
    start(cluster, 1)
    node = cluster.nodes[0]
    with node.client("ann", plan="pro") as ann:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(
                ann.post, "/api/execute/notes", json={"action": "create_slowly", "seconds": 1.5}
            )
            time.sleep(0.7)  # held, and running
            cluster.redis.stop()
            assert slow.result().status_code == 200  # its answer stands
        cluster.redis.start()
        assert ann.post("/api/execute/notes", json={"action": "create"}).status_code == 200
        listed = ann.post("/api/execute/notes", json={"action": "list"}).json()
        # Both calls charged: the first is not left to a hold that lapses with its lease.
        assert listed["entitlements"]["limits"]["notes_per_month"]["used"] == 2


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """``tessera serve --workers 2`` on the embedded store, no Redis, with the test plans."""
    shutil.copytree(HERE / "plugins", tmp_path / "plugins")
    data, port = tmp_path / "data", free_port()
    args = [
        *(sys.executable, "-m", "tessera", "serve", "--workers", "2", "--plans", str(PLANS)),
        *("--plugins", str(tmp_path / "plugins"), "--data", str(data), "--port", str(port)),
    ]
    env = {k: v for k, v in os.environ.items() if k != "TESSERA_REDIS_URL"}
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url, Settings.load({"data": data}, environ={})
    finally:
        process.terminate()
        process.wait(20)


def test_200_concurrent_calls_over_two_embedded_workers_charge_exactly_50(
    two_workers: tuple[str, Settings],
) -> None:
    url, settings = two_workers
    token = local_tokens(settings).issue("ann", plan="pro")
    statuses = asyncio.run(charge_concurrently([url] * 4, token, 200))
    assert statuses == {200: 50, 429: 150}
    # Each worker, asked on a fresh connection, counts the same 50.
    seen = set()
    for _ in range(6):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as ann:
            listed = ann.post("/api/execute/notes", json={"action": "list"}).json()
        seen.add(listed["entitlements"]["limits"]["notes_per_month"]["used"])
    assert seen == {50}


async def test_a_redis_hold_of_a_dead_process_ends_with_its_lease(
    redis_server: RedisServer,
) -> None:
    first, second = RedisLink(redis_server.url), RedisLink(redis_server.url)
    try:
        ledgers = RedisLedger(first), RedisLedger(second)
        counter = UsageKey("app", "ann", "notes", "notes_per_month", "2026-03")
        assert await ledgers[0].hold(counter, 1, 1, 0.3, 0) is not None  # never settled
        assert await ledgers[1].hold(counter, 1, 1, 60, 0) is None
        await asyncio.sleep(0.5)
        hold = await ledgers[1].hold(counter, 1, 1, 60, 0)
        assert hold is not None
        await ledgers[1].commit(hold)
        assert await ledgers[0].used([counter]) == [1]
        assert await ledgers[0].hold(counter, 1, 1, 60, 0) is None
    finally:
        await first.close()
        await second.close()


async def test_a_new_period_is_noted_once_across_redis_processes(
    redis_server: RedisServer,
) -> None:
    links = [RedisLink(redis_server.url) for _ in range(4)]
    try:
        ledgers = [RedisLedger(link) for link in links]
        march = UsageKey("app", "ann", "notes", "notes_per_month", "2026-03")
        april = march._replace(period="2026-04")
        assert await ledgers[0].roll(march) is None
        rolled = await asyncio.gather(*(ledger.roll(april) for ledger in ledgers))
        assert sorted(rolled, key=str) == ["2026-03", None, None, None]
        assert await ledgers[1].roll(march) is None
    finally:
        for link in links:
            await link.close()
