"""The example plugin examples/plugins/todo uses every service through a real server."""

from __future__ import annotations

import time

from tests.conftest import EXAMPLES
from tests.http.test_websocket import call, nothing_more, open_socket, receive


async def test_todo_uses_database_websocket_notifications_events_and_settings(serve):
    live = serve(EXAMPLES)
    async with open_socket(live, "alice") as ws, open_socket(live, "bob") as bob_ws:
        await receive(ws)
        await receive(bob_ws)
        with live.client("alice") as alice, live.client("bob") as bob:
            assert call(alice, "todo", {"action": "settings"})["settings"] == {
                "notify_on_create": True,
                "max_items": 100,
                "default_priority": "normal",
            }
            created = call(alice, "todo", {"action": "create", "title": " milk "})
            item_id = created["id"]
            pushed = await receive(ws)
            assert (pushed["type"], pushed["action"]) == ("todo_update", "created")
            assert pushed["data"]["_id"] == item_id
            notification = await receive(ws)
            assert notification["type"] == "notification"
            assert notification["data"]["metadata"] == {"item_id": item_id}
            assert await nothing_more(bob_ws)

            updated = call(alice, "todo", {"action": "update", "item_id": item_id, "done": True})
            assert updated["item"]["done"] is True
            assert (await receive(ws))["action"] == "updated"
            stolen = bob.post("/api/execute/todo", json={"action": "get", "item_id": item_id})
            assert stolen.status_code == 404
            assert call(alice, "todo", {"action": "list", "done": True})["count"] == 1

            saved = call(
                alice,
                "todo",
                {"action": "save_settings", "settings": {"notify_on_create": False}},
            )
            assert saved["success"] is True
            call(alice, "todo", {"action": "create", "title": "quiet", "priority": "high"})
            assert (await receive(ws))["action"] == "created"
            assert await nothing_more(ws)
            assert alice.get("/api/notifications/count").json()["unread_count"] == 1

            bad = alice.post(
                "/api/execute/todo",
                json={"action": "save_settings", "settings": {"max_items": 0}},
            )
            assert bad.status_code == 422
            assert bad.json()["field"] == "max_items"
            # JSON Schema's "integer" admits 1.0: the list must still work with it.
            call(alice, "todo", {"action": "save_settings", "settings": {"max_items": 1.0}})
            assert call(alice, "todo", {"action": "list"})["count"] == 1

            call(alice, "todo", {"action": "delete", "item_id": item_id})
            assert (await receive(ws))["action"] == "deleted"
            deadline = time.monotonic() + 5
            expected = ["created", "updated", "created", "deleted"]
            while time.monotonic() < deadline:
                activity = call(alice, "todo", {"action": "activity"})["activity"]
                if len(activity) == len(expected):
                    break
                time.sleep(0.05)
            assert [a["action"] for a in activity] == expected
            assert call(bob, "todo", {"action": "activity"})["activity"] == []
