"""One user's hanging sync calls leave threads for everyone else, through a real server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tessera.governance.shares import default_shares

# Blocks until the file named by "gate" exists, after noting that it started.
HANG = """
import time
from pathlib import Path


def execute(data: dict) -> dict:
    if data.get("gate"):
        Path(data["started"], str(data["n"])).touch()
        while not Path(data["gate"]).exists():
            time.sleep(0.01)
    return {"ok": True}
"""
OTHER = """
def execute(data: dict) -> dict:
    return {"ok": True}
"""


@pytest.fixture
def plugins(tmp_path: Path) -> Path:
    root = tmp_path / "plugins"
    for name, source in (("hang", HANG), ("other", OTHER)):
        (root / name).mkdir(parents=True)
        (root / name / "logic.py").write_text(source)
    return root


@pytest.fixture
def gate(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "started").mkdir()
    return {"gate": str(tmp_path / "gate"), "started": str(tmp_path / "started")}


def call(client: httpx.Client, plugin: str, body: dict | None = None) -> httpx.Response:
    return client.post(f"/api/execute/{plugin}", json=body or {})


def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("condition never held")


def started(gate: dict[str, str]) -> int:
    return len(list(Path(gate["started"]).iterdir()))


def test_32_hanging_sync_calls_of_one_user_leave_threads_for_another_user(serve, plugins, gate):
    live = serve(plugins)  # the default 32 threads
    per_user, _ = default_shares(32)

    def alice_calls(n: int) -> int:
        with live.client("alice") as alice:
            return call(alice, "hang", {**gate, "n": n}).status_code

    with ThreadPoolExecutor(32) as pool:
        alice = [pool.submit(alice_calls, n) for n in range(32)]
        wait_until(lambda: started(gate) == per_user)
        with live.client("bob") as bob:
            assert call(bob, "hang").status_code == 200  # the same plugin
            assert call(bob, "other").status_code == 200  # another plugin
        assert started(gate) == per_user  # alice's other calls wait for her own threads
        Path(gate["gate"]).touch()
        statuses = [future.result() for future in alice]
    assert statuses == [200] * 32


def test_calls_that_timed_out_keep_their_users_share_until_they_return(serve, plugins, gate):
    live = serve(plugins, plugin_threads=4, plugin_timeout=1.5)  # one thread per user
    with live.client("alice") as alice, live.client("bob") as bob:
        assert call(alice, "hang", {**gate, "n": 0}).status_code == 504
        # The plugin's code still runs, so alice's one thread is still taken...
        assert call(alice, "other").status_code == 504
        # ...and no one else's is.
        assert call(bob, "other").status_code == 200
        Path(gate["gate"]).touch()
        assert call(alice, "other").status_code == 200
