"""Redis stopped and restarted under a running cluster: clear errors, then full service,
and no event accepted before or during the outage is lost."""

from __future__ import annotations

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.scaleout.conftest import Cluster, RedisServer, eventually
from tests.scaleout.test_fanout import receive


def health(url: str) -> httpx.Response:
    return httpx.get(f"{url}/health", timeout=5)


def handled_once(cluster: Cluster, numbers: range) -> bool:
    done = [n for kind, _, n in cluster.handled if kind == "done"]
    return all(done.count(str(n)) >= 1 for n in numbers)


async def test_the_cluster_degrades_without_redis_and_recovers_when_it_returns(
    cluster: Cluster, redis_server: RedisServer
):
    a, b = cluster.start(2)
    assert health(a.url).json()["redis"] == "ok"
    for n in range(600, 603):
        assert b.call("nina", "relay", action="publish", event="job:early", n=n).status_code == 200

    redis_server.stop()
    down = b.call("nina", "relay", action="send", n=1)
    assert down.status_code == 503
    assert "Redis" in down.json()["error"] and "127.0.0.1" not in down.text
    reported = health(a.url)
    assert reported.status_code == 200
    assert reported.json()["status"] == "degraded"
    assert reported.json()["redis"] == "unreachable"
    async with connect(a.ws_url("nina")) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd.code == 1013  # try again later
    # Events are still accepted while Redis is away, and sent once it is back.
    for n in range(603, 606):
        assert a.call("nina", "relay", action="publish", event="job:late", n=n).status_code == 200

    redis_server.start()
    eventually(lambda: health(a.url).json()["status"] == "ok", what="Redis back in /health")
    eventually(
        lambda: b.call("nina", "relay", action="send", n=2).status_code == 200,
        what="sending works again",
    )
    eventually(lambda: handled_once(cluster, range(600, 606)), seconds=20, what="every event")
    async with connect(a.ws_url("olga")) as ws:
        await receive(ws)
        sent = b.call("olga", "relay", action="send", n=3)
        assert sent.status_code == 200
        assert await receive(ws) == {"type": "relay", "n": 3, "seq": sent.json()["seq"]}
