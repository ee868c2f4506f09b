"""Fair reads: queued reads are served in turns across callers (`engine.caller`)."""

import asyncio
import contextlib
import threading
import time
from typing import Any

from pymongo.errors import ExecutionTimeout

from tessera.store import open_client
from tessera.store.engine.engine import caller
from tessera.store.engine.fair_queue import FairQueue


def take(fair: FairQueue[Any]) -> Any:
    """The next item, finished at once (as a consumer that is quick)."""
    taken = fair.get()
    assert taken is not None
    key, item = taken
    fair.done(key)
    return item


def test_keys_take_turns_and_each_keeps_its_order() -> None:
    fair: FairQueue[str] = FairQueue()
    for i in range(4):
        fair.put("hog", f"hog{i}")
    fair.put("a", "a0")
    fair.put("b", "b0")
    fair.put("a", "a1")
    taken = [take(fair) for _ in range(7)]
    assert taken == ["hog0", "a0", "b0", "hog1", "a1", "hog2", "hog3"]


def test_none_is_a_key_like_any_other() -> None:
    fair: FairQueue[int] = FairQueue()
    fair.put(None, 1)
    fair.put(None, 2)
    fair.put("x", 3)
    assert [take(fair) for _ in range(3)] == [1, 3, 2]


def test_stop_ends_consumers_after_the_queued_items() -> None:
    fair: FairQueue[int] = FairQueue()
    taken: list[int] = []

    def consume() -> None:
        while (got := fair.get()) is not None:
            taken.append(got[1])
            fair.done(got[0])

    for i in range(100):
        fair.put(i % 3, i)
    fair.stop(2)
    consumers = [threading.Thread(target=consume) for _ in range(2)]
    for thread in consumers:
        thread.start()
    for thread in consumers:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in consumers)
    assert sorted(taken) == list(range(100))


async def read_as(engine: Any, who: str, seconds: float, finished: list[str]) -> None:
    token = caller.set(who)
    try:
        await engine.read(lambda conn, catalog: time.sleep(seconds))
        finished.append(who)
    finally:
        caller.reset(token)


async def test_a_callers_read_waits_behind_at_most_one_of_each_other_callers(
    tmp_path: Any,
) -> None:
    client = open_client(str(tmp_path / "s.db"))
    finished: list[str] = []
    hog = [asyncio.ensure_future(read_as(client.engine, "hog", 0.01, finished)) for _ in range(20)]
    await asyncio.sleep(0)  # all twenty are queued, two of them running
    other = asyncio.ensure_future(read_as(client.engine, "other", 0, finished))
    await asyncio.gather(*hog, other)
    await client.close()
    # FIFO would serve it last; in turns it goes after the two running and one more.
    assert finished.index("other") < len(hog) // 2
    assert finished.count("hog") == 20


def test_a_key_holds_at_most_its_share_while_another_waits() -> None:
    fair: FairQueue[str] = FairQueue(share=1)
    for i in range(3):
        fair.put("hog", f"hog{i}")
    assert fair.get() == ("hog", "hog0")  # one running, the rest waiting
    fair.put("other", "other0")
    assert fair.get() == ("other", "other0")  # hog is at its share: the other first
    assert fair.get() == ("hog", "hog1")  # no one else waits: hog may have them all


def test_a_key_alone_may_take_every_consumer() -> None:
    fair: FairQueue[str] = FairQueue(share=1)
    for i in range(3):
        fair.put("hog", f"hog{i}")
    assert [fair.get() for _ in range(3)] == [("hog", f"hog{i}") for i in range(3)]


def test_a_key_over_its_share_keeps_its_turn() -> None:
    fair: FairQueue[str] = FairQueue(share=1)
    fair.put("hog", "hog0")
    assert fair.get() == ("hog", "hog0")
    fair.put("hog", "hog1")
    fair.put("a", "a0")
    fair.put("b", "b0")
    assert fair.get() == ("a", "a0")  # hog skipped, not sent to the back
    fair.done("hog")
    assert fair.get() == ("hog", "hog1")
    assert fair.get() == ("b", "b0")


async def test_another_callers_read_overtakes_the_third_of_a_callers_long_reads(
    tmp_path: Any,
) -> None:
    client = open_client(str(tmp_path / "s.db"))
    engine = client.engine
    release = {name: threading.Event() for name in ("hog1", "hog2", "hog3")}
    started: list[str] = []
    finished: list[str] = []

    async def read(who: str, name: str) -> None:
        caller.set(who)  # this task's context only

        def job(conn: Any, catalog: Any) -> None:
            started.append(name)
            if name in release:
                release[name].wait(10)

        await engine.read(job)
        finished.append(name)

    async def until(condition: Any) -> None:
        for _ in range(500):
            if condition():
                return
            await asyncio.sleep(0.01)

    tasks = [asyncio.ensure_future(read("hog", name)) for name in ("hog1", "hog2")]
    await until(lambda: len(started) == 2)  # both reader threads run the hog's reads
    tasks.append(asyncio.ensure_future(read("hog", "hog3")))
    await asyncio.sleep(0.01)
    tasks.append(asyncio.ensure_future(read("other", "other")))
    await asyncio.sleep(0.01)
    release["hog1"].set()  # one reader frees up
    await until(lambda: "other" in finished or "hog3" in started)
    release["hog2"].set()
    release["hog3"].set()
    await asyncio.gather(*tasks)
    await client.close()
    assert started.index("other") < started.index("hog3")
    assert finished.index("other") < finished.index("hog2")
    assert finished.index("other") < finished.index("hog3")


async def test_while_a_callers_long_aggregations_run_anothers_read_finishes_first(
    tmp_path: Any,
) -> None:
    client = open_client(str(tmp_path / "s.db"))
    coll = client["d"]["c"]
    # The other's read takes ten documents from the index: few GIL hand-overs with the
    # hog's thread, each up to the interpreter's switch interval (5 ms).
    await coll.create_index("user_id")
    await coll.insert_many([{"user_id": "hog", "i": i} for i in range(2_000)])
    await coll.insert_many([{"user_id": "other", "i": i} for i in range(10)])
    heavy = {
        "$reduce": {
            "input": {"$range": [0, 300]},
            "initialValue": 0,
            "in": {"$add": ["$$value", "$$this"]},
        }
    }
    finished: list[str] = []

    async def aggregate(who: str, name: str, max_time_ms: int = 0) -> None:
        caller.set(who)
        pipeline: list[dict[str, Any]] = [{"$match": {"user_id": who}}]
        if who == "hog":  # minutes of work, cut short by its time limit
            pipeline.append({"$project": {"v": {"$sum": [heavy] * 100}}})
        with contextlib.suppress(ExecutionTimeout):
            await (await coll.aggregate(pipeline, maxTimeMS=max_time_ms)).to_list(None)
        finished.append(name)

    hog = [
        asyncio.ensure_future(aggregate("hog", "short", 300)),
        asyncio.ensure_future(aggregate("hog", "long1", 1500)),
        asyncio.ensure_future(aggregate("hog", "long2", 1500)),
    ]
    await asyncio.sleep(0.05)  # two of them running, one waiting
    await aggregate("other", "other")
    await asyncio.gather(*hog)
    await client.close()
    assert finished.index("other") < finished.index("long1")
    assert finished.index("other") < finished.index("long2")
