"""A plugin's log lines, from its calls and from threads it runs on its own, never cost
a call its answer (in-process and sandboxed alike)."""

from __future__ import annotations

import time
from pathlib import Path

CHATTY = """
import asyncio
import logging
import threading
import time

log = logging.getLogger("chatty")
RUNNING = threading.Event()


def chatter():
    while True:
        log.info("tick from a thread of my own")
        time.sleep(0.001)


async def execute(data: dict) -> dict:
    if not RUNNING.is_set():
        RUNNING.set()
        threading.Thread(target=chatter, daemon=True).start()
    log.info("a call's line")
    await asyncio.to_thread(log.info, "a line from the call's own thread")
    await asyncio.sleep(0.002)
    return {"ok": True}
"""


def test_a_thread_logging_between_calls_costs_no_call_its_answer(serve, tmp_path: Path) -> None:
    folder = tmp_path / "plugins" / "chatty"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(CHATTY)
    live = serve(folder.parent)
    with live.client("alice") as alice:
        statuses = []
        for _ in range(20):
            statuses.append(alice.post("/api/execute/chatty", json={}).status_code)
            time.sleep(0.02)  # the thread logs between calls too
    assert statuses == [200] * 20
