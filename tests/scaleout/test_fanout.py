"""WebSocket messages across processes: delivery, order, and resume on another process."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.scaleout.conftest import Cluster


async def receive(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message.get("type") != "ping":
            return message


async def test_a_socket_on_one_process_receives_what_a_plugin_sends_on_another(pair: Cluster):
    a, b = pair.nodes
    async with connect(a.ws_url("alice")) as ws:
        assert (await receive(ws))["type"] == "connected"
        sent = b.call("alice", "relay", action="send", n=1)
        assert sent.status_code == 200, sent.text
        assert await receive(ws) == {"type": "relay", "n": 1, "seq": sent.json()["seq"]}


async def test_messages_from_several_processes_arrive_numbered_in_order(pair: Cluster):
    nodes = pair.nodes
    async with connect(nodes[0].ws_url("bob")) as ws:
        start = (await receive(ws))["last_seq"]
        for n in range(10):
            assert nodes[n % 2].call("bob", "relay", action="send", n=n).status_code == 200
        received = [await receive(ws) for _ in range(10)]
    assert [m["seq"] for m in received] == list(range(start + 1, start + 11))
    assert [m["n"] for m in received] == list(range(10))


async def test_a_client_moving_to_another_process_resumes_without_gap_or_duplicate(
    pair: Cluster,
):
    a, b = pair.nodes
    received: list[dict[str, Any]] = []
    async with connect(a.ws_url("carol")) as ws:
        await receive(ws)
        for n in range(4):
            (a, b)[n % 2].call("carol", "relay", action="send", n=n)
        received += [await receive(ws) for _ in range(2)]
    # Away: the rest of what was sent, and more from both processes.
    for n in range(4, 8):
        (a, b)[n % 2].call("carol", "relay", action="send", n=n)
    async with connect(b.ws_url("carol", last_seq=received[-1]["seq"])) as ws:
        assert (await receive(ws))["type"] == "connected"
        for n in range(8, 10):
            a.call("carol", "relay", action="send", n=n)
        received += [await receive(ws) for _ in range(8)]
        # Nothing more: no duplicate follows.
        b.call("carol", "relay", action="send", n=10)
        received.append(await receive(ws))
    assert [m["n"] for m in received] == list(range(11))
    seqs = [m["seq"] for m in received]
    assert seqs == list(range(seqs[0], seqs[0] + 11))


async def test_messages_sent_while_processes_are_cut_off_from_redis_still_arrive(
    pair: Cluster,
):
    a, b = pair.nodes
    redis = pair.redis.client()
    cutting = threading.Event()

    def cut_off() -> None:
        # Drop every process's subscription, again and again: sends fall in the gaps.
        while not cutting.is_set():
            redis.client_kill_filter(_type="pubsub")
            time.sleep(0.003)

    async with connect(a.ws_url("petra")) as ws:
        await receive(ws)
        killer = threading.Thread(target=cut_off)
        killer.start()
        try:
            seqs = [b.call("petra", "relay", action="send", n=n).json()["seq"] for n in range(8)]
        finally:
            cutting.set()
            killer.join()
        received = [await receive(ws) for _ in range(8)]
    assert [m["seq"] for m in received] == seqs
    assert [m["n"] for m in received] == list(range(8))


async def test_a_broadcast_reaches_the_users_of_its_app_on_every_process(pair: Cluster):
    a, b = pair.nodes
    app = "broadcasting"
    async with (
        connect(a.ws_url("ada", app_id=app)) as ada,
        connect(a.ws_url("ada", app_id=app)) as ada_tab,
        connect(b.ws_url("ben", app_id=app)) as ben,
        connect(a.ws_url("ada", app_id="elsewhere")) as outsider,
    ):
        for ws in (ada, ada_tab, ben, outsider):
            assert (await receive(ws))["type"] == "connected"
        sent = b.call("ben", "relay", app_id=app, action="broadcast", n=1)
        assert sent.status_code == 200, sent.text
        assert sent.json()["reached"] == 2
        for ws in (ada, ada_tab, ben):
            assert await receive(ws) == {"type": "relay", "n": 1, "seq": 1}
        # The other app's user got nothing: the next message it receives is this one.
        a.call("ada", "relay", app_id="elsewhere", action="send", n=2)
        assert await receive(outsider) == {"type": "relay", "n": 2, "seq": 1}
    # Numbered once in ada's sequence: a resume on the other process finds it.
    async with connect(b.ws_url("ada", app_id=app, last_seq=0)) as ws:
        assert (await receive(ws))["type"] == "connected"
        assert await receive(ws) == {"type": "relay", "n": 1, "seq": 1}
