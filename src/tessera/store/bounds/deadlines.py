"""Time limits of store jobs: when a job must stop, and the cheap checks that stop it.

A job's time is the least of its operation's ``maxTimeMS`` (`after`) and the caller's
deadline (`engine.deadline`, merged in by `sooner`). The engine runs each job under its
limit (`run`): a job already past it is not started, and a running one is stopped where
its work can grow long. Python loops look at the clock every few documents or array
elements (`check`, `checked`); SQLite's progress handler does while one statement runs
(`interruptible`). Past its time a job raises `ExecutionTimeout` with MongoDB's code 50
(MaxTimeMSExpired), and the engine rolls a write job back.

A slice of a many-document write (see `slices`) also has a soft budget (`budget`): past
it `SliceEnded` is raised, which hands the writer over rather than failing anything.
"""

import contextlib
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from time import monotonic
from typing import Any, NoReturn, TypeVar

from pymongo.errors import ExecutionTimeout, OperationFailure

__all__ = [
    "MAX_TIME_MS_EXPIRED",
    "Limit",
    "SliceEnded",
    "after",
    "budget",
    "check",
    "checked",
    "interruptible",
    "max_time_ms",
    "run",
    "sooner",
]

T = TypeVar("T")

MAX_TIME_MS_EXPIRED = 50
_BAD_VALUE = 2
_INT32_MAX = 2**31 - 1
# SQLite calls the progress handler every this many virtual-machine steps: a row of a
# scan takes 10 to 30, so the clock is read every ~50 rows or ~30 µs of a long statement
# (a call costs ~0.2 µs: well under 1 %).
PROGRESS_STEPS = 1000


class SliceEnded(Exception):
    """A slice of a many-document write used its share of the writer: the rest follows
    in another slice. Not an error, and never raised to the operation's caller."""


class Limit:
    """When a job must stop: its `deadline` (a `time.monotonic()` value) and the limit
    that set it, for the message; `stop_at` is sooner inside a slice's budget."""

    __slots__ = ("deadline", "reason", "stop_at")

    def __init__(self, deadline: float, reason: str) -> None:
        self.deadline = deadline
        self.reason = reason
        self.stop_at = deadline

    def passed(self) -> bool:
        """Whether the deadline has passed (a job not started yet is then not started)."""
        return monotonic() >= self.deadline

    def timeout(self) -> ExecutionTimeout:
        """MongoDB's error for an operation past its time, naming the limit."""
        message = f"operation exceeded time limit: {self.reason}"
        details = {
            "ok": 0.0,
            "errmsg": message,
            "code": MAX_TIME_MS_EXPIRED,
            "codeName": "MaxTimeMSExpired",
        }
        return ExecutionTimeout(message, MAX_TIME_MS_EXPIRED, details)

    def stop(self) -> NoReturn:
        """Raise why the job stops now: its time is up, or only its slice's."""
        raise self.why()

    def why(self) -> Exception:
        """The error of a job stopped now: ExecutionTimeout, or SliceEnded before that."""
        return self.timeout() if monotonic() >= self.deadline else SliceEnded()


class _Running(threading.local):
    limit: Limit | None = None  # the limit of the job this thread runs


_running = _Running()


def max_time_ms(options: Mapping[str, Any]) -> int | None:
    """The ``max_time_ms`` or ``maxTimeMS`` option, checked as MongoDB checks it (None or
    0: no limit)."""
    for name in ("max_time_ms", "maxTimeMS"):
        value = options.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OperationFailure(f"{name} must be a number", _BAD_VALUE)
        if isinstance(value, float) and not value.is_integer():  # inf and nan too
            raise OperationFailure(f"{name} has non-integral value", _BAD_VALUE)
        if not 0 <= value <= _INT32_MAX:
            raise OperationFailure(f"{name} is out of range", _BAD_VALUE)
        return int(value) or None
    return None


def after(milliseconds: int | None) -> Limit | None:
    """The limit of an operation given ``maxTimeMS``, counted from now (None: none)."""
    if not milliseconds:
        return None
    return Limit(monotonic() + milliseconds / 1000, f"maxTimeMS of {milliseconds} ms")


_last_call = Limit(-math.inf, "the caller's deadline")  # see `sooner`


def sooner(limit: Limit | None, deadline: float | None) -> Limit | None:
    """The earlier of an operation's limit and the caller's deadline."""
    global _last_call
    if deadline is None or (limit is not None and limit.deadline <= deadline):
        return limit
    if _last_call.deadline != deadline:  # a call's store operations share one Limit
        _last_call = Limit(deadline, "the caller's deadline")
    return _last_call


def run(limit: Limit | None, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` under `limit`; ExecutionTimeout without calling it if already past."""
    if limit is None:
        return fn(*args)
    if limit.passed():
        raise limit.timeout()
    outer = _running.limit
    _running.limit = limit
    try:
        return fn(*args)
    finally:
        _running.limit = outer


def check() -> None:
    """Stop the running job if its time (or its slice's) is up."""
    limit = _running.limit
    if limit is not None and monotonic() >= limit.stop_at:
        limit.stop()


def checked(items: Iterable[T], every: int = 1) -> Iterable[T]:
    """`items`, with the running job's time checked before each of them, or before every
    `every`-th (a power of two) and the first: nested loops are checked at each start.

    Each check costs about 0.1 µs, against 1 µs or more of work an item in the loops that
    use it: every document through a stage, every element through ``$map``.
    """
    limit = _running.limit
    return items if limit is None else _checked(items, limit, every - 1)


def _checked(items: Iterable[T], limit: Limit, mask: int) -> Iterator[T]:
    for i, item in enumerate(items):
        if not i & mask and monotonic() >= limit.stop_at:
            limit.stop()
        yield item


@contextlib.contextmanager
def budget(until: float) -> Iterator[None]:
    """Raise `SliceEnded` in the enclosed work once `until` (a `time.monotonic()` value)
    has passed, or ExecutionTimeout at the job's own limit if that comes first."""
    outer = _running.limit
    limit = Limit(math.inf, "") if outer is None else Limit(outer.deadline, outer.reason)
    limit.stop_at = min(limit.deadline, until)
    _running.limit = limit
    try:
        yield
    finally:
        _running.limit = outer


class _Interrupting:
    """Stops `conn`'s statements once `limit` is due, through SQLite's progress handler.

    Only around read statements: interrupting a write statement makes SQLite roll back
    the whole transaction, the other jobs of the writer's group included.
    """

    __slots__ = ("conn", "limit")

    def __init__(self, conn: sqlite3.Connection, limit: Limit) -> None:
        self.conn = conn
        self.limit = limit

    def __enter__(self) -> None:
        limit = self.limit
        self.conn.set_progress_handler(lambda: monotonic() >= limit.stop_at, PROGRESS_STEPS)

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        self.conn.set_progress_handler(None, 0)
        if (
            isinstance(exc, sqlite3.OperationalError)
            and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT
            and monotonic() >= self.limit.stop_at
        ):
            raise self.limit.why() from None


_UNLIMITED = contextlib.nullcontext()


def interruptible(conn: sqlite3.Connection) -> contextlib.AbstractContextManager[None]:
    """Around read statements on `conn`: stop them once the running job's time is up."""
    limit = _running.limit
    return _UNLIMITED if limit is None else _Interrupting(conn, limit)
