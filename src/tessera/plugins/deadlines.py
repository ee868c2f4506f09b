"""Plugin call deadlines on one timer, instead of a timer per call.

``asyncio.timeout`` arms and cancels a loop timer for every call. Under uvloop, with many
calls in flight, that cost about 50 µs of CPU a call: more than the rest of a no-op call
(``bench/http.py``). Here a single sweep, every ``tick`` seconds while calls run, cancels
the tasks past their deadline, so a timeout fires up to ``tick`` late.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType

DEFAULT_TICK = 0.05


@dataclass(slots=True, eq=False)
class Deadline:
    """One running call: its task, when it must end, whether it was cancelled for that.

    A context manager, as ``asyncio.timeout`` is: leaving it ends the watch, and the
    cancellation it caused leaves as TimeoutError, the task no longer counted cancelled.
    """

    task: asyncio.Task[object]
    at: float
    watched: set[Deadline] = field(repr=False)
    cancelling: int  # the task's pending cancellations before the watch: not ours
    expired: bool = False

    def __enter__(self) -> Deadline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.watched.discard(self)
        # As asyncio.timeout: a cancellation from elsewhere as well stays a cancellation.
        if (
            self.expired
            and self.task.uncancel() <= self.cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc


class Deadlines:
    """The deadlines of the calls running on one event loop."""

    def __init__(self, tick: float = DEFAULT_TICK) -> None:
        self.tick = tick
        self._running: set[Deadline] = set()
        self._sweeping: asyncio.TimerHandle | None = None

    def watch(self, seconds: float) -> Deadline:
        """Cancel the current task if it is still watched ``seconds`` from now."""
        task = asyncio.current_task()
        assert task is not None, "deadlines apply to tasks"
        loop = task.get_loop()
        deadline = Deadline(task, loop.time() + seconds, self._running, task.cancelling())
        self._running.add(deadline)
        if self._sweeping is None:
            self._sweeping = loop.call_later(self.tick, self._sweep, loop)
        return deadline

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeping = None
        now = loop.time()
        for deadline in self._running:
            if not deadline.expired and deadline.at <= now:
                deadline.expired = True
                deadline.task.cancel()
        if self._running:
            self._sweeping = loop.call_later(self.tick, self._sweep, loop)
