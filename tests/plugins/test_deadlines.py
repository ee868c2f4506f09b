"""Call deadlines on one shared timer: late calls are cancelled, others never."""

from __future__ import annotations

import asyncio

import pytest

from tessera.plugins.deadlines import Deadlines


async def test_a_call_past_its_deadline_is_cancelled_and_says_so() -> None:
    deadlines = Deadlines(tick=0.01)
    deadline = deadlines.watch(0.03)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(5)
    assert deadlines.forget(deadline)
    assert deadline.task.uncancel() == 0


async def test_calls_that_finish_in_time_are_left_alone() -> None:
    deadlines = Deadlines(tick=0.01)

    async def call(seconds: float) -> bool:
        deadline = deadlines.watch(0.2)
        await asyncio.sleep(seconds)
        return deadlines.forget(deadline)

    assert await asyncio.gather(call(0.02), call(0.05)) == [False, False]
    await asyncio.sleep(0.05)
    assert deadlines._sweeping is None  # no timer left running once nothing is watched


async def test_only_the_late_call_of_several_is_cancelled() -> None:
    deadlines = Deadlines(tick=0.01)

    async def call(limit: float) -> str:
        deadline = deadlines.watch(limit)
        try:
            await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            assert deadlines.forget(deadline)
            return "timed out"
        deadlines.forget(deadline)
        return "done"

    assert await asyncio.gather(call(0.02), call(1.0)) == ["timed out", "done"]
