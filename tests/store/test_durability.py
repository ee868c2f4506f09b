"""Crash test: every write acknowledged before a SIGKILL is in the file afterwards."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from tessera.store import open_client

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from tessera.store import open_client
    async def main(path):
        client = open_client(path)
        coll = client["app"]["log"]
        await coll.create_index("n", unique=True)
        n = 0

        async def one(i):
            await coll.insert_one({"_id": i, "n": i, "pad": "x" * 200})
            await coll.update_one({"_id": i}, {"$set": {"done": True}})
            print(i, flush=True)

        while True:
            await asyncio.gather(*(one(n + k) for k in range(8)))
            n += 8

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_acknowledged_writes_survive_sigkill(tmp_path):
    path = str(tmp_path / "crash.db")
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, path],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acknowledged: list[int] = []
    assert child.stdout is not None
    deadline = time.monotonic() + 20
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acknowledged.append(int(line))
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    acknowledged += [int(line) for line in child.stdout.read().split()]
    assert len(acknowledged) >= 300, "the writer died before writing enough"

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    client = open_client(path)
    coll = client["app"]["log"]
    found = {d["_id"] for d in await coll.find({"done": True}, {"_id": 1}).to_list(None)}
    assert set(acknowledged) <= found
    assert await coll.count_documents({"n": acknowledged[-1]}) == 1
    await client.close()
