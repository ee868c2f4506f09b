"""An error result holding a mapping of its own, whose methods run while the worker
encodes the result (as BSON), after the call's code returned: they start a task of the
call, or cancel the task serving every call."""

import asyncio
import contextvars
from collections.abc import Mapping

from core.config.database import db


class Lazy(Mapping):
    def __init__(self, on_read) -> None:
        self.on_read = on_read

    def __getitem__(self, key):
        self.on_read()
        return 1

    def __iter__(self):
        return iter(["n"])

    def __len__(self) -> int:
        return 1


async def note(user_id: str) -> None:
    await asyncio.sleep(0.05)
    await db["notes"].insert_one({"user_id": user_id, "left": "by the encoding"})


async def execute(data):
    action, me = data.get("action"), data["user_id"]
    if action == "start_a_task":
        call = contextvars.copy_context()  # the call's: its task acts as the call
        loop = asyncio.get_running_loop()
        return {"error": "x", "m": Lazy(lambda: call.run(loop.create_task, note(me)))}
    if action == "cancel_the_server":
        return {"error": "x", "m": Lazy(lambda: asyncio.current_task().cancel())}
    if action == "count":
        return {"notes": await db["notes"].count_documents({"user_id": me})}
    await asyncio.sleep(0.01)
    return {"ok": True}
