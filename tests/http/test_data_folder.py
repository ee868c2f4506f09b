"""The data folder is private to the server's user, through a real server."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tessera.auth.secret import SECRET_FILENAME
from tessera.settings import Settings
from tests.conftest import start_server, stop_server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    return {path.name: mode(path) for path in folder.iterdir()}


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common 022, under which SQLite on its own creates files 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_data_folder_and_every_file_in_it_are_private(serve, tmp_path, usual_umask):
    data = tmp_path / "data"
    live = serve(data=data)
    registered = httpx.post(
        f"{live.url}/api/auth/register", json={"username": "alice", "password": "correct horse"}
    )
    assert registered.status_code == 201  # a write: the store's WAL files exist
    assert mode(data) == 0o700
    files = modes(data)
    assert {"store.db", "store.db-wal", "store.db-shm", SECRET_FILENAME} <= set(files)
    assert set(files.values()) == {0o600}, files


def test_a_loose_data_folder_is_tightened_at_start_with_one_log_line(serve, tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    sqlite3.connect(data / "store.db").close()
    (data / SECRET_FILENAME).write_text("s" * 64)
    (data / "notes.txt").write_text("an operator's file")
    for name in ("store.db", SECRET_FILENAME, "notes.txt"):
        (data / name).chmod(0o644)
    with caplog.at_level(logging.WARNING):
        serve(data=data)
    assert mode(data) == 0o700
    assert set(modes(data).values()) == {0o600}
    tightened = [r.getMessage() for r in caplog.records if r.name == "tessera.data"]
    assert len(tightened) == 1
    assert all(name in tightened[0] for name in ("store.db", SECRET_FILENAME, "notes.txt"))
    assert "chmod 600" not in caplog.text  # the secret was private before it was read


def test_a_restart_finds_nothing_to_tighten(tmp_path, caplog, usual_umask):
    settings = Settings.load({"plugins": tmp_path, "data": tmp_path / "data"}, environ={})
    stop_server(start_server(settings)[1])
    with caplog.at_level(logging.WARNING):
        stop_server(start_server(settings)[1])
    assert not [r for r in caplog.records if r.name == "tessera.data"]
