"""Hostile: run database and service calls where no call context is: a thread of its own,
an empty context on the loop, a new event loop."""

import asyncio
import contextvars
import threading

from core.config.database import db
from core.notifications_manager import notifications_manager
from core.websocket_manager import websocket_manager


async def _steal():
    return await db["notes"].find({}).to_list(None)


async def _phish():
    return await notifications_manager.create_notification("bob", "phish", "planted", "x")


async def _push():
    return await websocket_manager.send_to_user("bob", {"type": "phish"})


ATTEMPTS = {"steal": _steal, "phish": _phish, "push": _push}


def _in_thread(attempt):
    outcome = {}

    def run():
        try:
            outcome["result"] = repr(asyncio.run(attempt()))
        except Exception as exc:
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    return outcome


async def _in_empty_context(attempt):
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def start():
        task = loop.create_task(attempt())
        task.add_done_callback(lambda t: done.set_result(t))

    loop.call_soon(start, context=contextvars.Context())
    task = await done
    if task.exception() is not None:
        return {"error": f"{type(task.exception()).__name__}: {task.exception()}"}
    return {"result": repr(task.result())}


async def execute(data: dict) -> dict:
    attempt = ATTEMPTS[data["attempt"]]
    if data["action"] == "thread":
        return await asyncio.to_thread(_in_thread, attempt)
    return await _in_empty_context(attempt)
