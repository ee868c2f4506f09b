"""The workers of one sandboxed plugin: started on demand, reused, replaced when one dies.

Pooled per plugin rather than per app: a call past its timeout kills its worker, and a
worker serves one call at a time, so killing it touches no other call, and each worker
can be confined to its own plugin's folder. Idle workers end after ``idle_seconds``, so
many installed plugins cost memory only while they are used (docs/isolation.md).

When a call takes the last idle worker, or a worker dies, a spare starts in the
background, so the next call seldom waits for a start (and never inside its timeout when
the spare is ready).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from tessera.plugins.errors import ReportedCrash
from tessera.sandbox.confinement import Confinement
from tessera.sandbox.operations import CallState
from tessera.sandbox.process import StartFailed, WorkerFailed, WorkerProcess

logger = logging.getLogger("tessera.sandbox")

MIB = 1024 * 1024


@dataclass(frozen=True)
class PoolSettings:
    """How many workers a plugin may have and how long an idle one lives."""

    max_workers: int = 4
    idle_seconds: float = 60.0
    import_timeout: float = 10.0
    memory_bytes: int = 512 * MIB
    #: Consecutive failures after which starts back off, doubling up to ``max_backoff``.
    failures_before_backoff: int = 3
    max_backoff: float = 30.0


class Pool:
    """Workers of plugin ``name``; ``idle`` starts with the one that imported it at load,
    when it was kept."""

    def __init__(
        self,
        name: str,
        confined: Confinement,
        settings: PoolSettings,
        idle: list[WorkerProcess],
    ) -> None:
        self.name = name
        self.confined = confined
        self.settings = settings
        self.idle = idle
        self.busy: set[WorkerProcess] = set()
        self._slots: asyncio.Semaphore | None = None
        #: Failures in a row (deaths, start failures); a successful call resets it.
        self.failures = 0
        self.deaths = 0
        self.starts = 1
        self.retry_at = 0.0
        self.closed = False
        self._spare: asyncio.Task[bool] | None = None

    async def run(self, message: dict[str, Any], state: CallState) -> dict[str, Any]:
        """Run ``message`` on a free worker (waiting for one when all are busy)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_workers)
        async with self._slots:
            worker = await self._take()
            self.busy.add(worker)
            if not self.idle:
                self._start_spare()
            try:
                done = await worker.run(message, state)
            except WorkerFailed as exc:
                self._died(str(exc))
                raise ReportedCrash(str(exc), "plugin_failed") from None
            except BaseException:
                self.deaths += 1  # a timeout: killed on purpose, not a crash loop
                raise
            finally:
                self.busy.discard(worker)
                if not worker.alive:
                    self._start_spare()
            if done.get("memory"):
                worker.kill()
                limit = self.settings.memory_bytes // MIB
                self._died(f"over its memory limit of {limit} MiB")
                raise ReportedCrash(
                    f"The plugin went over its memory limit of {limit} MiB.", "memory_limit"
                )
            self.failures = 0
            if done.get("retire"):  # near its CPU limit: replaced before the limit kills a call
                worker.kill()
                self._start_spare()
            else:
                self._give_back(worker)
            return done

    async def _take(self) -> WorkerProcess:
        ours: asyncio.Task[bool] | None = None
        while True:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive:
                    return worker
                worker.kill()
                self._died("it exited while idle")
            if self._spare is None or self._spare.done():
                if ours is not None and not ours.result():
                    raise ReportedCrash("The plugin's worker failed to start.", "plugin_failed")
                self._check_backoff()
                # Started as a spare: a call that times out meanwhile leaves it to the pool.
                ours = self._spare = asyncio.get_running_loop().create_task(self._spawn_spare())
            await asyncio.shield(self._spare)  # a spare on its way: it joins the idle ones

    def _check_backoff(self) -> None:
        wait = self.retry_at - time.monotonic()
        if wait > 0:
            raise ReportedCrash(
                f"The plugin's workers keep failing; the next start is in {wait:.0f}s.",
                "plugin_restarting",
            )

    def _start_spare(self) -> None:
        starting = self._spare is not None and not self._spare.done()
        full = len(self.idle) + len(self.busy) >= self.settings.max_workers
        if not (self.closed or starting or full or self.backing_off):
            self._spare = asyncio.get_running_loop().create_task(self._spawn_spare())

    async def _spawn_spare(self) -> bool:
        """Start a worker and give it to the pool; False when none joined it (a failed
        start, or the pool closed meanwhile)."""
        try:
            worker = await asyncio.to_thread(
                WorkerProcess.spawn, self.name, self.confined, self.settings.import_timeout
            )
        except StartFailed as exc:
            self._died(f"a new worker failed to start: {exc}")
            return False
        self.starts += 1
        self._give_back(worker)
        return not self.closed

    def _give_back(self, worker: WorkerProcess) -> None:
        if self.closed:
            worker.kill()
            return
        worker.last_used = time.monotonic()
        self.idle.append(worker)

    def _died(self, why: str) -> None:
        self.deaths += 1
        self.failures += 1
        logger.error("plugin %s: sandbox worker failed: %s", self.name, why)
        over = self.failures - self.settings.failures_before_backoff
        if over >= 0:
            delay = min(self.settings.max_backoff, 0.5 * 2**over)
            self.retry_at = time.monotonic() + delay
            logger.error("plugin %s: workers back off for %.1fs", self.name, delay)

    @property
    def backing_off(self) -> bool:
        return self.retry_at > time.monotonic()

    def reap(self, now: float) -> int:
        """End the workers idle longer than ``idle_seconds``; returns how many."""
        keep = [w for w in self.idle if now - w.last_used < self.settings.idle_seconds]
        ended = [w for w in self.idle if w not in keep]
        self.idle = keep
        for worker in ended:
            worker.kill()
        return len(ended)

    def close(self) -> None:
        """End every idle worker now; busy ones end when their call returns."""
        self.closed = True
        for worker in self.idle:
            worker.kill()
        self.idle = []

    def status(self) -> dict[str, Any]:
        """For ``/health``."""
        return {
            "workers": len(self.idle) + len(self.busy),
            "busy": len(self.busy),
            "starts": self.starts,
            "deaths": self.deaths,
            "failures_in_a_row": self.failures,
            "backing_off": self.backing_off,
        }
