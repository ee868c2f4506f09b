"""Hot reload under a running server, and the admin routes that control plugins."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

VERSION = """import asyncio


async def execute(data: dict) -> dict:
    await asyncio.sleep(float(data.get("seconds", 0)))
    return {{"version": {version}}}
"""


def write_plugin(folder: Path, version: int | str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logic.py").write_text(VERSION.format(version=version))


def wait_for(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def version(client: httpx.Client, **body) -> int | None:
    response = client.post("/api/execute/live", json=body)
    return response.json().get("version") if response.status_code == 200 else None


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    write_plugin(folder / "live", 1)
    return folder


def test_an_edited_plugin_is_reloaded_with_no_failed_call(serve, plugins):
    server = serve(plugins, reload=True)
    failures: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with server.client("alice") as client:
            while not stop.is_set():
                response = client.post("/api/execute/live", json={})
                if response.status_code != 200:
                    failures.append(response.status_code)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        with server.client("alice") as client:
            assert version(client) == 1
            write_plugin(plugins / "live", 2)
            wait_for(lambda: version(client) == 2)
    finally:
        stop.set()
        thread.join()
    assert failures == []


def test_a_call_in_flight_finishes_on_the_old_code(serve, plugins):
    server = serve(plugins, reload=True)
    results: list[int | None] = []

    def slow_call() -> None:
        with server.client("alice") as client:
            results.append(version(client, seconds=1.5))

    thread = threading.Thread(target=slow_call)
    thread.start()
    time.sleep(0.3)
    write_plugin(plugins / "live", 2)
    with server.client("bob") as client:
        wait_for(lambda: version(client) == 2)
    thread.join()
    assert results == [1]


def test_a_syntax_error_keeps_the_old_version_serving_and_is_reported(serve, plugins):
    server = serve(plugins, reload=True)
    with server.client("alice") as client, server.client("root", superadmin=True) as root:
        (plugins / "live" / "logic.py").write_text("async def execute(data) -> dict\n")

        def reported() -> bool:
            listed = root.get("/api/admin/plugins").json()["plugins"]
            return "syntax error" in listed[0].get("error", "")

        wait_for(reported)
        assert version(client) == 1
        write_plugin(plugins / "live", 3)
        wait_for(lambda: version(client) == 3)
        assert "error" not in root.get("/api/admin/plugins").json()["plugins"][0]


def test_a_new_plugin_folder_is_served_and_a_removed_one_is_gone(serve, plugins):
    server = serve(plugins, reload=True)
    with server.client("alice") as client:
        write_plugin(plugins / "fresh", 7)
        wait_for(lambda: client.post("/api/execute/fresh", json={}).status_code == 200)
        (plugins / "fresh" / "logic.py").unlink()
        wait_for(lambda: client.post("/api/execute/fresh", json={}).status_code == 404)


def test_admin_routes_are_for_superadmins_only(serve, plugins):
    server = serve(plugins)
    with server.client("alice") as alice:
        for method, path in [
            ("GET", "/api/admin/plugins"),
            ("POST", "/api/admin/plugins/live/disable"),
            ("POST", "/api/admin/plugins/live/reload"),
        ]:
            assert alice.request(method, path).status_code == 403
    assert httpx.get(f"{server.url}/api/admin/plugins").status_code == 401


def test_disabling_persists_across_restarts(serve, plugins, tmp_path):
    data = tmp_path / "shared-data"
    first = serve(plugins, data=data)
    with first.client("root", superadmin=True) as root, first.client("alice") as alice:
        assert root.post("/api/admin/plugins/live/disable").json()["enabled"] is False
        assert alice.post("/api/execute/live", json={}).status_code == 404
        assert root.post("/api/admin/plugins/nope/disable").status_code == 404
    second = serve(plugins, data=data)
    with second.client("root", superadmin=True) as root, second.client("alice") as alice:
        assert alice.post("/api/execute/live", json={}).status_code == 404
        root.post("/api/admin/plugins/live/reload")
        assert alice.post("/api/execute/live", json={}).status_code == 404
        root.post("/api/admin/plugins/live/enable")
        assert version(alice) == 1


def test_admin_reload_picks_up_changes_without_the_watcher(serve, plugins):
    server = serve(plugins)
    with server.client("root", superadmin=True) as root, server.client("alice") as alice:
        write_plugin(plugins / "live", 5)
        assert version(alice) == 1
        assert root.post("/api/admin/plugins/live/reload").json()["generation"] == 1
        assert version(alice) == 5
        assert root.post("/api/admin/plugins/..%2F..%2Fetc/reload").status_code == 404


@pytest.mark.parametrize("name", ["_private", ".hidden", "%2E%2E", "x" * 300])
def test_reloading_a_name_no_plugin_can_have_answers_404(serve, plugins, name):
    server = serve(plugins)
    with server.client("root", superadmin=True) as root:
        response = root.post(f"/api/admin/plugins/{name}/reload")
    assert response.status_code == 404
    assert response.json()["error_code"] == "plugin_not_found"


def test_a_plugin_removed_and_added_again_gets_the_new_manifests_limits(serve, plugins):
    server = serve(plugins)
    with server.client("root", superadmin=True) as root, server.client("alice") as alice:
        assert version(alice) == 1
        shutil.rmtree(plugins / "live")
        root.post("/api/admin/plugins/live/reload")
        assert alice.post("/api/execute/live", json={}).status_code == 404
        write_plugin(plugins / "live", 2)
        (plugins / "live" / "manifest.json").write_text(json.dumps({"roles": ["admin"]}))
        reloaded = root.post("/api/admin/plugins/live/reload").json()
        refused = alice.post("/api/execute/live", json={})
        assert refused.status_code == 403
        assert refused.json()["error_code"] == "role_required"
        assert reloaded["generation"] == 1  # a generation of its own, not the first one's
