"""The event bus: publish either way, handler isolation, patterns, ownership (issue 4)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from tessera.auth.identity import Identity
from tessera.context import CallContext, callerless_plugin, current_call
from tessera.plugins.registry import PluginRegistry
from tessera.services.event_bus import MATCHING_MEMO_SIZE, EventBus, on_event
from tests.http.test_websocket import call


@pytest.fixture
async def bus():
    bus = EventBus()
    bus.start(handler_timeout=0.5)
    yield bus
    await bus.stop()


async def settle(seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)


async def test_publish_works_called_plainly_or_awaited_and_handlers_run_afterwards(bus):
    seen = []
    bus.subscribe("todo:created", seen.append)
    published = bus.publish("todo:created", {"n": 1})
    assert seen == []  # not inline: the publisher goes on first
    assert await bus.publish("todo:created", {"n": 2}) == 1
    assert published.handlers == 1
    await settle()
    assert sorted(p["n"] for p in seen) == [1, 2]


async def test_sync_and_async_handlers_and_patterns(bus):
    seen: list[tuple[str, int]] = []

    async def async_handler(payload):
        seen.append(("async", payload["n"]))

    def sync_handler(payload):
        seen.append(("sync", payload["n"]))

    bus.subscribe("todo:created", async_handler)
    bus.subscribe("todo:*", sync_handler)
    bus.subscribe("*", lambda payload: seen.append(("all", payload["n"])))
    bus.publish("todo:created", {"n": 1})
    bus.publish("todo:deleted", {"n": 2})
    bus.publish("other", {"n": 3})
    await settle()
    assert sorted(seen) == [
        ("all", 1),
        ("all", 2),
        ("all", 3),
        ("async", 1),
        ("sync", 1),
        ("sync", 2),
    ]


async def test_a_raising_or_hanging_handler_is_logged_and_affects_no_one(bus, caplog):
    seen = []

    async def hangs(payload):
        await asyncio.sleep(60)

    def raises(payload):
        raise RuntimeError("boom")

    bus.subscribe("job", hangs)
    bus.subscribe("job", raises)
    bus.subscribe("job", seen.append)
    with caplog.at_level(logging.ERROR, logger="tessera.events"):
        started = time.perf_counter()
        bus.publish("job", {"ok": True})
        assert time.perf_counter() - started < 0.1
        await settle(0.8)
    assert seen == [{"ok": True}]
    messages = [r.getMessage() for r in caplog.records]
    assert any("raises" in m and "'job'" in m and "raised" in m for m in messages)
    assert any("hangs" in m and "'job'" in m and "did not finish" in m for m in messages)


async def test_handlers_keep_the_publishers_identity(bus):
    seen = []
    bus.subscribe("who", lambda payload: seen.append(current_call.get()))
    identity = Identity("alice", "alice", "shop")
    token = current_call.set(CallContext(identity, "publisher", "req-1"))
    try:
        bus.publish("who")
    finally:
        current_call.reset(token)
    await settle()
    assert seen[0].identity == identity
    assert seen[0].request_id == "req-1"


async def test_the_payload_is_copied_at_publish(bus):
    seen = []
    bus.subscribe("e", seen.append)
    payload = {"items": [1]}
    bus.publish("e", payload)
    payload["items"].append(2)
    await settle()
    assert seen == [{"items": [1]}]


async def test_publish_from_a_thread_without_a_loop_reaches_the_handlers(bus):
    seen = []
    bus.subscribe("threaded", seen.append)
    thread = threading.Thread(target=bus.publish, args=("threaded", {"n": 1}))
    thread.start()
    thread.join()
    await settle()
    assert seen == [{"n": 1}]


async def test_unsubscribe_and_duplicate_subscribe(bus):
    seen = []
    bus.subscribe("e", seen.append)
    bus.subscribe("e", seen.append)
    await bus.publish("e", 1)
    await settle()
    assert seen == [1]
    bus.unsubscribe("e", seen.append)
    bus.publish("e", 2)
    await settle()
    assert seen == [1]


async def test_a_subscription_made_after_publishing_gets_the_next_event(bus):
    seen = []
    assert await bus.publish("late", 1) == 0  # nobody listened: remembered as such
    bus.subscribe("late", seen.append)
    assert await bus.publish("late", 2) == 1
    for n in range(MATCHING_MEMO_SIZE + 1):  # names made up per call do not pile up
        bus.publish(f"made-up-{n}", n)
    assert await bus.publish("late", 3) == 1
    await settle()
    assert seen == [2, 3]


async def test_subscriptions_belong_to_the_plugin_that_made_them(bus):
    seen = []
    token = callerless_plugin.set("todo")
    try:
        bus.subscribe("e", lambda p: seen.append("todo"))
    finally:
        callerless_plugin.reset(token)
    bus.subscribe("e", lambda p: seen.append("runtime"))
    assert bus.forget("todo") == 1
    bus.publish("e")
    await settle()
    assert seen == ["runtime"]


@pytest.mark.parametrize("name", ["", "a*b", None])
def test_bad_event_names_are_refused(name):
    with pytest.raises((ValueError, TypeError)):
        EventBus().subscribe(name, print)


def test_publish_without_a_running_bus_is_dropped_not_raised(caplog):
    with caplog.at_level(logging.WARNING, logger="tessera.events"):
        assert EventBus().publish("nobody", {}).handlers == 0
    assert "not running" in caplog.text


def test_on_event_subscribes_to_the_running_runtimes_bus(services):
    @on_event("test:decorated")
    def handler(payload):
        return None

    try:
        assert any(s.handler is handler for s in services.bus.subscriptions("test:decorated"))
    finally:
        services.bus.unsubscribe("test:decorated", handler)


def wait_for_seen(client, expected, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = call(client, "svc_listener", {})["seen"]
        if seen == expected:
            return seen
        time.sleep(0.05)
    return seen


def test_a_plugin_handler_sees_another_plugins_publish_and_reload_does_not_double_it(serve, corpus):
    live = serve(corpus)
    with live.client("alice") as alice:
        call(alice, "svc_sender", {"action": "publish", "event": "svc:one", "n": 1})
        call(alice, "svc_sender", {"action": "publish_awaited", "event": "svc:two", "n": 2})
        call(alice, "svc_sender", {"action": "publish", "event": "unrelated", "n": 99})
        assert wait_for_seen(alice, [1, 2]) == [1, 2]
        live.runtime.plugins.load("svc_listener")
        live.runtime.plugins.load("svc_listener")
        call(alice, "svc_sender", {"action": "publish", "event": "svc:three", "n": 3})
        assert wait_for_seen(alice, [1, 2, 3]) == [1, 2, 3]
        time.sleep(0.2)
        assert call(alice, "svc_listener", {})["seen"] == [1, 2, 3]
        # A synchronous plugin publishes from its worker thread.
        call(alice, "svc_sync", {"n": 4})
        assert wait_for_seen(alice, [1, 2, 3, 4]) == [1, 2, 3, 4]


def test_the_runtime_publishes_plugin_executed(serve, corpus):
    live = serve(corpus)
    bus = live.runtime.services.bus
    seen = []
    bus.subscribe("plugin_execut*", seen.append)
    try:
        with live.client("alice") as alice:
            call(alice, "echo", {"action": "hello"})
            alice.post("/api/execute/crash", json={})
        deadline = time.monotonic() + 5
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        bus.unsubscribe("plugin_execut*", seen.append)
    executed = [p for p in seen if p["plugin"] == "echo"]
    assert executed[0]["action"] == "hello"
    assert executed[0]["user_id"] == "alice"
    assert executed[0]["app_id"] == "default"
    assert executed[0]["status"] == "ok"
    assert [p["status"] for p in seen if p["plugin"] == "crash"] == ["crash", "crash"]
    # The reference's keys too: {app_id, plugin, user, execution_time (seconds)}.
    assert executed[0]["user"] == "alice"
    assert 0 <= executed[0]["execution_time"] < 5
    assert executed[0]["execution_time"] == executed[0]["duration"]
    crashed = [p for p in seen if p["plugin"] == "crash"]
    assert [p["user"] for p in crashed] == ["alice", "alice"]
    errors = sorted(p.get("error", "") for p in crashed)  # handlers run in worker threads
    assert errors == ["", "plugin 'crash' raised an exception"]


def test_saving_settings_over_http_publishes_settings_updated(serve, corpus):
    live = serve(corpus)
    bus = live.runtime.services.bus
    seen = []
    bus.subscribe("settings_updated", seen.append)
    try:
        with live.client("alice") as alice:
            saved = alice.post("/api/plugin-settings/echo", json={"tone": "warm"})
            assert saved.status_code == 200
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        bus.unsubscribe("settings_updated", seen.append)
    assert seen == [{"app_id": "default", "user_id": "alice", "plugin": "echo"}]


async def test_a_plugin_imported_again_without_unload_keeps_one_handler(tmp_path, services):
    folder = tmp_path / "plugins" / "counter"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(
        "from core.event_bus import event_bus\n\n\n"
        "def record(payload):\n"
        "    with open(payload['path'], 'a') as f:\n"
        "        f.write('x')\n\n\n"
        "event_bus.subscribe('count', record)\n\n\n"
        "async def execute(data):\n"
        "    return {}\n"
    )
    target = tmp_path / "calls.txt"
    target.write_text("")
    registry = PluginRegistry(tmp_path / "plugins")  # no runtime: nobody calls forget()
    for _ in range(3):
        registry.load("counter")
    assert len([s for s in services.bus.subscriptions("count") if s.owner == "counter"]) == 1
    services.bus.start()
    try:
        services.bus.publish("count", {"path": str(target)})
        await settle(0.1)
    finally:
        registry.unload("counter")
        await services.bus.stop()
    assert target.read_text() == "x"
    assert [s for s in services.bus.subscriptions("count") if s.owner == "counter"] == []


async def test_a_handler_dropped_from_a_plugins_new_version_stops_running(tmp_path, services):
    folder = tmp_path / "plugins" / "listener"
    folder.mkdir(parents=True)
    subscribing = (
        "from core.event_bus import event_bus\n\n\n"
        "def record(payload):\n"
        "    with open(payload['path'], 'a') as f:\n"
        "        f.write('x')\n\n\n"
        "event_bus.subscribe('ping', record)\n\n\n"
        "async def execute(data):\n"
        "    return {}\n"
    )
    (folder / "logic.py").write_text(subscribing)
    target = tmp_path / "calls.txt"
    target.write_text("")
    registry = PluginRegistry(tmp_path / "plugins")  # no runtime: nobody calls forget()
    registry.load("listener")
    services.bus.start()
    try:
        services.bus.publish("ping", {"path": str(target)})  # its subscriptions now remembered
        await settle(0.1)
        (folder / "logic.py").write_text("async def execute(data):\n    return {'v': 2}\n")
        registry.load("listener")
        services.bus.publish("ping", {"path": str(target)})
        await settle(0.1)
    finally:
        registry.unload("listener")
        await services.bus.stop()
    assert target.read_text() == "x"


def test_a_plugin_unsubscribes_only_its_own_handlers(services):
    from core.event_bus import event_bus

    def handler(payload):
        return None

    for plugin in ("owner", "intruder"):
        token = callerless_plugin.set(plugin)
        try:
            if plugin == "owner":
                event_bus.subscribe("test:owned", handler)
            else:
                event_bus.unsubscribe("test:owned", handler)
        finally:
            callerless_plugin.reset(token)
    try:
        owners = [s.owner for s in services.bus.subscriptions("test:owned")]
        assert owners == ["owner"]
    finally:
        services.bus.forget("owner")


@pytest.mark.parametrize(
    "name",
    [
        "plugin_executed",
        "plugin_execution_error",
        "plugin_settings_updated",
        "settings_updated",
        "notification_created",
        "profile_updated",
    ],
)
def test_plugins_cannot_forge_the_runtimes_events(name):
    from core.event_bus import event_bus

    with pytest.raises(ValueError, match="published by the runtime"):
        event_bus.publish(name, {"user_id": "bob"})


HANGER = """
import os
import time

from core.event_bus import on_event


@on_event("hang")
def hang(payload):
    while not os.path.exists(payload["release"]):
        time.sleep(0.01)


async def execute(data):
    from core.event_bus import event_bus

    for _ in range(data["times"]):
        event_bus.publish("hang", {"release": data["release"]})
    return {}
"""
PINGED = """
from core.event_bus import on_event

seen = []


@on_event("ping")
def record(payload):
    seen.append(payload["n"])


async def execute(data):
    from core.event_bus import event_bus

    if data.get("action") == "ping":
        event_bus.publish("ping", {"n": data["n"]})
    return {"seen": seen}
"""


async def test_one_plugins_hanging_sync_handlers_leave_threads_for_the_others(tmp_path):
    from tessera.testing import Harness

    for name, code in (("hanger", HANGER), ("pinged", PINGED)):
        (tmp_path / "plugins" / name).mkdir(parents=True)
        (tmp_path / "plugins" / name / "logic.py").write_text(code)
    release = tmp_path / "release"
    async with Harness(tmp_path / "plugins", handler_timeout=30) as harness:
        try:
            body = {"times": 40, "release": str(release)}
            assert (await harness.execute("hanger", body, user="mallory")).status == 200
            await asyncio.sleep(0.2)  # every hanging handler has taken what it can
            await harness.execute("pinged", {"action": "ping", "n": 1}, user="alice")
            for _ in range(100):
                if (await harness.execute("pinged", {}, user="alice"))["seen"] == [1]:
                    break
                await asyncio.sleep(0.05)
            assert (await harness.execute("pinged", {}, user="alice"))["seen"] == [1]
        finally:
            release.touch()


FORGER = """
from core.event_bus import event_bus


async def execute(data):
    try:
        await event_bus.publish(data["event"], {"user_id": "alice", "limit": "exports"})
    except ValueError as exc:
        return {"refused": str(exc)}
    return {"refused": None}
"""


@pytest.mark.parametrize("event", ["entitlement.limit_reached.", "entitlement.x", "entitlement.*"])
def test_plugins_cannot_publish_in_the_runtimes_entitlement_namespace(serve, tmp_path, event):
    """A handler gets the payload, not the event's name: one subscribed to
    ``entitlement.*`` took a plugin's ``entitlement.x`` for the runtime's report of alice's
    limit (a sandboxed plugin's, too)."""
    folder = tmp_path / "plugins" / "forger"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(FORGER)
    live = serve(folder.parent)
    with live.client("mallory") as mallory:
        answer = call(mallory, "forger", {"event": event})
    assert "is published by the runtime" in (answer["refused"] or "")
