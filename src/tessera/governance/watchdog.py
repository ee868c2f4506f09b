"""The event-loop watchdog: names the plugin that keeps the loop from running.

A heartbeat task stamps the time on the loop; a thread checks the stamp. When it is older
than the threshold, the loop is blocked, and the thread looks at the loop thread's stack
for a frame of a plugin module to name the plugin (and its action) in the log.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from tessera.plugins.loader import PACKAGE_ROOT

logger = logging.getLogger("tessera.watchdog")

OnBlock = Callable[[str, str, float], None]


def find_blocker(frame: FrameType | None) -> tuple[str, str]:
    """The outermost plugin frame on a stack: (plugin package, action), or ("-", "")."""
    plugin, action = "-", ""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith(PACKAGE_ROOT + "."):
            plugin = module.split(".")[1]
            data = frame.f_locals.get("data")
            if isinstance(data, dict) and isinstance(data.get("action"), str):
                action = data["action"]
        frame = frame.f_back
    return plugin, action


class LoopWatchdog:
    """Watches one event loop; calls ``on_block(plugin, action, seconds)`` once per block."""

    def __init__(self, threshold: float, on_block: OnBlock) -> None:
        self.threshold = threshold
        self.on_block = on_block
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread = 0

    async def start(self) -> None:
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._thread = threading.Thread(target=self._watch, name="tessera-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None:
            self._thread.join(timeout=1)

    async def _heartbeat(self) -> None:
        interval = self.threshold / 4
        while True:
            self._beat = time.monotonic()
            await asyncio.sleep(interval)

    def _watch(self) -> None:
        reported_beat = None
        while not self._stop.wait(self.threshold / 4):
            beat = self._beat
            lag = time.monotonic() - beat
            if lag <= self.threshold or beat == reported_beat:
                continue
            reported_beat = beat
            plugin, action = find_blocker(sys._current_frames().get(self._loop_thread))
            self.on_block(plugin, action, lag)
