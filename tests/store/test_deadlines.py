"""Time limits: a store job stops at its operation's maxTimeMS or its caller's deadline
(`engine.deadline`), whichever comes first, with MongoDB's ExecutionTimeout (code 50)."""

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from bson.regex import Regex
from pymongo.errors import ExecutionTimeout, OperationFailure

from tessera.store import open_client
from tessera.store.bounds import deadlines
from tessera.store.engine import documents, writes
from tessera.store.engine.engine import deadline
from tessera.store.query import patterns as patterns_module

# About 4 µs an element here and 100 ns on MongoDB: 0.2 s and 5 ms a document.
SLOW = {
    "$reduce": {
        "input": {"$range": [0, 50_000]},
        "initialValue": 0,
        "in": {"$add": ["$$value", "$$this"]},
    }
}
# Matches nothing, after SLOW's work on each document: a query goes through all of
# them (seconds on either backend), and a time limit cuts it short.
NEVER = {"$expr": {"$lt": [SLOW, 0]}}
FOREVER = {"$reduce": {**SLOW["$reduce"], "input": {"$range": [0, 5_000_000]}}}
# One SQLite statement that runs for minutes.
COUNT_FAR = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1e9) "
    "SELECT count(*) FROM n"
)


@pytest.fixture
def within() -> Callable[[float], None]:
    """Sets the caller's deadline `seconds` from now, as the runtime does for a plugin
    call; each test runs in a task of its own, whose context goes with it."""

    def set_deadline(seconds: float) -> None:
        deadline.set(time.monotonic() + seconds)

    return set_deadline


async def fill(coll: Any, n: int) -> None:
    await coll.insert_many([{"_id": i, "user_id": "u", "v": 0} for i in range(n)])


def assert_timeout(error: pytest.ExceptionInfo[Any], limit: str) -> None:
    assert error.value.code == 50
    assert "exceeded time limit" in str(error.value)
    assert limit in str(error.value)


async def test_an_expired_deadline_stops_a_long_aggregation(embedded_db: Any, within: Any) -> None:
    await fill(embedded_db.c, 2_000)
    within(0.2)
    started = time.monotonic()
    with pytest.raises(ExecutionTimeout) as error:
        await embedded_db.c.aggregate([{"$project": {"v": SLOW}}]).to_list(None)
    assert time.monotonic() - started < 5  # the whole run takes over a minute
    assert_timeout(error, "the caller's deadline")


async def test_an_expired_deadline_stops_a_long_write_and_rolls_it_back(
    embedded_db: Any, within: Any
) -> None:
    await fill(embedded_db.c, 20)
    within(0.2)
    with pytest.raises(ExecutionTimeout) as error:
        await embedded_db.c.update_many({}, [{"$set": {"v": FOREVER}}])
    assert_timeout(error, "the caller's deadline")
    deadline.set(None)
    assert await embedded_db.c.count_documents({"v": 0}) == 20


async def test_an_expired_deadline_stops_a_single_document_write(
    embedded_db: Any, within: Any
) -> None:
    await fill(embedded_db.c, 1)
    within(0.2)
    with pytest.raises(ExecutionTimeout):
        await embedded_db.c.update_one({"_id": 0}, [{"$set": {"v": FOREVER, "w": 1}}])
    deadline.set(None)
    assert await embedded_db.c.find_one({"_id": 0}) == {"_id": 0, "user_id": "u", "v": 0}


async def test_work_already_past_its_deadline_is_not_started(embedded_db: Any, within: Any) -> None:
    ran: list[str] = []
    engine = embedded_db.client.engine
    within(-1)
    with pytest.raises(ExecutionTimeout):
        await engine.read(lambda conn, catalog: ran.append("read"))
    with pytest.raises(ExecutionTimeout):
        await engine.write(lambda conn, catalog: ran.append("write"))
    with pytest.raises(ExecutionTimeout):
        await embedded_db.c.find_one({"_id": 1})  # an inline read
    assert ran == []


async def test_a_queued_read_whose_deadline_passes_while_it_waits_never_runs(
    embedded_db: Any, within: Any
) -> None:
    engine = embedded_db.client.engine
    release = threading.Event()
    ran: list[str] = []
    # Both readers busy until released; the read queued behind them has 0.1 s.
    blockers = [
        asyncio.ensure_future(engine.read(lambda conn, catalog: release.wait(10))) for _ in range(2)
    ]
    await asyncio.sleep(0.05)
    within(0.1)
    late = asyncio.ensure_future(engine.read(lambda conn, catalog: ran.append("late")))
    await asyncio.sleep(0.3)
    release.set()
    await asyncio.gather(*blockers)
    with pytest.raises(ExecutionTimeout):
        await late
    assert ran == []


async def test_a_timed_out_job_does_not_undo_the_others_of_its_group(
    embedded_db: Any, within: Any
) -> None:
    engine = embedded_db.client.engine
    coll = embedded_db.c
    await fill(coll, 1)
    release = threading.Event()

    def slow_job(conn: sqlite3.Connection, catalog: Any) -> None:
        info = catalog.get(embedded_db.name, "c")
        writes.insert(conn, info, catalog, documents.prepare_insert({"_id": "slow"}))
        with deadlines.interruptible(conn):  # a long read statement, stopped by SQLite
            conn.execute(COUNT_FAR).fetchone()

    groups: list[int] = []
    commit_group = engine._commit_group
    engine._commit_group = lambda batch: (groups.append(len(batch)), commit_group(batch))
    blocker = asyncio.ensure_future(engine.write(lambda conn, catalog: release.wait(10)))
    await asyncio.sleep(0.05)
    # Queued behind the blocker, so that the writer takes them in one transaction.
    within(0.3)
    slow = [
        asyncio.ensure_future(engine.write(slow_job)),
        asyncio.ensure_future(coll.update_one({"_id": 0}, [{"$set": {"v": FOREVER}}])),
    ]
    deadline.set(None)
    other = asyncio.ensure_future(coll.insert_one({"_id": "other"}))
    await asyncio.sleep(0.05)
    release.set()
    await blocker
    for job in slow:
        with pytest.raises(ExecutionTimeout):
            await job
    await other
    assert groups[-1] == 3  # the two that timed out and the insert, in one transaction
    assert await coll.find_one({"_id": "other"}) == {"_id": "other"}
    assert await coll.find_one({"_id": "slow"}) is None
    assert await coll.find_one({"_id": 0}) == {"_id": 0, "user_id": "u", "v": 0}


async def test_the_sooner_limit_is_the_one_named(embedded_db: Any, within: Any) -> None:
    await fill(embedded_db.c, 2_000)
    within(60)
    with pytest.raises(ExecutionTimeout) as error:
        await embedded_db.c.find(NEVER).max_time_ms(100).to_list(None)
    assert_timeout(error, "maxTimeMS of 100 ms")
    within(0.1)
    with pytest.raises(ExecutionTimeout) as error:
        await embedded_db.c.find(NEVER).max_time_ms(60_000).to_list(None)
    assert_timeout(error, "the caller's deadline")


async def test_a_long_sqlite_statement_is_interrupted(embedded_db: Any, within: Any) -> None:
    def job(conn: sqlite3.Connection, catalog: Any) -> Any:
        with deadlines.interruptible(conn):
            return conn.execute(COUNT_FAR).fetchone()

    within(0.1)
    started = time.monotonic()
    with pytest.raises(ExecutionTimeout):
        await embedded_db.client.engine.read(job)
    assert time.monotonic() - started < 5  # the statement alone runs for minutes
    deadline.set(None)
    assert await embedded_db.c.count_documents({}) == 0  # the reader is fine afterwards


# maxTimeMS as MongoDB and PyMongo take it: these run on MongoDB too when configured.


async def test_max_time_ms_stops_a_find(db: Any) -> None:
    await fill(db.c, 2_000)
    with pytest.raises(ExecutionTimeout) as error:
        await db.c.find(NEVER).max_time_ms(50).to_list(None)
    assert error.value.code == 50
    with pytest.raises(ExecutionTimeout):
        await db.c.find(NEVER, max_time_ms=50).to_list(None)
    with pytest.raises(ExecutionTimeout):
        await db.c.find_one(NEVER, max_time_ms=50)


async def test_max_time_ms_stops_an_aggregate_a_count_and_a_distinct(db: Any) -> None:
    await fill(db.c, 2_000)
    with pytest.raises(ExecutionTimeout) as error:
        await (await db.c.aggregate([{"$project": {"v": SLOW}}], maxTimeMS=50)).to_list(None)
    assert error.value.code == 50
    with pytest.raises(ExecutionTimeout):
        await db.c.count_documents(NEVER, maxTimeMS=50)
    with pytest.raises(ExecutionTimeout):
        await db.c.distinct("v", NEVER, maxTimeMS=50)


async def test_max_time_ms_stops_a_find_one_and_update(db: Any) -> None:
    await fill(db.c, 2_000)
    with pytest.raises(ExecutionTimeout) as error:
        await db.c.find_one_and_update(NEVER, {"$set": {"v": 1}}, maxTimeMS=50)
    assert error.value.code == 50
    assert await db.c.count_documents({"v": 1}) == 0


async def test_work_within_max_time_ms_is_untouched(db: Any) -> None:
    await fill(db.c, 10)
    assert len(await db.c.find({}).max_time_ms(60_000).to_list(None)) == 10
    assert len(await db.c.find({}).max_time_ms(0).to_list(None)) == 10  # 0: no limit
    assert await db.c.count_documents({}, maxTimeMS=60_000) == 10
    assert await db.c.estimated_document_count(maxTimeMS=60_000) == 10
    found = await db.c.find_one_and_update({"_id": 1}, {"$set": {"v": 1}}, maxTimeMS=60_000)
    assert found == {"_id": 1, "user_id": "u", "v": 0}


async def test_a_bad_max_time_ms_is_refused(db: Any) -> None:
    with pytest.raises(TypeError):
        db.c.find({}).max_time_ms("100")
    with pytest.raises(OperationFailure):
        await db.c.count_documents({}, maxTimeMS=-1)


def test_a_time_limit_stops_the_loops_it_runs() -> None:
    def spin() -> None:
        for _ in deadlines.checked(iter(int, 1)):  # endless
            pass

    limit = deadlines.after(20)
    assert limit is not None
    with pytest.raises(ExecutionTimeout):
        deadlines.run(limit, spin)
    deadlines.check()  # no limit runs outside `run`


def test_a_cursor_clone_keeps_its_time_limit(tmp_path: Any) -> None:
    client = open_client(str(tmp_path / "s.db"))
    cursor = client["d"]["c"].find({}).max_time_ms(5)
    assert cursor.clone()._max_time_ms == 5
    asyncio.run(client.close())


async def test_an_index_build_past_the_deadline_leaves_no_index(
    embedded_db: Any, within: Any
) -> None:
    coll = embedded_db.c
    await coll.insert_many([{"k": i, "pad": "x" * 100} for i in range(50_000)])
    within(0.02)
    with pytest.raises(ExecutionTimeout):
        await coll.create_index("k", unique=True)
    deadline.set(None)
    assert [index["name"] for index in await coll.list_indexes().to_list(None)] == ["_id_"]
    assert await coll.count_documents({"k": 7}) == 1
    assert await coll.create_index("k", unique=True) == "k_1"  # and it can be built later


async def test_a_deadline_stops_compiling_a_filters_regular_expressions(
    embedded_db: Any, within: Any
) -> None:
    """Compiling a pattern of MongoDB's greatest length takes about 0.1 s, and a filter
    may hold hundreds (a sandboxed worker's operation, 16,384 values): a reader thread
    compiled them all long after the caller's 504, holding the interpreter lock, and
    callers sending a few such filters took every reader thread from everyone else."""
    await fill(embedded_db.c, 10)
    patterns = [Regex(f"{i:04}" + "a" * 32_000) for i in range(300)]
    misses = patterns_module._compile.cache_info().misses
    within(0.05)
    with pytest.raises(ExecutionTimeout) as error:
        await embedded_db.c.find_one({"user_id": "u", "v": {"$in": patterns}})
    assert_timeout(error, "the caller's deadline")
    assert patterns_module._compile.cache_info().misses - misses < len(patterns) // 2


def shared(levels: int) -> dict[str, Any]:
    """A document of 2**levels leaves, each level's two fields sharing one part: made in
    microseconds, its key (built whole) takes 0.1 to 1.5 s a MB of its size."""
    tree = {"b": "$$value", "c": "$$value"}
    return {"$reduce": {"input": {"$range": [0, levels]}, "initialValue": {}, "in": tree}}


async def test_a_deadline_stops_building_a_huge_key(embedded_db: Any, within: Any) -> None:
    """A key past 64 KB is built part by part, the time checked between: the key of a
    24 MB value took 18 to 34 s in a reader thread long after its caller's 504."""
    await fill(embedded_db.c, 1)
    within(0.2)
    started = time.monotonic()
    with pytest.raises(ExecutionTimeout) as error:
        await embedded_db.c.aggregate([{"$group": {"_id": shared(20)}}]).to_list(None)
    assert time.monotonic() - started < 5
    assert_timeout(error, "the caller's deadline")


async def test_a_deadline_stops_building_many_keys(embedded_db: Any, within: Any) -> None:
    """Keys under 64 KB are counted, the time checked every 64 KB of them: a sort of
    1,000 documents by a value of 47 KB built keys for 22 s past the deadline."""
    await fill(embedded_db.c, 1_000)
    within(0.2)
    started = time.monotonic()
    with pytest.raises(ExecutionTimeout) as error:
        await embedded_db.c.aggregate([{"$set": {"v": shared(11)}}, {"$sort": {"v": 1}}]).to_list(
            None
        )
    assert time.monotonic() - started < 5
    assert_timeout(error, "the caller's deadline")
