"""Leaves a thread of its call (``asyncio.to_thread`` keeps the call's context) asking the
server for something, again and again, past the call's end: each request is refused once
the call has ended (no caller), as in-process; none may reach the channel after the end,
where the server would take it for the next call's, another user's."""

import asyncio
import contextlib
import time

from core.config.database import db


def ask_until(deadline: float) -> None:
    while time.monotonic() < deadline:
        # Refused: not escalated, or the call has ended.
        with contextlib.suppress(Exception):
            db.as_admin(reason="racing the call's end")


async def execute(data):
    if data.get("action") == "race":
        asyncio.get_running_loop().run_in_executor(None, lambda: None)  # a thread ready
        task = asyncio.ensure_future(asyncio.to_thread(ask_until, time.monotonic() + 0.3))
        await asyncio.sleep(0.05)  # the thread is asking
        task.cancel()  # the call forgets it: its thread runs on
        return {"raced": True}
    await asyncio.sleep(0.4)  # past the thread's deadline
    return {"ok": True}
