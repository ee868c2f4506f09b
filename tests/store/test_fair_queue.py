"""Fair reads: queued reads are served in turns across callers (`engine.caller`)."""

import asyncio
import threading
import time
from typing import Any

from tessera.store import open_client
from tessera.store.engine import caller
from tessera.store.fair_queue import FairQueue


def test_keys_take_turns_and_each_keeps_its_order() -> None:
    fair: FairQueue[str] = FairQueue()
    for i in range(4):
        fair.put("hog", f"hog{i}")
    fair.put("a", "a0")
    fair.put("b", "b0")
    fair.put("a", "a1")
    taken = [fair.get() for _ in range(7)]
    assert taken == ["hog0", "a0", "b0", "hog1", "a1", "hog2", "hog3"]


def test_none_is_a_key_like_any_other() -> None:
    fair: FairQueue[int] = FairQueue()
    fair.put(None, 1)
    fair.put(None, 2)
    fair.put("x", 3)
    assert [fair.get() for _ in range(3)] == [1, 3, 2]


def test_stop_ends_consumers_after_the_queued_items() -> None:
    fair: FairQueue[int] = FairQueue()
    taken: list[int] = []

    def consume() -> None:
        while (item := fair.get()) is not None:
            taken.append(item)

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
