"""What the workers of ``tessera serve --workers N`` share on one machine, with no server.

With the embedded store and no Redis, the workers keep their shared state (WebSocket
sequences and resume window, events, rate limits and caps, plugin switches) in one SQLite
file of the data folder, ``workers.db``, apart from the store so their short
transactions never queue behind the store's writes. A write there is durable and atomic
across processes; to learn of it at once, each worker has a doorbell, a Unix datagram
socket listed in the file: the writer rings every worker's bell, and a worker that
missed one (its buffer full) still finds the rows at its next look, a second later.

Measured on the 2-core machine (docs/performance.md, bench/shared_state.py): a token
taken in this file costs 17-18 us at the median from two processes at once, against
133-189 us for a round trip to a hub thread over a Unix socket; so no process owns the
state and none must outlive the others. What the file holds is the workers' coordination
(sequences, recent messages, queued events, counters): it survives a worker's crash and a
restart, not a crash of the machine, which may cost the events still queued, as Redis
without its append-only file would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tessera.datafolder import create_private_file
from tessera.settings import Settings

logger = logging.getLogger("tessera.workers")

T = TypeVar("T")

FILENAME = "workers.db"
#: Seconds between a listener's looks at the file when no bell rings.
LOOK_EVERY = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS members (node TEXT PRIMARY KEY, bell TEXT NOT NULL) WITHOUT ROWID;
"""


class SharedFile:
    """One worker's link to the file the workers share, and its doorbell.

    :param folder: the data folder; the file is created there.
    """

    def __init__(self, folder: Path) -> None:
        #: Identifies this process among the workers (message origins, consumers).
        self.node = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.path = Path(folder) / FILENAME
        try:
            self._conn = _open(self.path)
        except sqlite3.DatabaseError as exc:
            # Only a crash of the machine itself can do this (synchronous=OFF, below).
            aside = self.path.with_name(f"{FILENAME}.damaged-{int(time.time())}")
            logger.error("%s is damaged (%s); moved to %s, starting afresh", self.path, exc, aside)
            self.path.rename(aside)
            self._conn = _open(self.path)
        # One thread: the loop never waits on a lock another process holds.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="tessera-workers")
        # A short path of its own: a data folder's may pass the 107 bytes a socket allows.
        self._bell_dir = tempfile.mkdtemp(prefix="tessera-bell-")
        self._bell_path = os.path.join(self._bell_dir, "bell")
        self._bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._bell.bind(self._bell_path)
        self._bell.setblocking(False)
        self._listeners: dict[str, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def schema(self, sql: str) -> None:
        """Create the tables a backend needs, if the file has none yet."""
        self._conn.executescript(sql)

    # Running statements

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, ring: str = "") -> T:
        """``fn(connection)`` on the file's thread, in one write transaction; then, once
        it is committed, ring ``ring`` (a topic) on every worker's bell."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._immediate, fn, ring)

    async def select(self, sql: str, *params: object) -> list[Any]:
        """The rows of one query, on the file's thread."""
        return await self.run(lambda conn: conn.execute(sql, params).fetchall())

    def _immediate(self, fn: Callable[[sqlite3.Connection], T], ring: str) -> T:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        if ring:
            self._ring(ring)
        return result

    # Doorbells

    async def start(self) -> None:
        """Join the workers: list this bell, and listen to it."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._bell.fileno(), self._heard)

        def join(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO members VALUES (?, ?)", (self.node, self._bell_path)
            )

        await self.run(join)

    def listen(self, topic: str) -> asyncio.Event:
        """An event set whenever a worker (this one too) rings ``topic``; the listener
        clears it before it reads the file, so no ring falls between the two."""
        event = asyncio.Event()
        self._listeners.setdefault(topic, set()).add(event)
        return event

    def unlisten(self, topic: str, event: asyncio.Event) -> None:
        self._listeners.get(topic, set()).discard(event)

    def _ring(self, topic: str) -> None:
        conn = self._conn
        data = topic.encode()
        gone = []
        for node, bell in conn.execute("SELECT node, bell FROM members").fetchall():
            if node == self.node:
                continue
            try:
                self._bell.sendto(data, bell)
            except (FileNotFoundError, ConnectionRefusedError):
                gone.append(node)  # that worker has stopped
            except BlockingIOError:
                pass  # its buffer is full of rings: it will look
        for node in gone:
            conn.execute("DELETE FROM members WHERE node = ?", (node,))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake, topic)

    def _heard(self) -> None:
        while True:
            try:
                data = self._bell.recv(256)
            except BlockingIOError:
                return
            self._wake(data.decode(errors="replace"))

    def _wake(self, topic: str) -> None:
        for event in self._listeners.get(topic, ()):
            event.set()

    async def close(self) -> None:
        """Leave the workers: unlist and close the bell, close the file."""
        if self._loop is not None:
            self._loop.remove_reader(self._bell.fileno())

            def leave(conn: sqlite3.Connection) -> None:
                conn.execute("DELETE FROM members WHERE node = ?", (self.node,))

            with contextlib.suppress(sqlite3.Error):
                await self.run(leave)
        self._bell.close()
        shutil.rmtree(self._bell_dir, ignore_errors=True)
        self._thread.shutdown(wait=True)
        self._conn.close()


def _open(path: Path) -> sqlite3.Connection:
    create_private_file(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_mode=WAL")
    # Safe across a crash of any process (WAL); not fsynced, so not across a crash of the
    # machine. With NORMAL, a checkpoint's fsync holds the lock: two workers taking tokens
    # at once waited 13-19 ms at p99, against 0.15-0.19 ms with OFF (docs/performance.md).
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(_SCHEMA)
    return conn


async def woken(event: asyncio.Event, timeout: float = LOOK_EVERY) -> None:
    """Wait until ``event`` is set or ``timeout`` passes, then clear it."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    event.clear()


def prepare_workers(settings: Settings) -> None:
    """Before ``serve --workers N`` starts its workers: make the data folder and open
    each embedded store once (its file, WAL mode, catalog tables), so the workers find
    them made rather than race to make them."""
    from tessera.datafolder import embedded_store_path, prepare_data_folder, store_uris
    from tessera.store import open_client

    prepare_data_folder(settings)
    for uri in store_uris(settings):
        if embedded_store_path(uri) is not None:
            open_client(uri).engine.close()
