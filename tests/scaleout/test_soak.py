"""A soak: two processes under steady calls while Redis is killed and restarted five
times. Every call answers 200; no acknowledged write is lost or stored twice; every event
is handled once; every WebSocket message reaches the user's socket on the other process
once, in order; both processes are ready afterwards."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.scaleout.conftest import Cluster, Node, RedisServer, eventually
from tests.scaleout.test_fanout import receive

KILLS = 5


def ready(node: Node) -> bool:
    return httpx.get(f"{node.url}/health/ready", timeout=5).status_code == 200


class Caller(threading.Thread):
    """Calls ``note`` on one process for one user until stopped, numbering from ``first``."""

    def __init__(self, node: Node, user: str, first: int) -> None:
        super().__init__(daemon=True)
        self.node, self.user = node, user
        self.numbers = itertools.count(first)
        self.acknowledged: list[int] = []
        self.failed: list[tuple[int, int, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with self.node.client(self.user) as client:
            while not self.stopping.is_set():
                n = next(self.numbers)
                answer = client.post("/api/execute/relay", json={"action": "note", "n": n})
                if answer.status_code == 200:
                    self.acknowledged.append(n)
                else:
                    self.failed.append((n, answer.status_code, answer.text[:200]))
                time.sleep(0.01)


async def collect(url: str, count: list[int], received: list[dict[str, Any]]) -> None:
    """Receive the user's messages until ``count[0]`` of them arrived (set at the end),
    or none came for 10 s."""
    async with connect(url) as ws:
        assert (await receive(ws))["type"] == "connected"
        while len(received) < count[0]:
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except TimeoutError:
                return
            if message.get("type") != "ping":
                received.append(message)


async def test_redis_killed_five_times_under_steady_calls_loses_and_doubles_nothing(
    cluster: Cluster, redis_server: RedisServer
):
    a, b = cluster.start(2)
    callers = [Caller(a, "soak-a", 1), Caller(b, "soak-b", 100_000)]
    # Each user's socket is on the other process: its messages cross through Redis.
    expected = [[10**9], [10**9]]
    received: list[list[dict[str, Any]]] = [[], []]
    sockets = [
        asyncio.create_task(collect(b.ws_url("soak-a"), expected[0], received[0])),
        asyncio.create_task(collect(a.ws_url("soak-b"), expected[1], received[1])),
    ]
    await asyncio.sleep(0.5)
    for caller in callers:
        caller.start()
    for _ in range(KILLS):
        await asyncio.sleep(1.0)
        redis_server.kill()
        await asyncio.sleep(1.0)
        redis_server.start()
        await asyncio.to_thread(
            eventually, lambda: ready(a) and ready(b), 60, "both processes ready again"
        )
    await asyncio.sleep(0.5)
    for caller in callers:
        caller.stopping.set()
        await asyncio.to_thread(caller.join, 30)
        assert not caller.is_alive(), "a call never answered"

    for caller in callers:
        assert caller.failed == [], caller.failed[:3]
        stored = caller.node.call(caller.user, "relay", action="notes").json()["notes"]
        assert sorted(stored) == caller.acknowledged
    sent = [caller.acknowledged for caller in callers]
    assert all(len(numbers) > 50 for numbers in sent)

    # Each socket gets every message of its user once, in the order sent.
    for index, numbers in enumerate(sent):
        expected[index][0] = len(numbers)
    await asyncio.gather(*sockets)
    for messages, numbers in zip(received, sent, strict=True):
        got = [m.get("n") for m in messages]
        assert got == numbers, (
            f"{len(got)} of {len(numbers)}; missing {sorted(set(numbers) - set(got))[:20]}, "
            f"others {[m for m in messages if m.get('type') != 'note'][:5]}"
        )
        seqs = [m["seq"] for m in messages]
        assert seqs == sorted(set(seqs))

    everything = sorted(n for numbers in sent for n in numbers)

    def handled() -> list[int]:
        return sorted(int(n) for kind, _, n in cluster.handled if kind == "done")

    deadline = time.monotonic() + 30
    while handled() != everything and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    done = handled()
    twice = sorted({n for n in done if done.count(n) > 1})
    missing = sorted(set(everything) - set(done))
    assert (missing, twice) == ([], []), f"{len(missing)} events lost, {len(twice)} handled twice"
    assert ready(a) and ready(b)
