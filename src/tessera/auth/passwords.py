"""Password hashing with argon2id, off the event loop because it is slow on purpose.

Each hash costs tens of milliseconds of CPU and 64 MiB of memory, which makes it the
cheapest way to load the server: a spray of logins once queued hashes without end and a
real login waited seconds behind them. So hashing runs on its own threads, about one per
core, with a short line behind them; past that a hash is refused at once
(:class:`~tessera.auth.errors.HashingBusy`, a 503 with Retry-After), which keeps the
wait of the hashes that do run short.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tessera.auth.errors import HashingBusy

T = TypeVar("T")

_HASHER = PasswordHasher()
# Hashes that may wait for a thread, per thread: a hash then starts within about four
# hash times (a quarter of a second), and a queue this short is soon full under a spray.
WAITING_PER_THREAD = 4


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


class HashingThreads:
    """``threads`` hashing threads and at most ``waiting`` hashes queued for them."""

    def __init__(self, threads: int, waiting: int) -> None:
        self.threads = threads
        self.waiting = waiting
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="password-hash")
        self._lock = threading.Lock()  # taken by event loops and the hashing threads
        self._pending = 0

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Start ``fn(*args)`` on a hashing thread, or raise HashingBusy when the threads
        and the line behind them are full."""
        with self._lock:
            if self._pending >= self.threads + self.waiting:
                raise HashingBusy(
                    "The server is busy checking passwords; retry in a moment.", retry_after=1
                )
            self._pending += 1
        try:
            future = self._pool.submit(self._call, fn, args)
        except BaseException:
            self._finished()
            raise
        future.add_done_callback(self._if_cancelled)
        return future

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a hashing thread, awaited (see :meth:`submit`)."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(*args)
        finally:
            self._finished()  # before its caller hears of the result

    def _if_cancelled(self, future: Future[Any]) -> None:
        if future.cancelled():  # still queued when its caller gave up: it never ran
            self._finished()

    def _finished(self) -> None:
        with self._lock:
            self._pending -= 1


#: The process's hashing threads: hashing is bound by the CPU, which every server in the
#: process shares.
hashing = HashingThreads(_cores(), WAITING_PER_THREAD * _cores())


async def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, computed on a hashing thread; HashingBusy when
    too many hashes are already running and waiting."""
    return await hashing.run(_HASHER.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; False for a damaged hash too.
    HashingBusy when too many hashes are already running and waiting."""
    return await hashing.run(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(password_hash)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
