"""The WebSocket manager's contract with plugins, without a socket."""

from __future__ import annotations

import json

import pytest

from tessera.services.connection import with_seq
from tessera.services.resume import StoredResumeLog
from tessera.services.websocket import NotRunning, WebSocketManager


@pytest.mark.parametrize("body", ["{}", '{"a":1}', '{"a":{"b":[1,2]}}'])
def test_with_seq_adds_the_sequence_number(body):
    assert json.loads(with_seq(body, 7)) == {**json.loads(body), "seq": 7}


async def test_messages_are_kept_for_resume_even_without_a_connection(system):
    manager = WebSocketManager()
    log = StoredResumeLog(system)
    manager.start(log, default_app="default")
    try:
        assert await manager.send_to_user("alice", {"type": "x", "seq": 99}) == 1
        assert await manager.send_to_user("alice", {"type": "y"}) == 2
        assert await log.since("default", "alice", 0) == [(1, '{"type":"x"}'), (2, '{"type":"y"}')]
        assert await manager.broadcast({"type": "z"}) == 0
    finally:
        await manager.stop()


async def test_a_message_must_be_a_json_object(system):
    manager = WebSocketManager()
    manager.start(StoredResumeLog(system), default_app="default")
    try:
        with pytest.raises(TypeError, match="dicts"):
            await manager.send_to_user("alice", ["not", "a", "dict"])
        with pytest.raises(ValueError, match="user_id"):
            await manager.send_to_user("", {})
    finally:
        await manager.stop()


async def test_used_outside_a_runtime_it_says_so():
    with pytest.raises(NotRunning, match="outside a running Tessera runtime"):
        await WebSocketManager().send_to_user("alice", {})
