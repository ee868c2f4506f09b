"""Call deadlines on one shared timer: late calls time out, others never."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tessera.plugins.deadlines import DeadlinePassed, Deadlines
from tessera.testing import Harness


async def test_a_call_past_its_deadline_times_out_and_its_task_goes_on() -> None:
    deadlines = Deadlines(tick=0.01)
    with pytest.raises(DeadlinePassed), deadlines.watch(0.03):
        await asyncio.sleep(5)
    assert asyncio.current_task().cancelling() == 0  # the task is not left cancelled


async def test_calls_that_finish_in_time_are_left_alone() -> None:
    deadlines = Deadlines(tick=0.01)

    async def call(seconds: float) -> str:
        with deadlines.watch(0.2):
            await asyncio.sleep(seconds)
        return "done"

    assert await asyncio.gather(call(0.02), call(0.05)) == ["done", "done"]
    await asyncio.sleep(0.05)
    assert deadlines._sweeping is None  # no timer left running once nothing is watched


async def test_only_the_late_call_of_several_times_out() -> None:
    deadlines = Deadlines(tick=0.01)

    async def call(limit: float) -> str:
        try:
            with deadlines.watch(limit):
                await asyncio.sleep(0.1)
        except DeadlinePassed:
            return "timed out"
        return "done"

    assert await asyncio.gather(call(0.02), call(1.0)) == ["timed out", "done"]


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(tick=0.01)
    started = asyncio.Event()

    async def call() -> None:
        with deadlines.watch(5):
            started.set()
            await asyncio.sleep(5)

    task = asyncio.create_task(call())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_call_that_swallows_the_cancellation_keeps_its_answer() -> None:
    deadlines = Deadlines(tick=0.01)

    async def stubborn() -> str:
        with deadlines.watch(0.02):
            with contextlib.suppress(asyncio.CancelledError):  # the plugin's mistake
                await asyncio.sleep(5)
            return "answered anyway"

    task = asyncio.create_task(stubborn())
    assert await task == "answered anyway"
    assert task.cancelling() == 0


def one_plugin(tmp_path: Path, source: str) -> Path:
    """A plugins folder holding plugin ``one`` with ``source`` as its logic.py."""
    folder = tmp_path / "plugins" / "one"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(source)
    return folder.parent


async def test_a_plugin_that_fails_after_its_deadline_leaves_its_caller_uncancelled(tmp_path):
    plugins = one_plugin(
        tmp_path,
        "import asyncio\n\n\n"
        "async def execute(data):\n"
        "    try:\n"
        "        await asyncio.sleep(5)\n"
        "    except asyncio.CancelledError:\n"
        "        raise ValueError('tidying up went wrong') from None\n",
    )
    async with Harness(plugins, plugin_timeout=0.05) as harness:
        result = await harness.execute("one", {}, user="alice")
        assert result.status == 500  # the plugin raised: a crash, not a timeout
        assert asyncio.current_task().cancelling() == 0


async def test_a_plugins_own_timeout_error_is_a_crash_not_a_timeout(tmp_path):
    plugins = one_plugin(
        tmp_path, "async def execute(data):\n    raise TimeoutError('the API it called was slow')\n"
    )
    async with Harness(plugins, plugin_timeout=30) as harness:
        result = await harness.execute("one", {}, user="alice")
    assert result.status == 500
    assert result["error_code"] == "plugin_failed"


async def test_a_deadline_starts_when_entered() -> None:
    deadlines = Deadlines(tick=0.01)
    deadline = deadlines.watch(0.02)
    await asyncio.sleep(0.05)  # made, not entered: nothing is watched or cancelled
    with deadline:
        await asyncio.sleep(0)
    assert not deadline.expired


CHURN = """
from core.config.database import db


async def execute(data):
    items = db["items"]
    if data.get("action") == "seed":
        await items.insert_many([{"n": i} for i in range(data["count"])])
        return {}
    if data.get("action") == "add":
        await items.insert_one({"n": -1})
        return {"count": await items.count_documents({"user_id": data["user_id"]})}
    heavy = {"$reduce": {"input": {"$range": [0, 400]}, "initialValue": 0,
                         "in": {"$add": ["$$value", "$$this"]}}}
    limit = data.get("max_time_ms")
    options = {"maxTimeMS": limit} if limit else {}
    changed = await items.update_many({"user_id": data["user_id"]}, [{"$set": {"v": heavy}}])
    found = await items.aggregate(
        [{"$match": {"user_id": data["user_id"]}}, {"$project": {"v": heavy}}], **options
    ).to_list(None)
    return {"changed": changed.modified_count, "found": len(found)}
"""


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    (tmp_path / "plugins" / "churn").mkdir(parents=True)
    (tmp_path / "plugins" / "churn" / "logic.py").write_text(CHURN)
    return tmp_path / "plugins"


async def test_store_work_past_the_calls_deadline_stops_and_answers_504(churn: Path) -> None:
    async with Harness(churn, plugin_timeout=0.5) as harness:
        # mallory's 20,000 documents, written outside any call: a loaded machine may take
        # longer than the call's half second to insert them.
        assert (await harness.execute("churn", {"action": "add"}, user="mallory")).status == 200
        await harness.database()["items"].insert_many(
            [{"n": i, "user_id": "mallory"} for i in range(20_000)]
        )
        heavy = asyncio.create_task(harness.execute("churn", {}, user="mallory"))
        await asyncio.sleep(0.05)
        other = await harness.execute("churn", {"action": "add"}, user="alice")
        assert not heavy.done()  # alice's write did not wait for mallory's
        assert (await heavy).status == 504
        assert other.status == 200
        # Nothing of the update that ran out of time went on afterwards.
        changed = await harness.database()["items"].count_documents({"v": {"$exists": True}})
        await asyncio.sleep(0.5)
        assert (
            await harness.database()["items"].count_documents({"v": {"$exists": True}}) == changed
        )


async def test_a_time_limit_the_plugin_sets_itself_is_its_own_crash(churn: Path) -> None:
    async with Harness(churn, plugin_timeout=30) as harness:
        await harness.execute("churn", {"action": "seed", "count": 2_000}, user="mallory")
        result = await harness.execute("churn", {"max_time_ms": 1}, user="mallory")
    assert result.status == 500
