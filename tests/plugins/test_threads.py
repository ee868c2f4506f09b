"""The sync-plugin threads: a thread is held until its function returns."""

from __future__ import annotations

import asyncio
import threading

from tessera.plugins.threads import PluginThreads

ALICE = ("app", "alice")
BOB = ("app", "bob")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def until(condition, attempts: int = 500) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_call_given_up_on_keeps_its_share_until_its_function_returns():
    threads = PluginThreads(4, per_user=1, per_plugin=2)
    release, running = threading.Event(), threading.Event()

    def hang(_: object) -> str:
        running.set()
        release.wait()
        return "late"

    try:
        first = asyncio.create_task(threads.run(ALICE, "p", hang, None))
        await until(running.is_set)
        first.cancel()  # as a timeout does: the caller stops waiting, the code runs on
        await settle()
        second = asyncio.create_task(threads.run(ALICE, "p", str.upper, "next"))
        await asyncio.sleep(0.05)
        assert not second.done()
        assert await threads.run(BOB, "p", str.upper, "bob") == "BOB"
        release.set()
        assert await second == "NEXT"
    finally:
        release.set()
        threads.close()


async def test_a_call_still_waiting_for_its_share_holds_nothing_once_cancelled():
    threads = PluginThreads(4, per_user=1, per_plugin=2)
    release = threading.Event()
    try:
        first = asyncio.create_task(threads.run(ALICE, "p", lambda _: release.wait(), None))
        queued = asyncio.create_task(threads.run(ALICE, "p", str.upper, "never"))
        await settle()
        queued.cancel()
        release.set()
        assert await first is True
        assert await threads.run(ALICE, "p", str.upper, "again") == "AGAIN"
        assert threads.shares.users.held(ALICE) == 0
    finally:
        release.set()
        threads.close()


async def test_the_call_runs_in_the_callers_context():
    import contextvars

    who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")
    who.set("alice")
    threads = PluginThreads(2)
    try:
        assert await threads.run(ALICE, "p", lambda _: who.get(), None) == "alice"
    finally:
        threads.close()
