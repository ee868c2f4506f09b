"""Plans and entitlements across processes: usage counted in Redis, exactly, and refused
while Redis is down."""

from __future__ import annotations

import asyncio
import shutil

from tests.entitlements.conftest import HERE, PLANS
from tests.entitlements.test_exactness import charge_concurrently
from tests.scaleout.conftest import Cluster


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
