"""The notifications service against a real in-memory store."""

from __future__ import annotations

import pytest
from bson import ObjectId

from tessera.services.event_bus import EventBus
from tessera.services.notifications import NotificationService
from tessera.services.resume import StoredResumeLog
from tessera.services.websocket import WebSocketHub


@pytest.fixture
async def manager(system):
    websockets = WebSocketHub()
    log = StoredResumeLog(system)
    await log.ensure_indexes()
    websockets.start(log)
    manager = NotificationService(websockets, EventBus())
    await manager.start(system)
    yield manager
    await websockets.stop()


async def test_create_returns_the_id_of_a_stored_document(manager, system):
    notification_id = await manager.create("default", "alice", "todo", "T", "M", {"k": 1})
    stored = await system["notifications"].find_one({"_id": ObjectId(notification_id)})
    assert stored["user_id"] == "alice"
    assert stored["app_id"] == "default"
    assert (stored["type"], stored["metadata"], stored["read"]) == ("todo", {"k": 1}, False)


async def test_a_notification_belongs_to_one_app(manager):
    await manager.create("shop", "alice", "t", "T", "M")
    assert (await manager.page("shop", "alice"))["count"] == 1
    assert (await manager.page("default", "alice"))["count"] == 0


async def test_pushes_are_numbered_messages_unless_the_type_is_muted(manager, system):
    await manager.create("default", "alice", "a", "", "")
    await manager.set_preferences("default", "alice", {"b": {"enabled": False}})
    await manager.create("default", "alice", "b", "", "")
    pushed = await system["ws_messages"].find({"user_id": "alice"}).to_list(None)
    assert len(pushed) == 1
    assert '"subtype":"new"' in pushed[0]["text"]
    assert (await manager.page("default", "alice"))["count"] == 2


async def test_unknown_and_malformed_ids_are_not_found(manager):
    assert await manager.mark_read("default", "alice", "nope") is False
    assert await manager.delete("default", "alice", str(ObjectId())) is False


async def test_preferences_merge_and_reject_malformed_choices(manager):
    await manager.set_preferences("default", "alice", {"a": {"enabled": False}})
    chosen = await manager.set_preferences("default", "alice", {"b": {"enabled": True}})
    assert chosen == {"a": {"enabled": False}, "b": {"enabled": True}}
    await manager.set_preferences("default", "alice", {"a": {"enabled": True}})
    assert await manager.type_enabled("default", "alice", "a") is True
    with pytest.raises(ValueError, match="a:"):
        await manager.set_preferences("default", "alice", {"a": {"enabled": "no"}})


async def test_listing_and_counting_use_an_index_that_provides_the_order(manager, system):
    notifications = system["notifications"]
    for unread_only in (False, True):
        query = {"app_id": "default", "user_id": "alice"}
        if unread_only:
            query["read"] = False
        cursor = notifications.find(query).sort([("created_at", -1), ("_id", -1)])
        plan = (await cursor.explain())["queryPlanner"]["winningPlan"]
        assert plan["stage"] == "IXSCAN"
        assert plan["providesSort"] is True


async def test_used_outside_a_runtime_it_says_so():
    with pytest.raises(RuntimeError, match="outside a running Tessera runtime"):
        await NotificationService(WebSocketHub(), EventBus()).unread_count("default", "alice")


async def test_an_offset_past_what_a_store_takes_lists_nothing(manager):
    page = await manager.page("default", "alice", offset=2**70)
    assert page["notifications"] == []
