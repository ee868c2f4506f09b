"""The event-loop watchdog: names the plugin that keeps the loop from running.

A heartbeat task stamps the time on the loop; a thread checks the stamp. When it is older
than the threshold, the loop is blocked, and the thread looks at the loop thread's stack
for a frame of a plugin module to name the plugin (and its action) in the log.

The other common blocker is the garbage collector: a full collection walks every object of
the process while holding the GIL, so the thread sees the block only once it is over, with
no plugin on the stack. The watchdog times collections to say so.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from tessera.plugins.loader import PACKAGE_ROOT

logger = logging.getLogger("tessera.watchdog")

# (plugin package or "-", action, seconds blocked, seconds of it spent collecting garbage)
OnBlock = Callable[[str, str, float, float], None]


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


def describe_block(plugin: str, action: str, seconds: float, collecting: float) -> str:
    """The log line for a block: the garbage collector's when it took most of the time;
    the plugin's when one was on the loop's stack."""
    if collecting >= seconds / 2:
        return (
            f"event loop blocked for {seconds:.2f}s, {collecting:.2f}s of it by a garbage "
            "collection, which walks every object the process holds (no plugin is at fault)"
        )
    if plugin == "-":
        return (
            f"event loop blocked for {seconds:.2f}s with no plugin running when checked: "
            "a burst of work (many connections or requests at once), or a plugin call "
            "that had ended by then"
        )
    return (
        f"event loop blocked for {seconds:.2f}s by plugin {plugin} (action {action!r}): use "
        "await, or a sync execute, which runs in a worker thread"
    )


class LoopWatchdog:
    """Watches one event loop; calls ``on_block(plugin, action, seconds, collecting)``
    once per block."""

    def __init__(self, threshold: float, on_block: OnBlock) -> None:
        self.threshold = threshold
        self.on_block = on_block
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread = 0
        self._collected = 0.0  # seconds spent collecting garbage since start
        self._collecting_since: float | None = None  # while a collection runs
        self._beat = (time.monotonic(), 0.0)  # (when, seconds collected by then)

    async def start(self) -> None:
        self._loop_thread = threading.get_ident()
        self._beat = (time.monotonic(), self._collected)
        gc.callbacks.append(self._time_collection)
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._thread = threading.Thread(target=self._watch, name="tessera-watchdog", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        if self._time_collection in gc.callbacks:
            gc.callbacks.remove(self._time_collection)
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None:
            self._thread.join(timeout=1)

    def _time_collection(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._collecting_since = now
        elif self._collecting_since is not None:
            self._collected += now - self._collecting_since
            self._collecting_since = None

    def _collecting(self, beat: float, collected_then: float) -> float:
        """Seconds spent collecting garbage since the beat."""
        collecting = self._collected - collected_then
        since = self._collecting_since
        if since is not None:  # this thread got the GIL before the callback ending it ran
            collecting += time.monotonic() - max(since, beat)
        return collecting

    async def _heartbeat(self) -> None:
        interval = self.threshold / 4
        while True:
            self._beat = (time.monotonic(), self._collected)
            await asyncio.sleep(interval)

    def _watch(self) -> None:
        reported_beat = None
        while not self._stop.wait(self.threshold / 4):
            beat, collected_then = self._beat
            lag = time.monotonic() - beat
            if lag <= self.threshold or beat == reported_beat:
                continue
            reported_beat = beat
            plugin, action = find_blocker(sys._current_frames().get(self._loop_thread))
            self.on_block(plugin, action, lag, self._collecting(beat, collected_then))
