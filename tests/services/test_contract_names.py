"""The contract's other promised names, through a real server: ``users_collection`` reaches
only the caller's own record (no password hash, no roles, no one else's), ``in_app_channel``
delivers as notifications_manager does, and each refused name says what to use instead."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

PLUGIN = """
from bson import ObjectId

from core.config.database import settings_collection, users_collection
from core.notifications import broadcast_service, email_channel, in_app_channel


def _plain(record):
    return None if record is None else {k: str(v) for k, v in record.items()}


async def execute(data):
    user_id, action = data["user_id"], data.get("action")
    try:
        if action == "me":
            return {"me": _plain(await users_collection.find_one({"_id": ObjectId(user_id)}))}
        if action == "lookup":
            query = data.get("query") or {}
            found = await users_collection.find(query, data.get("projection")).to_list(None)
            return {
                "one": _plain(await users_collection.find_one(query)),
                "all": [_plain(r) for r in found],
                "count": await users_collection.count_documents(query),
            }
        if action == "write":
            await users_collection.update_one({"user_id": user_id}, {"$set": {"roles": ["x"]}})
        if action == "settings":
            await settings_collection.find_one({"user_id": user_id})
        if action == "notify":
            sent = await in_app_channel.send(data.get("to", user_id), "hello", "Hi", "there")
            return {"sent": sent, "config": in_app_channel.get_config()}
        if action == "email":
            await email_channel.send(user_id, "hello", "Hi", "there")
        if action == "broadcast":
            await broadcast_service.broadcast({"type": "all"})
        return {"error": "unreachable"}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
"""


@pytest.fixture
def live(serve, tmp_path: Path):
    (tmp_path / "plugins" / "names").mkdir(parents=True)
    (tmp_path / "plugins" / "names" / "logic.py").write_text(PLUGIN)
    return serve(tmp_path / "plugins")


def run(client: httpx.Client, **body):
    return client.post("/api/execute/names", json=body).json()


def signed_in(live, username: str) -> tuple[httpx.Client, str]:
    account = {"username": username, "password": "correct horse", "email": f"{username}@x.io"}
    registered = httpx.post(f"{live.url}/api/auth/register", json=account).json()
    token = httpx.post(f"{live.url}/api/auth/login", json=account).json()["access_token"]
    client = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"})
    return client, registered["user_id"]


def test_users_collection_is_the_callers_own_record_without_secrets(live):
    alice, alice_id = signed_in(live, "alice")
    signed_in(live, "bob")
    with alice:
        me = run(alice, action="me")["me"]
        assert me == {
            "_id": alice_id,
            "user_id": alice_id,
            "username": "alice",
            "email": "alice@x.io",
        }
        for query in ({}, {"username": "alice"}, {"email": {"$regex": "@x.io$"}}):
            found = run(alice, action="lookup", query=query)
            assert (found["one"], found["all"], found["count"]) == (me, [me], 1)
        for query in ({"username": "bob"}, {"username": {"$ne": "alice"}}, {"roles": "admin"}):
            assert run(alice, action="lookup", query=query) == {"one": None, "all": [], "count": 0}
        projected = run(alice, action="lookup", projection={"username": 1, "_id": 0})["all"]
        assert projected == [{"username": "alice"}]


def test_users_collection_refuses_every_write(live):
    with live.client("alice", roles=["admin"]) as alice:
        assert run(alice, action="lookup")["one"] == {
            "_id": "alice",
            "user_id": "alice",
            "username": "alice",
        }
        refused = run(alice, action="write")["error"]
    assert refused.startswith("NotProvided: users_collection.update_one")
    assert "read-only" in refused and "settings_manager" in refused


def test_in_app_channel_delivers_to_the_caller_and_refuses_other_users(live):
    with live.client("alice") as alice:
        assert run(alice, action="notify") == {
            "sent": True,
            "config": {"id": "in_app", "name": "In-App", "enabled": True},
        }
        [notification] = alice.get("/api/notifications").json()["notifications"]
        assert (notification["type"], notification["channels"]) == ("hello", ["in_app"])
        assert run(alice, action="notify", to="bob")["error"].startswith("IsolationError")
    with live.client("bob") as bob:
        assert bob.get("/api/notifications").json()["count"] == 0


@pytest.mark.parametrize(
    ("action", "name", "instead"),
    [
        ("settings", "settings_collection", "settings_manager.get_plugin_settings"),
        ("email", "email_channel", "notifications_manager.create_notification"),
        ("broadcast", "broadcast_service", "websocket_manager.broadcast"),
    ],
)
def test_refused_names_say_what_to_use_instead(live, action, name, instead):
    with live.client("alice") as alice:
        error = run(alice, action=action)["error"]
    assert error.startswith(f"NotProvided: {name} is not provided by Tessera")
    assert instead in error


def test_the_services_refuse_with_no_call_context():
    import asyncio

    from core.config.database import users_collection
    from tessera.services.database import NotBound

    with pytest.raises(NotBound):
        asyncio.run(users_collection.find_one({}))
