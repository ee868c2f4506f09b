"""The embedded engine: one SQLite file, one writer thread, reader connections per thread.

Every write runs on the writer thread, on its own connection. The writer takes all the
writes waiting in its queue and commits them in one transaction (group commit), each in
its own SAVEPOINT so a failing write leaves the others intact; concurrent callers thus
share one fsync. Reads run on two reader threads (WAL lets them proceed while the
writer commits), so a slow query never stalls the event loop; a short read (a point
lookup, or a bounded slice of an index range) may run inline on the calling thread,
where a thread hop would cost more than the read, unless it would match a pattern or
evaluate an expression (see `Collection`).

Queued reads are served in turns across callers, as `caller` names them (see
`FairQueue`): one caller's many slow reads delay another's by at most one read, and
while others wait one caller holds at most all readers but one.

Every job runs under a time limit (see `deadlines`): the least of its operation's
``maxTimeMS`` and the caller's `deadline`. A job past it is not started, a running one
stops with ExecutionTimeout (code 50), and a write job is rolled back.

A disk that fills up or turns read-only fails the writes of that transaction with
MongoDB's errors (see `faults`), rolls it back whole, and is remembered as the store's
`fault` until a write succeeds again.
"""

import asyncio
import contextlib
import functools
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from tessera.store.bounds import deadlines
from tessera.store.bounds.deadlines import Limit
from tessera.store.engine import documents, faults
from tessera.store.engine.catalog import Catalog
from tessera.store.engine.fair_queue import FairQueue

__all__ = ["Engine", "WriteJob", "caller", "deadline"]

#: Who is asking, for fair reads: any hashable, None (the default) being one caller like
#: any other. The runtime sets it for each plugin call (to the calling user's id); reads
#: queued for the reader threads are served in turns across its values.
caller: ContextVar[Hashable] = ContextVar("tessera_store_caller", default=None)
#: When the caller's store work must be done: an absolute `time.monotonic()` value, or
#: None (the default) for no deadline. The runtime sets it to each plugin call's own
#: deadline, so no store job outlives the call that asked for it.
deadline: ContextVar[float | None] = ContextVar("tessera_store_deadline", default=None)

T = TypeVar("T")
WriteJob = Callable[[sqlite3.Connection, Catalog], T]
ReadJob = Callable[[sqlite3.Connection, Catalog], T]

_MAX_GROUP = 64
_READERS = 2
_READER_CACHE_KIB = 16_000
# Bulk inserts spread over many users dirty one index leaf page per user and commit; a
# larger writer cache and a checkpoint every ~40 MB of WAL (not SQLite's 4 MB) copy each
# hot page back to the database once per many commits: about 1.4x faster at 1M documents.
# 96 MB rather than 64 MB holds that index whole at 1M documents: 3% more inserts/s.
_WRITER_CACHE_KIB = 96_000
_CHECKPOINT_PAGES = 10_000
# Reads through a memory map rather than a read() per page: a per-user query touches a
# page per document, and at 1M documents this took its median from 0.50 to 0.29 ms.
_MMAP_BYTES = 1 << 30
_STOP = object()
# SQLite's user_version header field holds the catalog's stamp: every commit that changes
# a collection or index bumps it, so each process sharing the file sees the change at its
# next operation (reading it costs about a microsecond).
_STAMP_MODULO = 1 << 31


@dataclass
class _Pending:
    fn: Callable[..., Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    limit: Limit | None
    alone: bool = False  # committed in a group of its own (see `Engine.write`)


class Engine:
    """A SQLite file opened for documents; `path=None` makes a throwaway in-memory store.

    :param path: the database file (created if absent).
    :param synchronous: SQLite's ``synchronous`` pragma; FULL (the default) fsyncs every
        commit, so an acknowledged write survives a crash or power loss.
    """

    def __init__(self, path: str | None, *, synchronous: str = "FULL") -> None:
        self._tempdir: str | None = None
        if path is None:
            base = "/dev/shm" if os.path.isdir("/dev/shm") else None
            self._tempdir = tempfile.mkdtemp(prefix="tessera-", dir=base)
            path = os.path.join(self._tempdir, "memory.db")
            synchronous = "OFF"
        self.path = path
        self._synchronous = synchronous
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        writer = self._connect()
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
        writer.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        Catalog.create_schema(writer)
        self._writer_conn = writer
        self._stamp, self._work = _load(writer)
        # What readers plan with, and its stamp; replaced by the writer on commit.
        self._published = (self._stamp, self._work.copy())
        self._work.shadow = self._published[1]
        # The catalog a reader loaded for a stamp the writer has not published (another
        # process changed it), shared by every thread: a plan is kept only while the
        # catalog it was made on is the one its read uses.
        self._followed = self._published
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="tessera-writer")
        self._writer.daemon = True
        self._writer.start()
        self._reads: FairQueue[_Pending] = FairQueue(share=_READERS - 1)
        self._readers = [
            threading.Thread(target=self._read_loop, name=f"tessera-read-{i}", daemon=True)
            for i in range(_READERS)
        ]
        for reader in self._readers:
            reader.start()
        self._closed = False
        self._stale = False  # set by the writer when a failed job touched the catalog
        #: Why writes fail now (`faults.DISK_FULL`, `faults.READ_ONLY`), or None.
        self.fault: str | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        conn.execute(f"PRAGMA busy_timeout={faults.BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA cache_size=-{_READER_CACHE_KIB}")
        conn.execute(f"PRAGMA mmap_size={_MMAP_BYTES}")
        with self._lock:
            self._connections.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    # The catalog

    @property
    def catalog(self) -> Catalog:
        """The collections and indexes as the file has them now, whichever process made
        them; on the calling thread's reader connection."""
        return self._catalog_on(self._reader())

    def _catalog_on(self, conn: sqlite3.Connection) -> Catalog:
        """The catalog of ``conn``'s view of the file (its snapshot, when in one)."""
        stamp = _stamp(conn)
        for known, catalog in (self._published, self._followed):
            if stamp == known:
                return catalog
        # Another process changed it, or this writer has not published it yet.
        followed = self._followed = _load(conn)
        return followed[1]

    # Reads

    def read_now(
        self,
        fn: ReadJob[T],
        *,
        snapshot: bool = True,
        limit: Limit | None = None,
        catalog: Catalog | None = None,
    ) -> T:
        """Run `fn` on the calling thread, in one read snapshot, if its time is not up.

        `snapshot=False` skips the explicit transaction, for a read of one statement; its
        `catalog`, when the caller has just read it on this thread (`catalog`), is not
        read again (a statement a read, each point read paid two). On the event loop,
        only for short reads that match no pattern and evaluate no expression
        (`query.evaluates`): those go to `read`, off the loop. Being short, they are not
        timed once started.
        """
        self._check_open()
        called_by = deadline.get()
        if called_by is not None:
            limit = deadlines.sooner(limit, called_by)
        if limit is not None and limit.passed():
            raise limit.timeout()
        if not snapshot and catalog is not None:
            return fn(self._reader(), catalog)
        return self._read_here(fn, snapshot)

    def _read_here(self, fn: ReadJob[T], snapshot: bool) -> T:
        conn = self._reader()
        if not snapshot:
            return fn(conn, self._catalog_on(conn))
        conn.execute("BEGIN")
        try:
            return fn(conn, self._catalog_on(conn))
        finally:
            conn.execute("COMMIT")

    async def read(self, fn: ReadJob[T], *, snapshot: bool = True, limit: Limit | None = None) -> T:
        """Run `fn` on a reader thread, in one read snapshot (see `read_now`), stopped
        once `limit` or the caller's `deadline` has passed."""
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        run = functools.partial(self._read_here, fn, snapshot)
        job = _Pending(run, loop, future, deadlines.sooner(limit, deadline.get()))
        self._reads.put(caller.get(), job)
        return await future

    def _read_loop(self) -> None:
        # A queue of our own and call_soon_threadsafe: about half the cost of run_in_executor.
        while (taken := self._reads.get()) is not None:
            key, job = taken
            try:
                if job.future.cancelled():
                    continue  # its caller is gone: nobody waits for it
                result, error = deadlines.run(job.limit, job.fn), None
            except BaseException as exc:  # handed to the caller's future
                result, error = None, exc
            finally:
                self._reads.done(key)
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, result, error)

    # Writes

    async def write(self, fn: WriteJob[T], *, limit: Limit | None = None, alone: bool = False) -> T:
        """Run `fn` on the writer thread inside a transaction; return once it is durable.

        Rolled back with ExecutionTimeout once `limit` or the caller's `deadline` passes.
        `alone` commits it in a transaction of its own, for a long job (a slice of a large
        write): other jobs committed with it would wait for it to end.
        """
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        called_by = deadline.get()
        if called_by is not None:
            limit = deadlines.sooner(limit, called_by)
        self._queue.put(_Pending(fn, loop, future, limit, alone))
        return await future

    def _write_loop(self) -> None:
        held: _Pending | None = None  # a job to run alone, taken while gathering a group
        while True:
            if held is not None:
                item, held = held, None
            else:
                item = self._queue.get()
            if item is _STOP:
                return
            batch, held = self._gather(item)
            self._commit_group(batch)

    def _gather(self, first: _Pending) -> tuple[list[_Pending], _Pending | None]:
        """`first` and the jobs queued behind it, up to one to run alone (returned apart)."""
        batch = [first]
        while not first.alone and len(batch) < _MAX_GROUP:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is _STOP:
                self._queue.put(_STOP)
                break
            if more.alone:
                return batch, more
            batch.append(more)
        return batch, None

    def _commit_group(self, batch: list[_Pending]) -> None:
        version = self._work.version
        self._stale = False
        try:
            outcomes = self._run_group(batch)
        except Exception as exc:  # the transaction itself failed: nothing was written
            conn = self._writer_conn
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            outcomes = [(job, None, exc) for job in batch]
            self._stale = True
        outcomes = self._note_faults(outcomes)
        if self._stale:
            # A rolled-back job may have changed the writer's catalog: read it again.
            self._stamp, self._work = _load(self._writer_conn)
        if self._stale or self._work.version != version:
            self._published = (self._stamp, self._work.copy())
            self._work.shadow = self._published[1]
        for job, result, error in outcomes:
            # A closed loop raises RuntimeError: its caller is gone, nobody is waiting.
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(_settle, job.future, result, error)

    def _note_faults(
        self, outcomes: list[tuple[_Pending, Any, BaseException | None]]
    ) -> list[tuple[_Pending, Any, BaseException | None]]:
        """Remember whether the disk let the group write, and give its failures MongoDB's
        errors."""
        noted = []
        fault = None
        for job, result, error in outcomes:
            if error is not None:
                fault = fault or faults.fault_of(error)
                error = faults.translate(error)
            noted.append((job, result, error))
        if fault is not None:
            self.fault = fault
        elif any(error is None for _, _, error in outcomes):
            self.fault = None
        return noted

    async def probe(self) -> str | None:
        """Why writes fail now, trying one when the last ones failed for the disk: so a
        disk given room or made writable again is seen without waiting for a write."""
        if self.fault is None:
            return None
        if self.fault == faults.DISK_FULL and not faults.has_room(self.path):
            return self.fault

        def touch(conn: sqlite3.Connection, catalog: Catalog) -> None:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute(f"PRAGMA user_version={int(version)}")

        with contextlib.suppress(Exception):  # the failure is noted as the fault
            await self.write(touch)
        return self.fault

    def _run_group(self, batch: list[_Pending]) -> list[tuple[_Pending, Any, BaseException | None]]:
        """One transaction, one SAVEPOINT per job; raises only if the commit fails.

        A lone job needs no savepoint: if it fails, the whole transaction rolls back.
        That saves two statements per write, and SQLite copying each page the job
        changes to the savepoint's journal.
        """
        conn = self._writer_conn
        outcomes: list[tuple[_Pending, Any, BaseException | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        if _stamp(conn) != self._stamp:
            # Another process changed the catalog: write with its collections and indexes,
            # and publish them to the readers after the commit.
            self._stamp, self._work = _load(conn)
            self._stale = True
        version = self._work.version
        if len(batch) == 1:
            job = batch[0]
            before = self._work.version
            try:
                if job.limit is None:
                    result = job.fn(conn, self._work)
                else:
                    result = deadlines.run(job.limit, job.fn, conn, self._work)
            except BaseException as exc:  # handed to the caller's future
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._stale = self._stale or self._work.version != before
                return [(job, None, exc)]
            self._commit(conn, version)
            return [(job, result, None)]
        for job in batch:
            conn.execute("SAVEPOINT job")
            before = self._work.version
            try:
                result = deadlines.run(job.limit, job.fn, conn, self._work)
            except BaseException as exc:  # handed to the caller's future
                if not conn.in_transaction:
                    raise  # SQLite rolled back everything (a full disk): every job fails
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((job, None, exc))
                self._stale = self._stale or self._work.version != before
            else:
                conn.execute("RELEASE job")
                outcomes.append((job, result, None))
        self._commit(conn, version)
        return outcomes

    def _commit(self, conn: sqlite3.Connection, version: int) -> None:
        """Commit; with a new stamp when the catalog changed since ``version``."""
        if self._work.version != version:
            self._stamp = (self._stamp + 1) % _STAMP_MODULO
            conn.execute(f"PRAGMA user_version={self._stamp}")
        conn.execute("COMMIT")

    # Lifecycle

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the store is closed; open a new client")

    def close(self) -> None:
        """Finish queued writes, then close every connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
        self._reads.stop(len(self._readers))
        for reader in self._readers:
            reader.join()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)


def _stamp(conn: sqlite3.Connection) -> int:
    """The catalog's stamp in the file, as ``conn`` sees it."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _load(conn: sqlite3.Connection) -> tuple[int, Catalog]:
    """The catalog and its stamp in one snapshot: ``conn``'s transaction, or a read
    transaction of its own. Read outside one, another process making a collection and
    its index between the two tables' reads left an index of a collection not read
    (KeyError at start-up, when two ``--workers`` opened a new store at once)."""
    if conn.in_transaction:
        return _stamp(conn), Catalog.load(conn)
    conn.execute("BEGIN")
    try:
        return _stamp(conn), Catalog.load(conn)
    finally:
        conn.execute("COMMIT")


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.cancelled():
        return
    if isinstance(exc, RecursionError):  # a call's input is checked: a value it made
        exc = documents.made_too_deep()
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
