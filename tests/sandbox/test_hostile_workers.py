"""Hostile plugin code through a real server in sandbox mode: every attempt to step out of
its confined worker is refused or contained, other users keep being served, nothing
changes in the data folder or in other plugins' folders."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent / "plugins"
REFUSED = "PermissionError: [Errno 1] Operation not permitted"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


def snapshot(*paths: Path) -> dict[str, str]:
    """Every file at or under ``paths`` (bytecode aside) and its digest."""
    files = [p for path in paths for p in [path, *path.rglob("*")] if p.is_file()]
    return {
        str(f): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in files
        if "__pycache__" not in f.parts
    }


@pytest.fixture
def server(serve, tmp_path: Path):
    live = serve(PLUGINS, isolation="sandbox", plugin_timeout=3)
    with live.client("bob") as bob, live.client("alice") as alice:
        for user, text in ((bob, "bob-secret"), (alice, "alice-note")):
            assert user.post("/api/execute/notes", json={"action": "add", "text": text}).is_success
    return live


def attempt(client, action: str, **body) -> str:
    response = client.post("/api/execute/intruder", json={"action": action, **body})
    assert response.status_code == 200, response.text
    return str(response.json()["outcome"])


def test_every_escape_is_refused_and_nothing_changes(server, tmp_path: Path, listener) -> None:
    data = tmp_path / "data"
    secret_files = [p for p in data.iterdir() if p.is_file()]
    assert {p.name for p in secret_files} >= {"token_secret"}
    before = snapshot(data / "token_secret", PLUGINS)
    with server.client("alice") as alice, server.client("bob") as bob:
        notes_before = [u.post("/api/execute/notes", json={}).json() for u in (alice, bob)]
        for path in secret_files:
            assert attempt(alice, "read", path=str(path)).startswith("FileNotFoundError")
        assert attempt(alice, "read", path=str(PLUGINS / "notes" / "logic.py")).startswith(
            "FileNotFoundError"
        )
        written = attempt(alice, "write", path=str(PLUGINS / "notes" / "pwned.py"))
        assert written.startswith("FileNotFoundError")
        for action in ("fork", "subprocess", "exec"):
            assert attempt(alice, action).startswith(REFUSED)
        assert attempt(alice, "ctypes_fork") == "done: (-1, 1)"
        port = listener.getsockname()[1]
        assert attempt(alice, "connect", port=port).startswith(REFUSED)
        environ = attempt(alice, "environ")
        assert "TESSERA" not in environ and "SECRET" not in environ
        assert attempt(alice, "allocate") == "MemoryError: "
        assert [u.post("/api/execute/notes", json={}).json() for u in (alice, bob)] == (
            notes_before
        )
    assert snapshot(data / "token_secret", PLUGINS) == before


def test_a_busy_loop_answers_504_while_another_user_is_served(server) -> None:
    with server.client("alice") as alice, server.client("bob") as bob:
        spinning: list[int] = []
        spin = threading.Thread(
            target=lambda: spinning.append(
                alice.post("/api/execute/intruder", json={"action": "spin"}).status_code
            )
        )
        spin.start()
        served_meanwhile = []
        while spin.is_alive() and len(served_meanwhile) < 5:
            served_meanwhile.append(bob.post("/api/execute/notes", json={}).status_code)
        spin.join()
        assert served_meanwhile == [200] * 5  # all answered before the spinning call ended
        assert spinning == [504]
        # The worker was replaced: the plugin answers again.
        assert attempt(alice, "fork").startswith(REFUSED)
