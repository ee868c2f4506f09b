"""TTL indexes: expired documents go, every other document stays, whoever runs the pass."""

import asyncio
import datetime
import subprocess
import sys
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from tessera.store import open_client
from tessera.store.engine.ttl import TTLMonitor

HOUR = datetime.timedelta(hours=1)


def utcnow() -> datetime.datetime:
    """Now, as the store reads dates back (naive UTC): taken when a test runs."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)


async def seed(coll: Any) -> None:
    now = utcnow()
    await coll.create_index("at", expireAfterSeconds=3600)
    await coll.insert_many(
        [
            {"_id": "old", "at": now - 2 * HOUR},
            {"_id": "fresh", "at": now - HOUR / 2},
            {"_id": "old in array", "at": [now + HOUR, now - 3 * HOUR]},
            {"_id": "fresh array", "at": [now, now - HOUR / 2]},
            {"_id": "a string", "at": str(now - 2 * HOUR)},
            {"_id": "a number", "at": 0},
            {"_id": "null", "at": None},
            {"_id": "missing"},
            {"_id": "aware", "at": (now - 2 * HOUR).replace(tzinfo=datetime.UTC)},
        ]
    )


KEPT = ["a number", "a string", "fresh", "fresh array", "missing", "null"]


async def remaining(coll: Any) -> list[str]:
    return sorted(doc["_id"] for doc in await coll.find({}).to_list(None))


async def test_a_pass_removes_expired_dates_and_leaves_everything_else(tmp_path: Any) -> None:
    client = open_client(str(tmp_path / "s.db"))
    coll = client.app.sessions
    await seed(coll)
    await client.app.other.insert_one({"_id": 1, "at": utcnow() - 2 * HOUR})  # no TTL index
    assert await TTLMonitor(client).run_once() == 3
    assert await remaining(coll) == KEPT
    assert await client.app.other.count_documents({}) == 1
    info = await coll.index_information()
    assert info["at_1"]["expireAfterSeconds"] == 3600
    await client.close()


async def test_the_monitor_runs_in_the_background_until_stopped(tmp_path: Any) -> None:
    client = open_client(str(tmp_path / "s.db"))
    coll = client.app.sessions
    monitor = TTLMonitor(client, interval=0.05)
    monitor.start()
    await seed(coll)
    for _ in range(200):  # the passes come every 0.05 s: wait for one after the seeding
        if await remaining(coll) == KEPT:
            break
        await asyncio.sleep(0.05)
    assert await remaining(coll) == KEPT
    await monitor.stop()
    await coll.insert_one({"_id": "late", "at": utcnow() - 2 * HOUR})
    await asyncio.sleep(0.2)
    assert "late" in await remaining(coll)  # stopped: nothing removes it now
    await client.close()


PASS = """
import asyncio, sys
from tessera.store import open_client
from tessera.store.engine.ttl import TTLMonitor

async def main():
    client = open_client(sys.argv[1])
    print(await TTLMonitor(client).run_once())
    await client.close()

asyncio.run(main())
"""


async def test_processes_sharing_the_file_each_remove_a_document_once(tmp_path: Any) -> None:
    path = str(tmp_path / "s.db")
    client = open_client(path)
    coll = client.app.sessions
    await coll.create_index("at", expireAfterSeconds=60)
    now = utcnow()
    await coll.insert_many([{"_id": i, "at": now - 2 * HOUR} for i in range(2000)])
    await coll.insert_one({"_id": "fresh", "at": now})
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", PASS, path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    here = await TTLMonitor(client).run_once()
    outputs = [await proc.communicate() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert here + sum(int(out) for out, _ in outputs) == 2000
    assert await remaining(coll) == ["fresh"]
    await client.close()


@pytest.mark.parametrize(
    ("keys", "seconds"),
    [
        ([("a", 1), ("b", 1)], 60),  # compound
        ("_id", 60),
        ("a", -1),
        ("a", "60"),
        ("a", 2**31),
    ],
)
async def test_ttl_options_mongodb_refuses_are_refused(db: Any, keys: Any, seconds: Any) -> None:
    with pytest.raises(OperationFailure) as info:
        await db.c.create_index(keys, expireAfterSeconds=seconds)
    assert info.value.code == 67


async def test_a_mongodb_client_gets_no_monitor(caplog: pytest.LogCaptureFixture) -> None:
    """The server runs its own TTL monitor; a PyMongo client answers any attribute, so the
    monitor tells the embedded client by its type, and makes no failing passes."""
    client = open_client("mongodb://127.0.0.1:9")  # never connected: nothing is sent
    monitor = TTLMonitor(client, interval=0.01)
    monitor.start()
    await asyncio.sleep(0.1)
    await monitor.stop()
    await client.close()
    assert not [r for r in caplog.records if r.name == "tessera.store"]
