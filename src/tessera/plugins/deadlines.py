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


class DeadlinePassed(TimeoutError):
    """A watched call ran past its deadline (a TimeoutError the call raised itself is not
    one of these)."""


@dataclass(slots=True, eq=False)
class Deadline:
    """One call's deadline: entering it starts the watch on the current task.

    A context manager, as ``asyncio.timeout`` is: leaving it ends the watch, and the
    cancellation it caused leaves as DeadlinePassed, the task no longer counted cancelled.
    """

    owner: Deadlines = field(repr=False)
    seconds: float
    task: asyncio.Task[object] | None = None
    at: float = 0.0
    cancelling: int = 0  # the task's pending cancellations before the watch: not ours
    expired: bool = False

    def __enter__(self) -> Deadline:
        self.owner._start(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.owner._running.discard(self)
        # As asyncio.timeout: a cancellation from elsewhere as well stays a cancellation.
        if (
            self.expired
            and self.task is not None
            and self.task.uncancel() <= self.cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise DeadlinePassed from exc


class Deadlines:
    """The deadlines of the calls running on one event loop."""

    def __init__(self, tick: float = DEFAULT_TICK) -> None:
        self.tick = tick
        self._running: set[Deadline] = set()
        self._sweeping: asyncio.TimerHandle | None = None

    def watch(self, seconds: float) -> Deadline:
        """``with deadlines.watch(s):`` cancels the task inside if still there ``s`` later."""
        return Deadline(self, seconds)

    def _start(self, deadline: Deadline) -> None:
        task = asyncio.current_task()
        assert task is not None, "deadlines apply to tasks"
        loop = task.get_loop()
        deadline.task, deadline.at = task, loop.time() + deadline.seconds
        deadline.cancelling = task.cancelling()
        self._running.add(deadline)
        if self._sweeping is None:
            self._sweeping = loop.call_later(self.tick, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeping = None
        now = loop.time()
        for deadline in self._running:
            if not deadline.expired and deadline.at <= now:
                assert deadline.task is not None
                deadline.expired = True
                deadline.task.cancel()
        if self._running:
            self._sweeping = loop.call_later(self.tick, self._sweep, loop)
