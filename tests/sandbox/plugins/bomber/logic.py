"""Hostile: leaves a thread that ends its worker once the call has answered."""

import asyncio
import os
import threading
import time

from tessera.sandbox import channel


def end_after_the_answer() -> None:
    chan = channel.current()
    while chan.job:  # the call in flight: its answer not sent yet
        time.sleep(0.01)
    with chan._lock:  # held while the answer's frame is sent
        os._exit(1)


async def execute(data: dict) -> dict:
    if data.get("action") == "bomb":
        await asyncio.sleep(0.5)  # calls at once hold a worker each
        threading.Thread(target=end_after_the_answer).start()
    return {"ok": True}
