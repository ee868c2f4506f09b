"""The workers of one sandboxed plugin: started on demand, reused, replaced when one dies.

Pooled per plugin rather than per app: a call past its timeout kills its worker, and a
worker serves one call at a time, so killing it touches no other call, and each worker
can be confined to its own plugin's folder. Idle workers end after ``idle_seconds``, so
many installed plugins cost memory only while they are used (docs/isolation.md).

When a call takes the last idle worker while another call is running, or a worker dies,
a spare starts in the background, so the next call seldom waits for a start (and never
inside its timeout when the spare is ready). A plugin whose calls never overlap keeps one
worker: a plugin called once costs one start and one worker's memory, not two.

One user's calls hold at most ``per_user`` of the workers at once: their further calls
wait in line for one of their own to end, so a user whose calls hang (until their timeout)
leaves the other workers to everyone else. The shares are the sync-plugin threads' ones
(:class:`~tessera.governance.shares.ThreadShares`), the pool standing for the plugin.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tessera.context import current_call
from tessera.governance.shares import ThreadShares, User
from tessera.plugins.errors import ReportedCrash
from tessera.sandbox.confinement import Confinement
from tessera.sandbox.frames import message_frame
from tessera.sandbox.operations import CallState
from tessera.sandbox.process import (
    AtCapacity,
    OutputBudget,
    StartFailed,
    WorkerFailed,
    WorkerProcess,
)

logger = logging.getLogger("tessera.sandbox")
#: Users whose failures in a row a pool counts before it forgets those not backing off.
FAILING_USERS_KEPT = 10_000

MIB = 1024 * 1024


@dataclass(frozen=True)
class PoolSettings:
    """How many workers a plugin may have, how many one user may hold, and how long an
    idle one lives."""

    max_workers: int = 4
    #: Workers one user's calls may hold at once (half of them: see the module docstring).
    per_user: int = 2
    idle_seconds: float = 60.0
    import_timeout: float = 10.0
    memory_bytes: int = 512 * MIB
    #: How long tasks a call left running may keep its worker after its answer.
    linger_seconds: float = 30.0
    #: Consecutive failures after which starts back off, doubling up to ``max_backoff``.
    failures_before_backoff: int = 3
    max_backoff: float = 30.0
    #: Workers of every plugin together (the sandbox's, not one pool's).
    total_workers: int = 64

    @classmethod
    def sized(cls, workers: int, memory_mb: int, total: int) -> PoolSettings:
        """At most ``workers`` a plugin and ``total`` in all, one user's calls holding half
        of a plugin's (at least one), each worker limited to ``memory_mb`` MiB: the
        operator's settings."""
        per_user = max(1, workers // 2)
        memory = memory_mb * MIB
        return cls(max_workers=workers, per_user=per_user, memory_bytes=memory, total_workers=total)


async def start(pool: Pool) -> WorkerProcess:
    """A worker of ``pool``'s plugin, started and ready (StartFailed when it is not)."""
    worker = WorkerProcess.launch(pool.name, pool.confined, pool.output)
    await worker.ready(pool.settings.import_timeout)
    return worker


def _caller() -> User:
    """Who the running call is for; handlers of events published outside any call share
    one key."""
    call = current_call.get()
    return (call.identity.app_id, call.identity.user_id) if call is not None else ("", "")


class Pool:
    """Workers of plugin ``name``, each started by ``spawn(pool)`` (:func:`start`, or the
    sandbox's, which also bounds how many start at once and records what they import)."""

    def __init__(
        self,
        name: str,
        confined: Confinement,
        settings: PoolSettings,
        spawn: Callable[[Pool], Awaitable[WorkerProcess]] = start,
    ) -> None:
        self.name = name
        self.confined = confined
        self.settings = settings
        self._spawn = spawn
        self.idle: list[WorkerProcess] = []
        self.busy: set[WorkerProcess] = set()
        self.shares = ThreadShares(settings.per_user, settings.max_workers)
        #: What its workers print, passed on up to a budget a minute they share.
        self.output = OutputBudget(name)
        #: Failures in a row (start failures, deaths of workers idle since they started); a
        #: successful call resets it.
        self.failures = 0
        #: Each user's calls that ended their worker, in a row, and until when the user's
        #: calls back off: one user's data or input must not stop the plugin for everyone.
        self.user_failures: dict[User, int] = {}
        self.user_retry_at: dict[User, float] = {}
        self.deaths = 0
        self.starts = 0
        self.retry_at = 0.0
        #: Why its last start could not be made (the sandbox at its total of workers).
        self.full = ""
        self.closed = False
        self._spare: asyncio.Task[bool] | None = None
        self._lingering: set[asyncio.Task[None]] = set()

    async def run(self, message: dict[str, Any], state: CallState) -> dict[str, Any]:
        """Run ``message`` on a free worker (waiting for one when all are busy, or when
        the caller's calls already hold their share)."""
        user = _caller()
        self._check_backoff(self.user_retry_at.get(user, 0.0))
        # Before a worker is taken: what cannot be sent (Unsendable) touches none.
        frame = message_frame(message)
        await self.shares.take(user, self.name)
        lingering = False
        try:
            done = await self._run(frame, state, user)
            lingering = bool(done.get("lingering"))  # the share goes back when they end
            return done
        finally:
            if not lingering:
                self.shares.give(user, self.name)

    async def _run(self, frame: bytes, state: CallState, user: User) -> dict[str, Any]:
        worker = await self._take()
        worker.caller = user
        self.busy.add(worker)
        if len(self.busy) > 1 and not self.idle:  # calls overlap: the next need not wait
            self._start_spare()
        try:
            done = await worker.run(frame, state)
        except WorkerFailed as exc:
            self._died(str(exc), user)
            raise ReportedCrash(str(exc), "plugin_failed") from None
        except BaseException:
            # A timeout (killed on purpose, not a crash loop), or anything else: a worker
            # no call holds and no list counts must not run on.
            worker.kill()
            self.deaths += 1
            raise
        finally:
            self.busy.discard(worker)
            if not worker.alive:
                self._start_spare()
        if done.get("memory"):
            worker.kill()
            limit = self.settings.memory_bytes // MIB
            self._died(f"over its memory limit of {limit} MiB", user)
            raise ReportedCrash(
                f"The plugin went over its memory limit of {limit} MiB.", "memory_limit"
            )
        self.failures = 0
        self.user_failures.pop(user, None)
        if done.get("lingering"):
            self.busy.add(worker)
            task = asyncio.get_running_loop().create_task(self._linger(worker, done, state, user))
            self._lingering.add(task)
            task.add_done_callback(self._lingering.discard)
        else:
            self._reuse(worker, done)
        return done

    async def _linger(
        self, worker: WorkerProcess, done: dict[str, Any], state: CallState, user: User
    ) -> None:
        """Keep ``worker``, and its caller's share, while the tasks its call left running
        end (as that caller, in this task's copy of the call's context); past
        ``linger_seconds`` it is killed, and them with it."""
        try:
            async with asyncio.timeout(self.settings.linger_seconds):
                await worker.linger(done["done"], state)
        except (TimeoutError, WorkerFailed) as exc:
            worker.kill()
            self.deaths += 1
            logger.warning("plugin %s: tasks left running by a call ended: %s", self.name, exc)
        finally:
            self.busy.discard(worker)
            self.shares.give(user, self.name)
        self._reuse(worker, done)

    def _reuse(self, worker: WorkerProcess, done: dict[str, Any]) -> None:
        """Give a worker back after a call, unless it is dead or near its CPU limit (then
        replaced before the limit kills a call)."""
        if done.get("retire") or not worker.alive:
            worker.kill()
            self._start_spare()
        else:
            self._give_back(worker)

    async def _take(self) -> WorkerProcess:
        ours: asyncio.Task[bool] | None = None
        while True:
            while self.idle:
                worker = self.idle.pop()
                if worker.alive:
                    return worker
                worker.kill()
                # Its last call may have left what ended it (a thread): that caller's.
                self._died("it exited while idle", worker.caller)
            if self._spare is None or self._spare.done():
                if ours is not None and not ours.result():
                    if self.full:  # not the plugin's failure: the caller may retry soon
                        raise ReportedCrash(self.full, "sandbox_busy", retry_after=1.0)
                    raise ReportedCrash("The plugin's worker failed to start.", "plugin_failed")
                self._check_backoff(self.retry_at)
                # Started as a spare: a call that times out meanwhile leaves it to the pool.
                ours = self._spare = asyncio.get_running_loop().create_task(self._spawn_spare())
            await asyncio.shield(self._spare)  # a spare on its way: it joins the idle ones

    def _check_backoff(self, retry_at: float) -> None:
        wait = retry_at - time.monotonic()
        if wait > 0:
            raise ReportedCrash(
                f"The plugin's workers keep failing; the next start is in {wait:.0f}s.",
                "plugin_restarting",
                retry_after=wait,
            )

    def prime(self) -> asyncio.Task[bool]:
        """Start a worker now, before any call (to import the plugin at load)."""
        self._start_spare()
        assert self._spare is not None
        return self._spare

    def _start_spare(self) -> None:
        full = len(self.idle) + len(self.busy) >= self.settings.max_workers
        if not (self.closed or self.starting or full or self.backing_off):
            self._spare = asyncio.get_running_loop().create_task(self._spawn_spare())

    async def _spawn_spare(self) -> bool:
        """Start a worker and give it to the pool; False when none joined it (a failed
        start, or the pool closed meanwhile)."""
        self.full = ""
        try:
            worker = await self._spawn(self)
        except AtCapacity as exc:
            self.full = f"Every sandbox worker is busy ({exc}); retry shortly."
            return False
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

    def _died(self, why: str, user: User | None = None) -> None:
        """Count a failure: the plugin's (a start, a worker idle since it started), or
        that of ``user``'s call, whose calls alone then back off."""
        self.deaths += 1
        logger.error("plugin %s: sandbox worker failed: %s", self.name, why)
        if user is None:
            self.failures += 1
            failures = self.failures
        else:
            if len(self.user_failures) >= FAILING_USERS_KEPT:
                # Forget the counts of users not backing off now (at worst each gets a
                # few more failures before backing off); memory stays bounded.
                waiting = self.user_retry_at
                self.user_failures = {u: n for u, n in self.user_failures.items() if u in waiting}
            failures = self.user_failures[user] = self.user_failures.get(user, 0) + 1
        over = failures - self.settings.failures_before_backoff
        if over < 0:
            return
        delay = min(self.settings.max_backoff, 0.5 * 2**over)
        if user is None:
            self.retry_at = time.monotonic() + delay
            logger.error("plugin %s: workers back off for %.1fs", self.name, delay)
        else:
            self.user_retry_at = {
                u: t for u, t in self.user_retry_at.items() if t > time.monotonic()
            }
            self.user_retry_at[user] = time.monotonic() + delay
            logger.error("plugin %s: calls of %s back off for %.1fs", self.name, user, delay)

    @property
    def starting(self) -> bool:
        """Whether a worker is starting."""
        return self._spare is not None and not self._spare.done()

    @property
    def has_tasks(self) -> bool:
        """Whether a worker is starting, or serving tasks a call left running."""
        return self.starting or bool(self._lingering)

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

    async def stop(self) -> None:
        """Close, and end a worker still starting or serving tasks a call left running (the
        server stops: no call waits for them)."""
        self.close()
        tasks = [*self._lingering, *([self._spare] if self._spare is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        """For ``/health``."""
        return {
            "workers": len(self.idle) + len(self.busy),
            "busy": len(self.busy),
            "starting": self.starting,
            "starts": self.starts,
            "deaths": self.deaths,
            "failures_in_a_row": self.failures,
            "backing_off": self.backing_off,
        }
