"""The cluster event backend: events in a Redis stream, one consumer group per subscription.

``publish`` queues the event in this process's outbox, which a sender task appends to the
stream, in order, retrying while Redis is away; the outbox is what makes an accepted event
survive an outage. Each subscription (the same plugin, pattern and handler in every
process) reads the stream through its own consumer group, so Redis gives each event to
one process. An entry is acknowledged once its handler succeeds. A failing handler is
retried with a growing delay; after the last attempt the event is written to the
dead-letter stream. An entry left unacknowledged by a process that died is claimed by
another once it has been idle longer than any handler may run; after an outage a process
reads its own pending entries again (one Redis gave it as the connection broke).
Subscriptions made with ``every_process=True`` read the stream without a group: every
process handles each event.

While Redis is unreachable (``cluster.outage``) an event is handled at once by this
process's subscriptions and kept in the store (events/outbox.py), naming them; once Redis
is back it goes to the stream, where those subscriptions' groups acknowledge it without
handling it again, and the others handle it once. Each event carries an id, by which a
kept event reaches the stream once (events/stream.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import ResponseError

from tessera.cluster.errors import ClusterUnavailable
from tessera.cluster.link import UNREACHABLE, Cluster, cancel
from tessera.services.events import wire
from tessera.services.events.base import Deliver, Event
from tessera.services.events.outbox import EventOutbox
from tessera.services.events.stream import MAX_STREAM, TRIED_AT, EventStream

if TYPE_CHECKING:
    from tessera.services.event_bus import EventBus, Subscription

logger = logging.getLogger("tessera.events")

#: Attempts of a handler before its event goes to the dead-letter stream.
MAX_ATTEMPTS = 5
#: Events accepted while Redis is away, beyond which ``publish`` refuses.
MAX_OUTBOX = 100_000
# Per subscription and process: events handled at once.
_IN_FLIGHT = 16
#: An entry to handle: its id, its fields, and how many times Redis has given it out.
Entry = tuple[bytes, dict[bytes, bytes], int]
_BLOCK_MS = 1000
_SEND_BATCH = 200
_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
_RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0)
# A process may still be running an entry's handler this long after the timeout.
_CLAIM_MARGIN = 2.0
# Seconds between looks for events other processes left in the store's outbox.
_SWEEP_SECONDS = 5.0


def _delay(delays: tuple[float, ...], attempt: int) -> float:
    return delays[min(attempt, len(delays) - 1)]


def _discard(handling: set[bytes], entry_id: bytes, _: asyncio.Task[None]) -> None:
    handling.discard(entry_id)


def _encode(event: Event, event_id: str) -> dict[str, bytes]:
    """The stream fields of ``event``: its name, payload, and who published it."""
    return {"name": event.name.encode(), "data": wire.encode(event), "id": event_id.encode()}


def _handled(fields: dict[bytes, bytes]) -> tuple[str, list[str]]:
    """The process that handled an outage's event at once, and which subscriptions."""
    handled = fields.get(b"handled")
    origin = fields.get(b"origin", b"").decode()
    return origin, orjson.loads(handled) if handled else []


def _decode(fields: dict[bytes, bytes]) -> Event:
    """The event of a stream entry, in a context carrying its publisher's call."""
    return wire.decode(fields[b"name"].decode(), fields[b"data"])


class RedisEventBackend:
    """Delivers each event once per subscription across the cluster, through Redis."""

    local = False

    def __init__(
        self, cluster: Cluster, bus: EventBus, stored: EventOutbox, *, handler_timeout: float
    ) -> None:
        self._cluster = cluster
        self._bus = bus
        self._stored = stored
        self._events = EventStream(cluster)
        self._stream = self._events.key
        self._dead = cluster.key("events", "dead")
        self._claim_after_ms = int((handler_timeout + _CLAIM_MARGIN) * 1000)
        # Accepted while Redis answers, not yet in the stream.
        self._outbox: collections.deque[dict[str, bytes]] = collections.deque()
        self._deliver: Deliver | None = None
        self._ids = itertools.count()
        # Handled, but Redis went away before the acknowledgement: acknowledged on return.
        self._unacked: set[tuple[str, bytes]] = set()
        # No entry is taken over from a silent process before this (time.monotonic()).
        self._claim_from = 0.0
        # Outages ended so far: a consumer that has seen fewer reads its own pending
        # entries again (one whose delivery the outage cut is this process's to handle).
        self._restored = 0
        self._queued = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: dict[str, asyncio.Task[None]] = {}
        self._handlers: set[asyncio.Task[bool]] = set()
        self._running = False

    # Publishing

    def start(self, deliver: Deliver) -> None:
        self._running = True
        self._deliver = deliver
        self._cluster.outage.on_restore(self._acknowledge_late)
        self._cluster.outage.on_restore(self._note_restore)
        self._cluster.outage.on_restore(self._hand_over)
        self._tasks = [
            asyncio.create_task(self._send(), name="tessera-events-send"),
            asyncio.create_task(self._supervise(), name="tessera-events-groups"),
            asyncio.create_task(self._every_process(), name="tessera-events-all"),
            asyncio.create_task(self._sweep(), name="tessera-events-sweep"),
        ]

    def publish(self, event: Event) -> None:
        if not self._running:
            logger.warning("event %r dropped: the event bus is not running", event.name)
            return
        # Unique in the cluster: the node names this process's run.
        fields = _encode(event, f"{self._cluster.node}-{next(self._ids)}")
        if self._cluster.outage.down:
            self._handle_here(event, fields)
            return
        if len(self._outbox) >= MAX_OUTBOX:
            raise ClusterUnavailable(
                f"cannot publish event {event.name!r}: {MAX_OUTBOX} events wait to be sent to Redis"
            )
        self._outbox.append(fields)
        self._queued.set()

    def _handle_here(self, event: Event, fields: dict[str, bytes]) -> None:
        """During an outage: run this process's subscriptions now, and keep the event in
        the store, naming them, for the other processes."""
        handled = [s.key for s in self._bus.subscriptions(event.name)]
        if self._deliver is not None:
            self._deliver(event)
        fields["handled"] = orjson.dumps(handled)
        fields["origin"] = self._cluster.node.encode()
        self._stored.keep(fields)

    @property
    def backlog(self) -> int:
        """Events accepted but not yet in Redis (in memory, or kept in the store)."""
        return len(self._outbox) + self._stored.depth

    async def _acknowledge_late(self) -> int:
        """Once Redis is back: acknowledge what was handled while it was away, before
        another process takes it for abandoned. Entries left pending by processes cut off
        as this one was are not taken over until they have been idle that long since
        Redis came back: a restart counts the outage as idle time."""
        uptime = float((await self._cluster.redis.info("server"))["uptime_in_seconds"])
        wait = max(0.0, self._claim_after_ms / 1000 - uptime)
        self._claim_from = time.monotonic() + wait
        acknowledged = list(self._unacked)
        async with self._cluster.redis.pipeline(transaction=False) as pipe:
            for group, entry_id in acknowledged:
                pipe.xack(self._stream, group, entry_id)
            await pipe.execute()
        self._unacked.difference_update(acknowledged)
        return 0  # nothing new for the stream

    async def _note_restore(self) -> int:
        self._restored += 1
        return 0  # nothing new for the stream

    def _keep_unsent(self, tried: int | None = None) -> None:
        """Move the events waiting in memory to the store's outbox, to be handled once
        Redis is back (they were accepted before the outage was known: not handled here).
        ``tried``: when an append of the first ``_SEND_BATCH`` began (ms), which may have
        reached the stream although Redis did not answer."""
        for index in range(len(self._outbox)):
            fields = self._outbox.popleft()
            if tried is not None and index < _SEND_BATCH:
                fields[TRIED_AT] = str(tried).encode()
            self._stored.keep(fields)

    async def _hand_over(self) -> int:
        """Once Redis is back: the events kept in the store, to the stream."""
        self._keep_unsent()
        handed = await self._stored.hand_over(self._events.append_kept)
        if handed:
            logger.info("sent %d events kept while Redis was unreachable", handed)
        return handed

    async def _sweep(self) -> None:
        """Hand over what other processes left in the store's outbox (one that died
        during an outage, say)."""
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            if self._cluster.outage.down:
                continue
            try:
                await self._stored.hand_over(self._events.append_kept)
            except UNREACHABLE as exc:
                self._cluster.outage.lost(exc)
            except Exception:  # the store failing: the next sweep tries again
                logger.exception("sending events kept in the store failed")

    async def _send(self) -> None:
        """Append the outbox to the stream in order; wait and retry while Redis is away."""
        while True:
            await self._queued.wait()
            while self._outbox and not self._cluster.outage.down:
                batch = list(itertools.islice(self._outbox, _SEND_BATCH))
                # Redis's clock names entries; a second's margin for the two clocks.
                tried = int(time.time() * 1000) - 1000
                try:
                    # One round trip for many events keeps up with a busy process.
                    await self._events.append(batch)
                except UNREACHABLE as exc:
                    # Some may have reached the stream: all wait in the store, unhandled,
                    # and are sent when Redis is back, unless found there by their ids.
                    self._cluster.outage.lost(exc)
                    self._keep_unsent(tried)
                    break
                for _ in batch:
                    self._outbox.popleft()
            self._queued.clear()

    async def stop(self) -> None:
        self._running = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while self._outbox:
                    await asyncio.sleep(0.02)
        self._keep_unsent()  # sent by whichever process sweeps the store next
        await self._stored.stop()
        await cancel([*self._tasks, *self._consumers.values(), *self._handlers])
        self._tasks, self._consumers = [], {}

    # Consuming, once per cluster

    async def _supervise(self) -> None:
        """Run one consumer per subscription of this process, as plugins (un)subscribe."""
        while True:
            wanted = {s.key for s in self._bus.all_subscriptions() if not s.every_process}
            for key in wanted - set(self._consumers):
                self._consumers[key] = asyncio.create_task(self._consume(key))
            for key in set(self._consumers) - wanted:
                self._consumers.pop(key).cancel()
            await asyncio.sleep(0.2)

    def _subscription(self, key: str) -> Subscription | None:
        return next((s for s in self._bus.all_subscriptions() if s.key == key), None)

    async def _create_group(self, group: str, start: str) -> None:
        try:
            await self._cluster.redis.xgroup_create(self._stream, group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self, group: str) -> None:
        """Read the group's entries (new ones, and those a dead process left) and handle
        each with the subscription, a few at a time."""
        redis = self._cluster.redis
        slots = asyncio.Semaphore(_IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()
        # Entries this consumer's tasks are handling: never read or claimed twice.
        handling: set[bytes] = set()
        recovered = self._restored
        attempt = 0
        ready = False
        # A new group starts at the stream's end; one lost with Redis's data (a restart
        # without its append-only file) at its start: every entry there is new to it.
        start = "$"
        while True:
            try:
                if not ready:
                    await self._create_group(group, start)
                    ready = True
                entries = await self._claim(group, handling)
                if recovered != self._restored or attempt:
                    entries += await self._own_pending(group, handling, entries)
                    recovered = self._restored
                free = max(1, _IN_FLIGHT - len(running))
                read = await redis.xreadgroup(
                    group, self._cluster.node, {self._stream: ">"}, count=free, block=_BLOCK_MS
                )
                entries += [
                    (entry_id, fields, 1) for _, batch in read for entry_id, fields in batch
                ]
                attempt = 0
            except UNREACHABLE as exc:
                self._cluster.outage.lost(exc)
                await asyncio.sleep(_delay(_RECONNECT_DELAYS, attempt))
                attempt += 1
                continue
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                ready, start = False, "0"  # Redis restarted without its data
                continue
            for entry_id, fields, deliveries in entries:
                await slots.acquire()
                handling.add(entry_id)
                task = asyncio.create_task(self._handle(group, entry_id, fields, deliveries))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(functools.partial(_discard, handling, entry_id))
                task.add_done_callback(lambda _: slots.release())

    async def _own_pending(
        self, group: str, handling: set[bytes], taken: list[Entry]
    ) -> list[Entry]:
        """After an outage: this process's own pending entries of ``group`` that none of
        its tasks is handling, those Redis gave it while the reply was lost among them;
        those handled already (their acknowledgement lost) are acknowledged."""
        redis = self._cluster.redis
        skip = handling | {entry_id for entry_id, _, _ in taken}
        entries: list[Entry] = []
        after = "0"
        while True:
            read = await redis.xreadgroup(
                group, self._cluster.node, {self._stream: after}, count=_IN_FLIGHT
            )
            batch = [entry for _, page in read for entry in page]
            for entry_id, fields in batch:
                if (group, entry_id) in self._unacked or not fields:  # handled, or trimmed
                    await redis.xack(self._stream, group, entry_id)
                    self._unacked.discard((group, entry_id))
                elif entry_id not in skip:
                    entries.append((entry_id, fields, await self._deliveries(group, entry_id)))
            if len(batch) < _IN_FLIGHT:
                return entries
            after = batch[-1][0]

    async def _deliveries(self, group: str, entry_id: bytes) -> int:
        """How many times Redis has given ``entry_id`` of ``group`` to a consumer."""
        pending = await self._cluster.redis.xpending_range(
            self._stream, group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _claim(self, group: str, handling: set[bytes]) -> list[Entry]:
        """Entries of ``group`` idle long enough that their process must have died (this
        one's, too, unless one of its tasks is handling them)."""
        if self._cluster.outage.down or time.monotonic() < self._claim_from:
            return []
        redis = self._cluster.redis
        _, claimed, _ = await redis.xautoclaim(
            self._stream, group, self._cluster.node, self._claim_after_ms, "0-0", count=_IN_FLIGHT
        )
        entries: list[Entry] = []
        for entry_id, fields in claimed:
            if fields is None or entry_id in handling:
                continue
            if (group, entry_id) in self._unacked:  # handled here already
                await redis.xack(self._stream, group, entry_id)
                self._unacked.discard((group, entry_id))
                continue
            deliveries = await self._deliveries(group, entry_id)
            logger.warning("event %s of %s claimed after its process went silent", entry_id, group)
            entries.append((entry_id, fields, deliveries))
        return entries

    async def _handle(
        self, group: str, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int
    ) -> None:
        redis = self._cluster.redis
        subscription = self._subscription(group)
        if subscription is None:
            return  # unsubscribed meanwhile: another process, or a later one, handles it
        event = _decode(fields)
        attempt = deliveries
        _, handled = _handled(fields)
        try:
            if subscription.matches(event.name) and group not in handled:
                while not await self._bus.handle(subscription, event):
                    if attempt >= MAX_ATTEMPTS:
                        await self._dead_letter(group, entry_id, fields, attempt)
                        break
                    await asyncio.sleep(_delay(_RETRY_DELAYS, attempt - 1))
                    # Claiming again restarts the idle clock and counts the attempt.
                    await redis.xclaim(self._stream, group, self._cluster.node, 0, [entry_id])
                    attempt += 1
        except UNREACHABLE as exc:
            # Unacknowledged: another process (or this one) claims it once Redis is back.
            self._cluster.outage.lost(exc)
            logger.warning("event %s of %s stays pending: %s", entry_id, group, exc)
            return
        try:
            await redis.xack(self._stream, group, entry_id)
        except UNREACHABLE as exc:
            self._cluster.outage.lost(exc)
            self._unacked.add((group, entry_id))

    async def _dead_letter(
        self, group: str, entry_id: bytes, fields: dict[bytes, bytes], attempts: int
    ) -> None:
        logger.error(
            "event %r gave up after %d attempts of %s; kept in %s",
            fields[b"name"].decode(),
            attempts,
            group,
            self._dead,
        )
        letter: dict[Any, Any] = dict(fields)
        letter |= {
            "subscription": group,
            "entry": entry_id,
            "attempts": str(attempts),
        }
        await self._cluster.redis.xadd(self._dead, letter, maxlen=MAX_STREAM, approximate=True)

    # Consuming in every process

    async def _every_process(self) -> None:
        """Hand every new event to this process's ``every_process`` subscriptions."""
        last: bytes | None = None
        attempt = 0
        while True:
            try:
                if last is None:
                    newest = await self._cluster.redis.xrevrange(self._stream, count=1)
                    last = newest[0][0] if newest else b"0-0"
                read = await self._cluster.redis.xread(
                    {self._stream: last}, count=100, block=_BLOCK_MS
                )
                attempt = 0
            except UNREACHABLE as exc:
                self._cluster.outage.lost(exc)
                await asyncio.sleep(_delay(_RECONNECT_DELAYS, attempt))
                attempt += 1
                continue
            for _, batch in read:
                for entry_id, fields in batch:
                    last = entry_id
                    self._handle_everywhere(fields)

    def _handle_everywhere(self, fields: dict[bytes, bytes]) -> None:
        name = fields[b"name"].decode()
        origin, handled = _handled(fields)
        done = handled if origin == self._cluster.node else []
        local = [
            s
            for s in self._bus.all_subscriptions()
            if s.every_process and s.matches(name) and s.key not in done
        ]
        if local:
            event = _decode(fields)
            for subscription in local:
                task = asyncio.create_task(self._bus.handle(subscription, event))
                self._handlers.add(task)
                task.add_done_callback(self._handlers.discard)
