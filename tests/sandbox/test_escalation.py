"""A sandboxed plugin's manifest is its author's: its ``escalation_roles`` reach every
user's data only when the operator lists the plugin in ``--sandbox-escalation``. Through a
real server, with the same plugin trusted in-process beside it."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path

import pytest

OVERSEER = """
from core.config.database import db
from core.notifications_manager import notifications_manager
from core.websocket_manager import websocket_manager


async def execute(data: dict) -> dict:
    if data["action"] == "add":
        await db["notes"].insert_one({"text": data["text"]})
    elif data["action"] == "list":
        admin = db.as_admin(reason="overseeing")
        notes = await admin["notes"].find({}, {"_id": 0, "user_id": 1}).to_list(None)
        return {"owners": sorted(n["user_id"] for n in notes)}
    elif data["action"] == "wipe":
        await db.as_admin(reason="overseeing")["notes"].delete_many({})
    elif data["action"] == "notify":
        await notifications_manager.create_notification(
            user_id=data["to"], notification_type="hi", title="t", message="m"
        )
    elif data["action"] == "push":
        await websocket_manager.send_to_user(data["to"], {"type": "hello"})
    return {"done": True}
"""
ESCALATIONS = ["list", "wipe", "notify", "push"]


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    """``overseer`` sandboxed by its manifest, ``trusted`` the same code in-process; both
    manifests grant escalation to the ``member`` role an identity provider gives everyone."""
    root = tmp_path / "plugins"
    for name, manifest in [
        ("overseer", {"sandbox": True, "escalation_roles": ["member"]}),
        ("trusted", {"escalation_roles": ["member"]}),
    ]:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "logic.py").write_text(OVERSEER)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return root


def run(client, plugin: str, action: str, **body):
    return client.post(f"/api/execute/{plugin}", json={"action": action, **body})


def seed(live) -> None:
    with live.client("bob") as bob:
        assert run(bob, "trusted", "add", text="bob-secret").status_code == 200


def notifications_of(live, user: str) -> list:
    with live.client(user) as client:
        return client.get("/api/notifications").json()["notifications"]


@pytest.mark.parametrize("claims", [{"roles": ["member"]}, {"superadmin": True}])
def test_an_unlisted_sandboxed_plugin_escalates_for_no_caller(serve, plugins, caplog, claims):
    with caplog.at_level(logging.WARNING, "tessera.sandbox"):
        live = serve(plugins)
    assert any(
        "'overseer' runs in the sandbox" in r.getMessage()
        and "--sandbox-escalation" in r.getMessage()
        for r in caplog.records
    )
    seed(live)
    with live.client("mallory", **claims) as mallory:
        for action in ESCALATIONS:
            response = run(mallory, "overseer", action, to="bob")
            assert response.status_code == 403, (action, response.text)
            assert "--sandbox-escalation" in response.json()["error"]
            assert "bob-secret" not in response.text
        # the operator's in-process plugin, with the same manifest, may
        assert run(mallory, "trusted", "list").json() == {"owners": ["bob"]}
    assert notifications_of(live, "bob") == []


def test_a_listed_sandboxed_plugin_escalates_as_its_manifest_says(serve, plugins):
    live = serve(plugins, sandbox_escalation=("overseer",))
    seed(live)
    with live.client("dana") as dana:  # no role: refused, naming the roles
        refused = run(dana, "overseer", "list")
    assert refused.status_code == 403
    assert "escalation_roles (member)" in refused.json()["error"]
    with live.client("mallory", roles=["member"]) as mallory:
        assert run(mallory, "overseer", "list").json() == {"owners": ["bob"]}
        assert run(mallory, "overseer", "notify", to="bob").status_code == 200
    assert len(notifications_of(live, "bob")) == 1


COLLECTOR = """
tokens = []


async def execute(data: dict) -> dict:
    if data.get("action") == "collect":  # what earlier callers' calls left in this worker
        return {"tokens": list(tokens)}
    tokens.append(data["user_jwt"])
    return {"kept": True}
"""


def collector(tmp_path: Path) -> Path:
    """``collector``: sandboxed, asks for its callers' tokens and hands them to the next."""
    folder = tmp_path / "plugins" / "collector"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(COLLECTOR)
    (folder / "manifest.json").write_text(json.dumps({"sandbox": True, "needs_user_jwt": True}))
    return folder.parent


def test_an_unlisted_sandboxed_plugin_gets_no_callers_token(serve, tmp_path):
    """A token is its caller's whole authority: a superadmin's, kept in a worker and handed
    to the next caller, opened the admin routes to anyone (and every user's data through
    any plugin that escalates). Unlisted, the plugin fails to load, naming the setting."""
    live = serve(collector(tmp_path))
    with live.client("root", superadmin=True) as root:
        refused = root.post("/api/execute/collector", json={})
    assert refused.status_code == 503
    assert "--sandbox-escalation" in refused.json()["load_error"]
    with live.client("mallory") as mallory:
        answer = mallory.post("/api/execute/collector", json={"action": "collect"})
    assert answer.status_code == 503
    assert "tokens" not in answer.json()


def test_a_listed_sandboxed_plugin_gets_its_callers_token(serve, tmp_path):
    live = serve(collector(tmp_path), sandbox_escalation=("collector",))
    with live.client("dana") as dana:
        assert dana.post("/api/execute/collector", json={}).json() == {"kept": True}
        tokens = dana.post("/api/execute/collector", json={"action": "collect"}).json()
    assert tokens == {"tokens": [dana.headers["Authorization"].removeprefix("Bearer ")]}


DESK = """
from core.config.database import db


async def execute(data: dict) -> dict:
    admin = db.as_admin(reason="support: open a ticket for a user")
    await admin["tickets"].insert_one({"user_id": data["for"], "text": data["text"]})
    if data.get("archive"):
        await admin["tickets"].rename(data["archive"])
    return {"opened": True}
"""
SNOOP = """
from core.config.database import db


async def execute(data: dict) -> dict:
    found = await db[data["collection"]].find({}, {"_id": 0}).to_list(None)
    return {"documents": found}
"""


@pytest.mark.parametrize("archive", [None, "archive"])
def test_a_collection_used_only_under_escalation_cannot_be_declared_shared(
    serve, tmp_path, archive
):
    """The first use of a collection decides whether it is per-user or shared; a first use
    under escalation (a write, or a rename's new name) decided nothing, so a sandboxed
    plugin's manifest declaring it shared was its first use and read every user's
    documents, without escalating."""
    root = tmp_path / "plugins"
    for name, code, manifest in [
        ("desk", DESK, {"escalation_roles": ["support"]}),
        ("snoop", SNOOP, {"sandbox": True, "shared_collections": ["tickets", "archive"]}),
    ]:
        (root / name).mkdir(parents=True)
        (root / name / "logic.py").write_text(code)
        (root / name / "manifest.json").write_text(json.dumps(manifest))
    live = serve(root)
    with live.client("sam", roles=["support"]) as sam:
        body = {"for": "bob", "text": "bob-secret", "archive": archive}
        assert sam.post("/api/execute/desk", json=body).status_code == 200
    with live.client("mallory") as mallory:
        answer = mallory.post("/api/execute/snoop", json={"collection": archive or "tickets"})
    assert answer.status_code == 403, answer.text
    assert "holds per-user documents (first used per user by plugin 'desk')" in answer.text
    assert "bob-secret" not in answer.text


MARKET = """
from core.config.database import db


async def execute(data: dict) -> dict:
    messages = db["market_messages"]  # shared: each message is between two users
    if data["action"] == "send":
        await messages.insert_one({"from": data["user_id"], "to": data["to"], "text": data["text"]})
        return {"sent": True}
    mine = await messages.find({"to": data["user_id"]}, {"_id": 0}).to_list(None)
    return {"messages": mine}
"""


def market(tmp_path: Path) -> Path:
    """``market`` (in-process) keeps messages between users in a shared collection and
    shows each user theirs; ``snoop``, sandboxed, declares the same collection shared."""
    root = tmp_path / "plugins"
    shared = {"shared_collections": ["market_messages"]}
    for name, code, manifest in [
        ("market", MARKET, shared),
        ("snoop", SNOOP, {"sandbox": True, **shared}),
    ]:
        (root / name).mkdir(parents=True)
        (root / name / "logic.py").write_text(code)
        (root / name / "manifest.json").write_text(json.dumps(manifest))
    return root


def send_to_bob(live):
    with live.client("alice") as alice:
        body = {"action": "send", "to": "bob", "text": "bob-secret"}
        return alice.post("/api/execute/market", json=body)


def snoop_on_market(live):
    assert send_to_bob(live).status_code == 200
    with live.client("mallory") as mallory:
        return mallory.post("/api/execute/snoop", json={"collection": "market_messages"})


def test_an_unlisted_sandboxed_plugin_shares_only_its_own_collections(serve, tmp_path):
    """Another plugin's shared collection holds what that plugin keeps app-wide, every
    user's documents included: a sandboxed manifest naming it read them all."""
    answer = snoop_on_market(serve(market(tmp_path)))
    assert answer.status_code == 403, answer.text
    assert "plugin 'market'" in answer.text and "--sandbox-escalation" in answer.text
    assert "bob-secret" not in answer.text


def test_a_listed_sandboxed_plugin_shares_another_plugins_collection(serve, tmp_path):
    answer = snoop_on_market(serve(market(tmp_path), sandbox_escalation=("snoop",)))
    assert answer.json() == {"documents": [{"from": "alice", "to": "bob", "text": "bob-secret"}]}


def test_a_shared_collection_an_unlisted_sandboxed_plugin_used_first_is_its_own(serve, tmp_path):
    """Used first by the sandboxed plugin, the collection would have been its to read
    whatever other plugins put there later: they may not share it."""
    live = serve(market(tmp_path))
    with live.client("mallory") as mallory:
        first = mallory.post("/api/execute/snoop", json={"collection": "market_messages"})
        assert first.json() == {"documents": []}
    answer = send_to_bob(live)
    assert answer.status_code == 403, answer.text
    assert "plugin 'snoop'" in answer.text and "--sandbox-escalation" in answer.text
    with live.client("mallory") as mallory:
        after = mallory.post("/api/execute/snoop", json={"collection": "market_messages"})
    assert after.json() == {"documents": []}


PEEK = """
from core.settings_manager import settings_manager


async def execute(data: dict) -> dict:
    if data.get("values"):
        return await settings_manager.save_plugin_settings(
            data["user_id"], data["plugin"], data["values"]
        )
    return await settings_manager.get_plugin_settings(data["user_id"], data["plugin"])
"""


@pytest.mark.parametrize("mode", ["enforce", "audit", "off"])
@pytest.mark.parametrize("values", [None, {"forward_to": "mallory@example.com"}])
def test_an_unlisted_sandboxed_plugin_keeps_to_its_own_settings(serve, tmp_path, values, mode):
    """A caller's settings of another plugin may hold their key to another service (or
    where that plugin sends their data): a sandboxed plugin reading or changing them
    reaches beyond what it was given. The caller's own settings are no per-user check
    that audit or off mode relax: they let it through (logged, or unchecked)."""
    root = tmp_path / "plugins"
    for name, manifest in [("mailer", {}), ("peek", {"sandbox": True})]:
        (root / name).mkdir(parents=True)
        (root / name / "logic.py").write_text(PEEK)
        (root / name / "manifest.json").write_text(json.dumps(manifest))
    live = serve(root, isolation=mode)
    with live.client("alice") as alice:
        saved = {"api_key": "alice-key"}
        assert alice.post("/api/plugin-settings/mailer", json=saved).status_code == 200
        body = {"plugin": "mailer", "values": values}
        answer = alice.post("/api/execute/peek", json=body)
        assert answer.status_code == 403, answer.text
        assert "--sandbox-escalation" in answer.json()["error"]
        assert alice.get("/api/plugin-settings/mailer").json() == saved
        own = {"plugin": "peek", "values": values}
        assert alice.post("/api/execute/peek", json=own).status_code == 200


EAVESDROPPER = """
from core.event_bus import event_bus, on_event

SEEN = []


@on_event("*")
async def note(payload):
    SEEN.append(payload.get("event") or payload.get("plugin") or "?")


async def execute(data):
    if data.get("publish"):
        event_bus.publish("chat", {"event": "chat"})
    return {"seen": SEEN}
"""


def eavesdropper(tmp_path: Path) -> Path:
    """``ears``: sandboxed, hears every event and tells any caller what it heard."""
    folder = tmp_path / "plugins" / "ears"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(EAVESDROPPER)
    (folder / "manifest.json").write_text(json.dumps({"sandbox": True}))
    return folder.parent


def heard(live, until: str) -> list[str]:
    with live.client("mallory") as mallory:
        for _ in range(200):
            seen = mallory.post("/api/execute/ears", json={}).json()["seen"]
            if until in seen:
                return seen
            time.sleep(0.02)
    raise AssertionError(f"the plugin's handler never heard {until!r}")


def test_the_runtimes_events_reach_only_a_listed_sandboxed_plugin(serve, tmp_path, caplog):
    """``plugin_executed``, ``settings_updated``... name users of every app: an unlisted
    plugin kept them and told any caller (bob's calls of another app, heard by mallory).
    Events plugins publish still reach it."""
    with caplog.at_level(logging.WARNING, "tessera.sandbox"):
        live = serve(eavesdropper(tmp_path), sandbox_workers=1)  # one worker hears all
    assert any("the runtime's own events" in r.getMessage() for r in caplog.records)
    with live.client("bob", app_id="bank") as bob:
        assert bob.post("/api/plugin-settings/ears", json={"x": 1}).status_code == 200
        assert bob.post("/api/execute/ears", json={}).status_code == 200
        assert bob.post("/api/execute/ears", json={"publish": True}).status_code == 200
    heard(live, until="chat")
    time.sleep(0.5)  # what was published before "chat" has had its turn
    assert heard(live, until="chat") == ["chat"]  # not plugin_executed nor settings_updated
    again = tmp_path / "again"
    listed = serve(
        eavesdropper(again), sandbox_escalation=("ears",), data=again / "data", sandbox_workers=1
    )
    with listed.client("bob", app_id="bank") as bob:
        assert bob.post("/api/execute/ears", json={"publish": True}).status_code == 200
    assert "ears" in heard(listed, until="ears")


CALLER_OUT = """
import socket


async def execute(data):
    try:
        socket.create_connection(("127.0.0.1", data["port"]), 2).close()
    except OSError as exc:
        return {"outcome": type(exc).__name__}
    return {"outcome": "connected"}
"""


@pytest.mark.parametrize("listed", [False, True])
def test_a_sandboxed_plugin_gets_the_network_its_manifest_asks_for_once_listed(
    serve, tmp_path, caplog, listed
):
    """``"network": true`` is the host's network, Redis on localhost included, where a
    plugin could forge what the processes tell each other: the manifest asks, the operator
    grants."""
    folder = tmp_path / "plugins" / "caller_out"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(CALLER_OUT)
    (folder / "manifest.json").write_text(json.dumps({"sandbox": True, "network": True}))
    server = socket.create_server(("127.0.0.1", 0))
    try:
        with caplog.at_level(logging.WARNING, "tessera.sandbox"):
            live = serve(folder.parent, sandbox_network=("caller_out",) if listed else ())
        port = server.getsockname()[1]
        with live.client("mallory") as mallory:
            outcome = mallory.post("/api/execute/caller_out", json={"port": port}).json()
    finally:
        server.close()
    warned = any("--sandbox-network" in r.getMessage() for r in caplog.records)
    assert (outcome, warned) == (
        ({"outcome": "connected"}, False) if listed else ({"outcome": "PermissionError"}, True)
    )
