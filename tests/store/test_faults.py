"""A disk that fills up, turns read-only, or a file another process locks: MongoDB's
errors, nothing half-written, a sound file afterwards, and writes again once it passes.

Real faults, as root: a 4 MB tmpfs filled with a file, the immutable flag (``chattr +i``,
which stops root too) on the store's files, a lock held by another process.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.errors import OperationFailure, WriteError

from tessera.store import open_client
from tessera.store.engine.faults import DISK_FULL, READ_ONLY


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "4m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` for the duration."""
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Write a file until the file system holding ``folder`` has no room left."""
    filler = folder / "filler"
    out = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 512):  # then what a whole chunk could not fill
            with contextlib.suppress(OSError):
                while True:
                    os.write(out, b"\0" * size)
    finally:
        os.close(out)
    assert os.statvfs(folder).f_bavail == 0
    return filler


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def assert_out_of_space(error: pytest.ExceptionInfo[WriteError]) -> None:
    assert error.value.code == 14031
    assert error.value.details is not None
    assert error.value.details["codeName"] == "OutOfDiskSpace"


async def test_a_full_disk_fails_writes_with_mongodbs_error_and_writes_resume_when_freed(
    tmp_path: Path,
):
    with small_disk(tmp_path / "disk") as disk:
        path = disk / "s.db"
        client = open_client(str(path))
        notes = client["app"]["notes"]
        await notes.insert_many([{"_id": n, "text": "kept"} for n in range(20)])
        filler = fill(disk)

        with pytest.raises(WriteError) as one:
            await notes.insert_one({"_id": "big", "text": "x" * 200_000})
        assert_out_of_space(one)
        with pytest.raises(WriteError) as many:
            await notes.insert_many([{"_id": f"m{n}", "text": "y" * 20_000} for n in range(20)])
        assert_out_of_space(many)
        # Nothing of the failed writes is there; reads go on.
        assert await notes.count_documents({}) == 20
        assert await notes.find_one({"_id": 3}) == {"_id": 3, "text": "kept"}
        assert await client.engine.probe() == DISK_FULL

        filler.unlink()
        assert await client.engine.probe() is None
        await notes.insert_one({"_id": "big", "text": "x" * 200_000})
        assert await notes.count_documents({}) == 21
        await client.close()
        assert integrity(path) == "ok"


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """The files may not be written, even by root, until the flag is taken off."""
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


async def test_a_store_file_made_read_only_fails_writes_the_same_way(tmp_path: Path):
    path = tmp_path / "s.db"
    client = open_client(str(path))
    notes = client["app"]["notes"]
    await notes.insert_one({"_id": 1, "text": "kept"})
    # Not the -shm file: SQLite maps it into memory, and a write there would be a SIGBUS.
    with immutable(path, Path(f"{path}-wal")):
        with pytest.raises(WriteError) as refused:
            await notes.insert_one({"_id": 2, "text": "x" * 10_000})
        assert_out_of_space(refused)
        assert "read-only" in str(refused.value)
        assert await notes.find_one({"_id": 1}) == {"_id": 1, "text": "kept"}
        assert await client.engine.probe() == READ_ONLY
    assert await client.engine.probe() is None
    await notes.insert_one({"_id": 2, "text": "x" * 10_000})
    assert await notes.count_documents({}) == 2
    await client.close()
    assert integrity(path) == "ok"


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    """
)


async def test_a_file_locked_by_another_process_answers_a_clear_error_after_waiting(
    tmp_path: Path,
):
    path = tmp_path / "s.db"
    client = open_client(str(path))
    notes = client["app"]["notes"]
    await notes.insert_one({"_id": 1})
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        with pytest.raises(OperationFailure) as locked:
            await notes.insert_one({"_id": 2})
        assert locked.value.code == 24
        assert locked.value.details is not None
        assert locked.value.details["codeName"] == "LockTimeout"
        assert "locked by another process" in str(locked.value)
    finally:
        assert locker.stdin is not None
        locker.communicate("\n", timeout=10)
    await notes.insert_one({"_id": 2})
    assert await notes.count_documents({}) == 2
    await client.close()
