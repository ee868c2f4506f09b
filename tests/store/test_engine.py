"""The engine: one durable SQLite file, reopened instantly, concurrent reads and writes."""

import asyncio
import sqlite3

import pytest
from pymongo.errors import DuplicateKeyError

from tessera.store import Client, open_client


async def test_data_and_indexes_survive_reopen(tmp_path):
    path = str(tmp_path / "s.db")
    client = open_client(path)
    await client["app"]["items"].create_index("k", unique=True)
    await client["app"]["items"].insert_one({"_id": 1, "k": "a"})
    await client.close()
    again = open_client(f"sqlite://{path}")
    assert await again["app"]["items"].find_one({"k": "a"}) == {"_id": 1, "k": "a"}
    with pytest.raises(DuplicateKeyError):
        await again["app"]["items"].insert_one({"k": "a"})
    await again.close()


async def test_file_is_wal_with_full_sync(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    await client["a"]["b"].insert_one({})
    conn = sqlite3.connect(str(tmp_path / "s.db"))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert client.engine._writer_conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    await client.close()


async def test_databases_are_namespaces_in_one_file(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    await client["one"]["c"].insert_one({"_id": 1})
    await client["two"]["c"].insert_one({"_id": 1})
    assert await client.list_database_names() == ["one", "two"]
    await client.drop_database("one")
    assert await client.list_database_names() == ["two"]
    assert await client["two"]["c"].count_documents({}) == 1
    await client.close()


async def test_memory_uri_and_bad_uris(tmp_path):
    client = open_client("sqlite://:memory:")
    assert isinstance(client, Client)
    await client["a"]["b"].insert_one({"x": 1})
    assert await client["a"]["b"].count_documents({}) == 1
    await client.close()
    for bad in ["", "sqlite://relative.db", "redis://x", "http://x"]:
        with pytest.raises(ValueError, match="abs/path"):
            open_client(bad)


async def test_concurrent_writers_each_get_their_own_outcome(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    coll = client["a"]["b"]
    await coll.create_index("k", unique=True)

    async def insert(i: int) -> bool:
        try:
            await coll.insert_one({"k": i % 50})
        except DuplicateKeyError:
            return False
        return True

    outcomes = await asyncio.gather(*(insert(i) for i in range(200)))
    assert sum(outcomes) == 50
    assert await coll.count_documents({}) == 50
    await client.close()


async def test_concurrent_updates_lose_nothing(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    coll = client["a"]["b"]
    await coll.insert_one({"_id": 1, "n": 0})
    await asyncio.gather(*(coll.update_one({"_id": 1}, {"$inc": {"n": 1}}) for _ in range(100)))
    assert (await coll.find_one({"_id": 1}))["n"] == 100
    await client.close()


async def test_reads_run_while_writes_commit(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    coll = client["a"]["b"]
    await coll.insert_many([{"i": i} for i in range(100)])
    writes = [coll.insert_one({"i": 100 + i}) for i in range(50)]
    reads = [coll.count_documents({}) for _ in range(20)]
    results = await asyncio.gather(*writes, *reads)
    counts = results[50:]
    assert all(100 <= c <= 150 for c in counts)
    assert await coll.count_documents({}) == 150
    await client.close()


async def test_closed_client_refuses_work(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    await client.close()
    await client.close()
    with pytest.raises(RuntimeError, match="closed"):
        await client["a"]["b"].insert_one({})


async def test_client_is_an_async_context_manager(tmp_path):
    async with open_client(str(tmp_path / "s.db")) as client:
        await client["a"]["b"].insert_one({"_id": 1})
    with pytest.raises(RuntimeError, match="closed"):
        await client["a"]["b"].find_one({"_id": 1})


MAKER = """
import asyncio, sys
from tessera.store import open_client

async def main():
    client = open_client(sys.argv[1])
    for n in range(int(sys.argv[2])):
        await client["db"][f"c{n}"].create_index("x")  # a collection, then its index
    await client.close()

asyncio.run(main())
"""


def test_opening_a_store_while_another_process_makes_collections(tmp_path) -> None:
    """The catalog is read in one snapshot: read table by table, an index another process
    made between the two reads named a collection not read (KeyError: two `--workers`
    opening a new store at once)."""
    import subprocess
    import sys

    from tessera.store.engine.engine import Engine

    path = str(tmp_path / "store.db")
    Engine(path).close()
    maker = subprocess.Popen([sys.executable, "-c", MAKER, path, "400"])
    try:
        opened = 0
        while maker.poll() is None:
            Engine(path).close()
            opened += 1
    finally:
        maker.wait(60)
    assert maker.returncode == 0 and opened > 0
