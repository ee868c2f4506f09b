"""The WebSocket hub: numbering, keeping and delivering messages, without a socket."""

from __future__ import annotations

import asyncio
import json

import pytest

from tessera.auth.identity import Identity
from tessera.services.connection import with_seq
from tessera.services.resume import StoredResumeLog
from tessera.services.websocket import NotRunning, WebSocketHub


@pytest.mark.parametrize("body", ["{}", '{"a":1}', '{"a":{"b":[1,2]}}'])
def test_with_seq_adds_the_sequence_number(body):
    assert json.loads(with_seq(body, 7)) == {**json.loads(body), "seq": 7}


async def test_messages_are_kept_for_resume_even_without_a_connection(system):
    manager = WebSocketHub()
    log = StoredResumeLog(system)
    manager.start(log)
    try:
        assert await manager.send_in_app("default", "alice", {"type": "x", "seq": 99}) == 1
        assert await manager.send_in_app("default", "alice", {"type": "y"}) == 2
        assert await log.since("default", "alice", 0) == [(1, '{"type":"x"}'), (2, '{"type":"y"}')]
        assert await manager.broadcast_in_app("default", {"type": "z"}) == 0
    finally:
        await manager.stop()


async def test_a_message_must_be_a_json_object(system):
    manager = WebSocketHub()
    manager.start(StoredResumeLog(system))
    try:
        with pytest.raises(TypeError, match="dicts"):
            await manager.send_in_app("default", "alice", ["not", "a", "dict"])
    finally:
        await manager.stop()


async def test_used_outside_a_runtime_it_says_so():
    with pytest.raises(NotRunning, match="outside a running Tessera runtime"):
        await WebSocketHub().send_in_app("default", "alice", {})


class Socket:
    """A client that stays connected and keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self._forever = asyncio.Event()

    async def send_text(self, data: str) -> None:
        self.received.append(json.loads(data))

    async def receive(self) -> dict:
        await self._forever.wait()
        return {}

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


class GatedInserts:
    """A real collection whose inserts of alice's messages wait for ``gate``."""

    def __init__(self, collection) -> None:
        self.collection = collection
        self.gate = asyncio.Event()

    def __getattr__(self, name):
        return getattr(self.collection, name)

    async def insert_one(self, document, *args, **kwargs):
        if document["user_id"] == "alice":
            await self.gate.wait()
        return await self.collection.insert_one(document, *args, **kwargs)


async def test_a_socket_opening_while_a_message_is_written_does_not_number_it_twice(
    system, monkeypatch
):
    monkeypatch.setattr("tessera.services.resume.MAX_COUNTED_USERS", 10)
    manager = WebSocketHub()
    log = StoredResumeLog(system)
    await log.ensure_indexes()
    log._messages = inserts = GatedInserts(system["ws_messages"])
    manager.start(log)
    try:
        sending = asyncio.create_task(manager.send_in_app("default", "alice", {"n": 1}))
        await asyncio.sleep(0.05)  # alice's message 1 is numbered; its write waits
        for n in range(11):  # alice, counted first, is forgotten meanwhile
            await manager.send_in_app("default", f"user{n}", {})
        opening = asyncio.create_task(
            manager.open(socket := Socket(), Identity("alice", "alice", "default"), None)
        )
        await asyncio.sleep(0.05)
        inserts.gate.set()
        assert await sending == 1
        connection = await opening
        assert await manager.send_in_app("default", "alice", {"n": 2}) == 2
        assert [seq for seq, _ in await log.since("default", "alice", 0)] == [1, 2]
        serving = asyncio.create_task(connection.serve({"type": "connected"}))
        await asyncio.sleep(0.1)
        assert [m.get("seq") for m in socket.received] == [None, 2]
        connection.close(1000)
        await serving
    finally:
        await manager.stop()
