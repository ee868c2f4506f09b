"""The event backend of the workers of one machine: events in the file they share.

``publish`` queues the event; a sender task writes the queue to the events table, in
order, and rings the workers' bells (cluster/shared.py). Each subscription (the same
plugin, pattern and handler in every worker) is a group with a cursor in the table:
a worker takes the group's next events in one write transaction, so each event goes to
one worker, and holds them under a lease until its handler succeeds. A failing handler is
retried with a growing delay; after the last attempt the event is kept in the dead-letter
table. An event whose lease ran out (its worker died) is taken by another worker.
Subscriptions made with ``every_process=True`` read the table without a group: every
worker handles each event. As with Redis (events/redis.py), a group starts at the events
published after a worker first held its subscription.

Every plugin call publishes, so an event is written only when a subscription of some
worker matches it: each worker lists its subscriptions in the file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import sqlite3
import time
from typing import TYPE_CHECKING

from tessera.cluster.shared import SharedFile, woken
from tessera.services.events import wire
from tessera.services.events.base import Deliver, Event

if TYPE_CHECKING:
    from tessera.services.event_bus import EventBus, Subscription

logger = logging.getLogger("tessera.events")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, data BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_groups (
    name TEXT PRIMARY KEY, next INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_leases (
    name TEXT NOT NULL, id INTEGER NOT NULL, until REAL NOT NULL,
    deliveries INTEGER NOT NULL, PRIMARY KEY (name, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_dead (
    name TEXT NOT NULL, subscription TEXT NOT NULL, data BLOB NOT NULL,
    attempts INTEGER NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS event_subscriptions (
    node TEXT NOT NULL, pattern TEXT NOT NULL, PRIMARY KEY (node, pattern)
) WITHOUT ROWID;
"""

#: Attempts of a handler before its event goes to the dead-letter table.
MAX_ATTEMPTS = 5
#: Events accepted and not yet written, beyond which ``publish`` refuses.
MAX_OUTBOX = 100_000
#: Seconds an event is kept after every group took it (for ``every_process`` readers).
KEEP_SECONDS = 60.0
_TOPIC = "events"
_SUBSCRIBED = "subscriptions"
# Per subscription and worker: events handled at once.
_IN_FLIGHT = 16
_SEND_BATCH = 200
_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
# A worker may still be running a handler this long after the timeout.
_LEASE_MARGIN = 2.0
_SUPERVISE_SECONDS = 0.2
_SWEEP_SECONDS = 30.0

Taken = tuple[int, str, bytes, int]  # id, name, data, deliveries


def _delay(attempt: int) -> float:
    return _RETRY_DELAYS[min(attempt, len(_RETRY_DELAYS) - 1)]


def _matches(pattern: str, name: str) -> bool:
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


class SharedEventBackend:
    """Delivers each event once per subscription across the workers, through the file."""

    local = False

    def __init__(self, shared: SharedFile, bus: EventBus, *, handler_timeout: float) -> None:
        shared.schema(_SCHEMA)
        self._shared = shared
        self._bus = bus
        self._lease = handler_timeout + _LEASE_MARGIN
        self._outbox: collections.deque[tuple[str, bytes]] = collections.deque()
        self._queued = asyncio.Event()
        self._patterns: set[str] = set()  # every worker's subscriptions
        self._mine: set[str] = set()  # this worker's, as listed in the file
        self._tasks: list[asyncio.Task[None]] = []
        self._groups: dict[str, asyncio.Task[None]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._running = False

    # Publishing

    def start(self, deliver: Deliver) -> None:
        self._running = True
        self._tasks = [
            asyncio.create_task(self._send(), name="tessera-events-send"),
            asyncio.create_task(self._supervise(), name="tessera-events-groups"),
            asyncio.create_task(self._every_process(), name="tessera-events-all"),
            asyncio.create_task(self._follow_patterns(), name="tessera-events-patterns"),
        ]

    def publish(self, event: Event) -> None:
        if not self._running:
            logger.warning("event %r dropped: the event bus is not running", event.name)
            return
        if not self._bus.subscriptions(event.name) and not any(
            _matches(pattern, event.name) for pattern in self._patterns
        ):
            return  # no worker subscribes to it
        if len(self._outbox) >= MAX_OUTBOX:
            raise RuntimeError(f"cannot publish an event: {MAX_OUTBOX} events wait to be written")
        self._outbox.append((event.name, wire.encode(event)))
        self._queued.set()

    async def _send(self) -> None:
        """Write the queue to the table in order, many events a transaction."""
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._outbox:
                count = min(_SEND_BATCH, len(self._outbox))
                now = time.time()
                rows = [(*self._outbox.popleft(), now) for _ in range(count)]
                try:
                    await self._shared.run(functools.partial(_write, rows), ring=_TOPIC)
                except sqlite3.Error:
                    logger.exception("%d events could not be written", len(rows))

    async def stop(self) -> None:
        self._running = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while self._outbox:
                    await asyncio.sleep(0.02)
        if self._outbox:
            logger.error("%d events not written before shutdown", len(self._outbox))
        tasks = [*self._tasks, *self._groups.values(), *self._handlers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._groups = [], {}

        def unlist(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM event_subscriptions WHERE node = ?", (self._shared.node,))

        await self._shared.run(unlist, ring=_SUBSCRIBED)

    # Which events any worker wants

    async def _follow_patterns(self) -> None:
        bell = self._shared.listen(_SUBSCRIBED)

        def read(conn: sqlite3.Connection) -> set[str]:
            # Workers that stopped without a word: their bells are gone from the members.
            return {
                pattern
                for (pattern,) in conn.execute(
                    "SELECT pattern FROM event_subscriptions "
                    "WHERE node IN (SELECT node FROM members)"
                )
            }

        while True:
            self._patterns = await self._shared.run(read)
            await woken(bell)

    async def _list_mine(self, patterns: set[str]) -> None:
        node = self._shared.node

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM event_subscriptions WHERE node = ?", (node,))
            conn.executemany(
                "INSERT INTO event_subscriptions VALUES (?, ?)", [(node, p) for p in patterns]
            )

        await self._shared.run(write, ring=_SUBSCRIBED)
        self._mine = patterns

    # Consuming, once per subscription

    async def _supervise(self) -> None:
        """List this worker's subscriptions, and run a consumer for each, as plugins
        (un)subscribe; now and then drop the events every group has taken."""
        swept = time.monotonic()
        while True:
            subscriptions = self._bus.all_subscriptions()
            patterns = {s.event for s in subscriptions}
            if patterns != self._mine:
                await self._list_mine(patterns)
            wanted = {s.key for s in subscriptions if not s.every_process}
            for key in wanted - set(self._groups):
                self._groups[key] = asyncio.create_task(self._consume(key))
            for key in set(self._groups) - wanted:
                self._groups.pop(key).cancel()
            if time.monotonic() - swept > _SWEEP_SECONDS:
                swept = time.monotonic()
                await self._shared.run(_sweep)
            await asyncio.sleep(_SUPERVISE_SECONDS)

    def _subscription(self, key: str) -> Subscription | None:
        return next((s for s in self._bus.all_subscriptions() if s.key == key), None)

    async def _consume(self, group: str) -> None:
        """Take the group's events (new ones, and those whose lease ran out) and handle
        each with the subscription, a few at a time."""
        bell = self._shared.listen(_TOPIC)
        running: set[asyncio.Task[None]] = set()
        await self._shared.run(lambda conn: _create_group(conn, group))
        try:
            while True:
                free = _IN_FLIGHT - len(running)
                taken = await self._shared.run(
                    functools.partial(self._take, group=group, count=free)
                )
                for id_, name, data, deliveries in taken:
                    task = asyncio.create_task(self._handle(group, id_, name, data, deliveries))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if len(running) >= _IN_FLIGHT:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                elif len(taken) < free:
                    await woken(bell)
        finally:
            self._shared.unlisten(_TOPIC, bell)
            for task in running:
                task.cancel()

    def _take(self, conn: sqlite3.Connection, *, group: str, count: int) -> list[Taken]:
        now = time.time()
        until = now + self._lease
        expired = conn.execute(
            "SELECT l.id, e.name, e.data, l.deliveries + 1 FROM event_leases l "
            "JOIN events e ON e.id = l.id WHERE l.name = ? AND l.until < ? LIMIT ?",
            (group, now, count),
        ).fetchall()
        for id_, _, _, _ in expired:
            logger.warning("event %s of %s taken over after its worker went silent", id_, group)
            conn.execute(
                "UPDATE event_leases SET until = ?, deliveries = deliveries + 1 "
                "WHERE name = ? AND id = ?",
                (until, group, id_),
            )
        (start,) = conn.execute("SELECT next FROM event_groups WHERE name = ?", (group,)).fetchone()
        new = conn.execute(
            "SELECT id, name, data, 1 FROM events WHERE id >= ? ORDER BY id LIMIT ?",
            (start, count - len(expired)),
        ).fetchall()
        if new:
            conn.executemany(
                "INSERT INTO event_leases VALUES (?, ?, ?, 1)",
                [(group, id_, until) for id_, _, _, _ in new],
            )
            conn.execute("UPDATE event_groups SET next = ? WHERE name = ?", (new[-1][0] + 1, group))
        return [*expired, *new]

    async def _handle(self, group: str, id_: int, name: str, data: bytes, deliveries: int) -> None:
        subscription = self._subscription(group)
        if subscription is None:
            return  # unsubscribed meanwhile: its lease lets another worker take it
        event = wire.decode(name, data)
        attempt = deliveries
        if subscription.matches(name):
            while not await self._bus.handle(subscription, event):
                if attempt >= MAX_ATTEMPTS:
                    await self._dead_letter(group, name, data, attempt)
                    break
                await asyncio.sleep(_delay(attempt - 1))
                attempt += 1
                await self._shared.run(lambda conn: self._renew(conn, group, id_))

        def acknowledge(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM event_leases WHERE name = ? AND id = ?", (group, id_))

        await self._shared.run(acknowledge)

    def _renew(self, conn: sqlite3.Connection, group: str, id_: int) -> None:
        conn.execute(
            "UPDATE event_leases SET until = ?, deliveries = deliveries + 1 "
            "WHERE name = ? AND id = ?",
            (time.time() + self._lease, group, id_),
        )

    async def _dead_letter(self, group: str, name: str, data: bytes, attempts: int) -> None:
        logger.error(
            "event %r gave up after %d attempts of %s; kept in %s (event_dead)",
            name,
            attempts,
            group,
            self._shared.path,
        )

        def keep(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO event_dead VALUES (?, ?, ?, ?, ?)",
                (name, group, data, attempts, time.time()),
            )

        await self._shared.run(keep)

    # Consuming in every worker

    async def _every_process(self) -> None:
        """Hand every new event to this worker's ``every_process`` subscriptions."""
        bell = self._shared.listen(_TOPIC)

        ((last,),) = await self._shared.select("SELECT COALESCE(MAX(id), 0) FROM events")
        while True:
            rows = await self._shared.select(
                "SELECT id, name, data FROM events WHERE id > ? ORDER BY id LIMIT ?",
                *(last, _SEND_BATCH),
            )
            for _, name, data in rows:
                self._handle_everywhere(name, data)
            if rows:
                last = rows[-1][0]
            if len(rows) < _SEND_BATCH:
                await woken(bell)

    def _handle_everywhere(self, name: str, data: bytes) -> None:
        local = [s for s in self._bus.all_subscriptions() if s.every_process and s.matches(name)]
        if not local:
            return
        event = wire.decode(name, data)
        for subscription in local:
            task = asyncio.create_task(self._run_everywhere(subscription, event))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _run_everywhere(self, subscription: Subscription, event: Event) -> None:
        await self._bus.handle(subscription, event)


def _write(rows: list[tuple[str, bytes, float]], conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT INTO events (name, data, at) VALUES (?, ?, ?)", rows)


def _create_group(conn: sqlite3.Connection, group: str) -> None:
    """The group starts after the newest event (ids are never reused: AUTOINCREMENT)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    start = (int(row[0]) if row else 0) + 1
    conn.execute("INSERT OR IGNORE INTO event_groups VALUES (?, ?)", (group, start))


def _sweep(conn: sqlite3.Connection) -> None:
    """Drop events every group has taken and no lease holds, once old enough for the
    ``every_process`` readers; and events an hour old that no lease holds (a group whose
    plugin is gone holds none back)."""
    now = time.time()
    conn.execute(
        "DELETE FROM events WHERE at < ? AND id NOT IN (SELECT id FROM event_leases) AND "
        "(at < ? OR id < (SELECT COALESCE(MIN(next), 0) FROM event_groups))",
        (now - KEEP_SECONDS, now - 3600),
    )
