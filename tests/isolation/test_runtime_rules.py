"""Isolation as the runtime applies it to plugin calls, through the harness."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tessera.services.database import SYSTEM_DATABASE
from tessera.testing import Harness

CARELESS = """
from core.config.database import db


async def execute(data: dict) -> dict:
    return {"items": await db["notes"].find({}).to_list(10)}
"""

MESSENGER = """
from core.notifications_manager import notifications_manager
from core.websocket_manager import websocket_manager


async def execute(data: dict) -> dict:
    if data["action"] == "push":
        await websocket_manager.send_to_user(data["to"], {"type": "hello"})
    else:
        await notifications_manager.create_notification(
            user_id=data["to"], notification_type="hi", title="t", message="m"
        )
    return {"sent": True}
"""

LISTENER = """
from core.config.database import db
from core.event_bus import on_event


@on_event("plugin_settings_updated")
async def remember(payload):
    await db["seen"].insert_one({"user_id": "someone", "payload": payload})
"""


@pytest.fixture
def harness(plugin_mode: str):
    """``harness(plugins, **settings)``: a Harness running them in-process or sandboxed."""

    def _harness(plugins: Path, **settings) -> Harness:
        # The operator's choice: messenger escalates, listener hears the runtime's events.
        settings.setdefault("sandbox_escalation", ("messenger", "listener"))
        made = Harness(plugins, **settings)
        made.runtime.sandbox.everything = plugin_mode == "sandbox"
        return made

    return _harness


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    for name, code, manifest in [
        ("careless", CARELESS, {}),
        ("messenger", MESSENGER, {"escalation_roles": ["support"]}),
        ("listener", LISTENER + "\n\nasync def execute(data):\n    return {}\n", {}),
    ]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "logic.py").write_text(code)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


async def test_an_uncaught_refusal_is_a_403_that_explains_itself(harness, plugins: Path) -> None:
    async with harness(plugins) as harness:
        result = await harness.execute("careless", {}, user="alice")
    assert result.status == 403
    assert "db['notes'].find()" in result["error"]
    assert "user_id" in result["error"]


@pytest.mark.parametrize("action", ["push", "notify"])
async def test_messages_to_another_user_need_escalation(
    harness, plugins: Path, action: str
) -> None:
    async with harness(plugins) as harness:
        to_self = await harness.execute(
            "messenger", {"action": action, "to": "alice"}, user="alice"
        )
        to_bob = await harness.execute("messenger", {"action": action, "to": "bob"}, user="alice")
        support = await harness.execute(
            "messenger", {"action": action, "to": "bob"}, user="carol", roles=["support"]
        )
        admin = await harness.execute(
            "messenger", {"action": action, "to": "bob"}, user="root", superadmin=True
        )
        received = await harness.messages("bob")
    assert to_self.status == 200
    assert to_bob.status == 403
    assert (support.status, admin.status) == (200, 200)
    assert len(received) == 2


async def test_audit_mode_lets_it_through_and_logs_it(harness, plugins: Path, caplog) -> None:
    async with harness(plugins, isolation="audit") as harness:
        with caplog.at_level(logging.WARNING):
            result = await harness.execute("messenger", {"action": "push", "to": "bob"}, user="a")
        assert result.status == 200
    assert any("send_to_user(user_id='bob')" in r.getMessage() for r in caplog.records)


async def test_a_handler_of_an_event_published_outside_a_call_gets_no_database(
    harness, plugins: Path, caplog
) -> None:
    async with harness(plugins) as harness:
        with caplog.at_level(logging.ERROR):
            harness.runtime.services.bus.publish("plugin_settings_updated", {"user_id": "alice"})
            await harness.settle()
        seen = await harness.runtime.store["default"]["seen"].count_documents({})
        system = await harness.runtime.store[SYSTEM_DATABASE].list_collection_names()
    assert seen == 0
    assert "seen" not in system
    assert any("used the database with no caller" in (r.exc_text or "") for r in caplog.records)


@pytest.mark.parametrize("kind", ["notification", "connected", "resync", "ping", "pong"])
async def test_a_plugins_message_cannot_pass_for_the_runtimes(
    harness, tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "plugins" / "faker"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(
        "from core.websocket_manager import websocket_manager\n\n\n"
        "async def execute(data):\n"
        "    try:\n"
        "        await websocket_manager.send_to_user(data['user_id'], {'type': data['kind']})\n"
        "    except ValueError as exc:\n"
        "        return {'error': str(exc)}\n"
        "    return {}\n"
    )
    async with harness(tmp_path / "plugins") as harness:
        result = await harness.execute("faker", {"kind": kind}, user="alice")
        assert await harness.messages("alice") == []
    assert "come from the runtime" in result["error"]
