"""Redis killed and restarted under a running cluster: every call still answers, each
process serves its own sockets and handlers meanwhile, and what was kept is handed over,
once, when Redis returns."""

from __future__ import annotations

import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.scaleout.conftest import Cluster, Node, RedisServer, eventually
from tests.scaleout.test_fanout import receive


def ready(node: Node) -> httpx.Response:
    return httpx.get(f"{node.url}/health/ready", timeout=5)


def lines(cluster: Cluster, kind: str) -> list[tuple[int, str]]:
    return [(pid, n) for k, pid, n in cluster.handled if k == kind]


def pid(node: Node) -> int:
    return int(node.call("nina", "relay", action="pid").json()["pid"])


async def test_the_cluster_serves_through_a_redis_outage_and_hands_over_once(
    cluster: Cluster, redis_server: RedisServer
):
    a, b = cluster.start(2)
    assert ready(a).json() == {"status": "ready", "store": "ok", "redis": "ok"}
    a_pid, b_pid = pid(a), pid(b)
    for n in range(600, 603):
        assert b.call("nina", "relay", action="publish", event="job:early", n=n).status_code == 200
    # Handled before the outage: an entry whose delivery was cut by the kill waits for the
    # claim of silent entries (the handler timeout and a margin), which is not this test's.
    eventually(
        lambda: {"600", "601", "602"} <= {n for _, n in lines(cluster, "done")},
        what="the events published before the outage handled",
    )
    async with connect(a.ws_url("nina")) as here, connect(b.ws_url("nina")) as there:
        start = (await receive(here))["last_seq"]
        assert (await receive(there))["last_seq"] == start

        redis_server.kill()
        # Every call answers; the socket on the same process gets its messages at once.
        sent = [a.call("nina", "relay", action="send", n=n) for n in range(1, 4)]
        assert [r.status_code for r in sent] == [200, 200, 200], sent[0].text
        seqs = [r.json()["seq"] for r in sent]
        assert seqs == [start + 1, start + 2, start + 3]
        for n, seq in zip(range(1, 4), seqs, strict=True):
            assert await receive(here) == {"type": "relay", "n": n, "seq": seq}
        # Events are handled at once by the publishing process's subscriptions.
        for n in range(603, 606):
            published = a.call("nina", "relay", action="publish", event="job:late", n=n)
            assert published.status_code == 200
        assert a.call("nina", "relay", action="publish", event="cache:x", n=700).status_code == 200
        eventually(
            lambda: {n for p, n in lines(cluster, "done") if p == a_pid} >= {"603", "604", "605"},
            what="the outage's events handled at once where they were published",
        )
        eventually(lambda: (a_pid, "700") in lines(cluster, "cache"), what="cache here")

        health = httpx.get(f"{a.url}/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        not_ready = ready(a)
        assert not_ready.status_code == 503
        assert not_ready.json()["problems"][0].startswith("redis: unreachable since 20")
        # A new socket waits for Redis: it is told to come back.
        async with connect(a.ws_url("olga")) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

        redis_server.start()
        eventually(lambda: ready(a).status_code == 200, what="a ready again")
        eventually(lambda: ready(b).status_code == 200, what="b ready again")
        # The socket on the other process gets the outage's messages, in order, once.
        for n, seq in zip(range(1, 4), seqs, strict=True):
            assert await receive(there) == {"type": "relay", "n": n, "seq": seq}
        after = b.call("nina", "relay", action="send", n=4)
        assert after.status_code == 200 and after.json()["seq"] == start + 4
        assert await receive(here) == {"type": "relay", "n": 4, "seq": start + 4}
        assert await receive(there) == {"type": "relay", "n": 4, "seq": start + 4}

    # Every event once: the other process's every-process handler gets the outage's one.
    eventually(lambda: (b_pid, "700") in lines(cluster, "cache"), what="cache there")
    assert b.call("nina", "relay", action="publish", event="job:last", n=606).status_code == 200
    eventually(lambda: "606" in [n for _, n in lines(cluster, "done")], what="a later event")
    time.sleep(1)  # time for a duplicate to show, were there one
    done = [n for _, n in lines(cluster, "done")]
    assert sorted(done) == [str(n) for n in range(600, 607)]
    assert sorted(lines(cluster, "cache")) == sorted([(a_pid, "700"), (b_pid, "700")])
    metrics = a.client("root", superadmin=True).get("/metrics").text
    assert "tessera_redis_outages_total 1.0" in metrics
    assert 'tessera_outage_outbox{kind="ws_messages"} 0.0' in metrics


async def test_a_broadcast_during_a_redis_outage_reaches_the_users_of_its_process(
    cluster: Cluster, redis_server: RedisServer
):
    a, b = cluster.start(2)
    app = "broadcasting"
    async with (
        connect(a.ws_url("olga", app_id=app)) as here,
        connect(b.ws_url("pete", app_id=app)) as there,
    ):
        for ws in (here, there):
            assert (await receive(ws))["type"] == "connected"
        assert a.call("olga", "relay", app_id=app, action="broadcast", n=1).json()["reached"] == 2
        for ws in (here, there):
            assert await receive(ws) == {"type": "relay", "n": 1, "seq": 1}

        redis_server.kill()
        # Who is connected to b is in Redis: the call answers, for a's own users.
        sent = a.call("olga", "relay", app_id=app, action="broadcast", n=2)
        assert sent.status_code == 200, sent.text
        assert sent.json()["reached"] == 1
        assert await receive(here) == {"type": "relay", "n": 2, "seq": 2}

        redis_server.start()
        eventually(lambda: ready(a).status_code == 200, what="a ready again")
        sent = a.call("olga", "relay", app_id=app, action="broadcast", n=3)
        assert sent.json()["reached"] == 2
        assert await receive(here) == {"type": "relay", "n": 3, "seq": 3}
        assert await receive(there) == {"type": "relay", "n": 3, "seq": 2}
