"""One connection's outbox: order, no duplicate, holes filled from the resume log."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tessera.services.connection import CLOSE_TOO_SLOW, Connection
from tessera.services.resume import StoredResumeLog


class LoopbackSocket:
    """An in-memory WebSocket end: what the server sends is kept; the client is silent."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed_with: int | None = None
        self._stuck = stuck
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_text(self, data: str) -> None:
        if self._stuck and self.sent:
            await asyncio.sleep(3600)
        self.sent.append(json.loads(data))

    async def receive(self) -> dict[str, Any]:
        return await self._incoming.get()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = code


def connection(socket, log, last_seq=0, **options) -> Connection:
    settings = {"queue_size": 8, "ping_interval": 60.0, "ping_timeout": 0.3, **options}
    return Connection(socket, "app", "alice", log=log, last_seq=last_seq, **settings)


async def test_out_of_order_and_repeated_messages_reach_the_client_once_in_order(system):
    log = StoredResumeLog(system)
    for n in range(1, 5):
        await log.append("app", "alice", json.dumps({"n": n}))
    socket = LoopbackSocket()
    conn = connection(socket, log)
    task = asyncio.create_task(conn.serve({"type": "connected"}))
    await asyncio.sleep(0.1)  # the replay of 1..4 has been sent
    await log.append("app", "alice", json.dumps({"n": 5}))
    await log.append("app", "alice", json.dumps({"n": 6}))
    # 6 arrives before 5 (another process was faster), then 5 and 3 again.
    conn.offer(6, '{"n":6,"seq":6}')
    conn.offer(5, '{"n":5,"seq":5}')
    conn.offer(3, '{"n":3,"seq":3}')
    await asyncio.sleep(0.1)
    conn.close(1000)
    await task
    assert [m.get("seq") for m in socket.sent] == [None, 1, 2, 3, 4, 5, 6]
    assert socket.closed_with == 1000


async def test_a_blocked_send_or_a_full_queue_drops_the_connection(system):
    log = StoredResumeLog(system)
    socket = LoopbackSocket(stuck=True)
    conn = connection(socket, log, queue_size=2)
    task = asyncio.create_task(conn.serve({"type": "connected"}))
    await asyncio.sleep(0.05)
    for seq in range(1, 5):
        conn.offer(seq, json.dumps({"seq": seq}))
    await asyncio.wait_for(task, 2)
    assert conn.close_code == CLOSE_TOO_SLOW


async def test_a_send_blocked_past_the_ping_timeout_drops_the_connection(system):
    socket = LoopbackSocket(stuck=True)
    conn = connection(socket, StoredResumeLog(system), queue_size=100, ping_timeout=0.2)
    task = asyncio.create_task(conn.serve({"type": "connected"}))
    await asyncio.sleep(0.05)  # the greeting goes; the socket then takes nothing more
    conn.offer(1, json.dumps({"seq": 1}))  # one message: the queue is far from full
    await asyncio.wait_for(task, 2)
    assert conn.close_code == CLOSE_TOO_SLOW


def test_heartbeats_keep_their_order_on_uvloop():
    """The heartbeats share one timer; uvloop answers a due time already past with a
    plain Handle (no when()), which the schedule must cope with."""
    import uvloop

    from tessera.services.connection import _Heartbeats

    class Beating:
        def __init__(self, name: str, beats: list[str]) -> None:
            self.name, self.beats = name, beats

        def _beat(self) -> None:
            self.beats.append(self.name)

    async def main() -> list[str]:
        beats: list[str] = []
        heartbeats = _Heartbeats()
        heartbeats.schedule(Beating("late", beats), 0.06)  # type: ignore[arg-type]
        heartbeats.schedule(Beating("past", beats), -1.0)  # type: ignore[arg-type]
        closed = heartbeats.schedule(Beating("closed", beats), 0.01)  # type: ignore[arg-type]
        closed[2] = None
        heartbeats.schedule(Beating("soon", beats), 0.03)  # type: ignore[arg-type]
        await asyncio.sleep(0.15)
        return beats

    assert uvloop.run(main()) == ["past", "soon", "late"]
