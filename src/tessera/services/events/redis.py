"""The cluster event backend: events in a Redis stream, one consumer group per subscription.

``publish`` queues the event in this process's outbox, which a sender task appends to the
stream, in order, retrying while Redis is away; the outbox is what makes an accepted event
survive an outage. Each subscription (the same plugin, pattern and handler in every
process) reads the stream through its own consumer group, so Redis gives each event to
one process. An entry is acknowledged once its handler succeeds. A failing handler is
retried with a growing delay; after the last attempt the event is written to the
dead-letter stream. An entry left unacknowledged by a process that died is claimed by
another once it has been idle longer than any handler may run. Subscriptions made with
``every_process=True`` read the stream without a group: every process handles each event.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import itertools
import logging
from typing import TYPE_CHECKING, Any

import bson
from redis.exceptions import ResponseError

from tessera.auth.identity import Identity
from tessera.cluster.link import UNREACHABLE, Cluster, cancel
from tessera.context import CallContext, current_call, current_request_id
from tessera.services.events.base import Deliver, Event

if TYPE_CHECKING:
    from tessera.services.event_bus import EventBus, Subscription

logger = logging.getLogger("tessera.events")

#: Attempts of a handler before its event goes to the dead-letter stream.
MAX_ATTEMPTS = 5
#: Events accepted while Redis is away, beyond which ``publish`` refuses.
MAX_OUTBOX = 100_000
#: Entries the stream keeps (approximately) for groups that fall behind.
MAX_STREAM = 1_000_000
# Per subscription and process: events handled at once.
_IN_FLIGHT = 16
_BLOCK_MS = 1000
_SEND_BATCH = 200
_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
_RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0)
# A process may still be running an entry's handler this long after the timeout.
_CLAIM_MARGIN = 2.0


def _delay(delays: tuple[float, ...], attempt: int) -> float:
    return delays[min(attempt, len(delays) - 1)]


def _encode(event: Event) -> dict[str, bytes]:
    """The stream fields of ``event``: its name, payload, and who published it."""
    call = event.context.get(current_call)
    caller: dict[str, Any] | None = None
    if call is not None:
        identity = call.identity
        caller = {
            "user_id": identity.user_id,
            "username": identity.username,
            "app_id": identity.app_id,
            "roles": list(identity.roles),
            "is_superadmin": identity.is_superadmin,
            "entitlements": dict(identity.entitlements),
            "plugin": call.plugin,
            "request_id": call.request_id,
            "action": call.action,
        }
    try:
        data = bson.encode({"payload": event.payload, "call": caller})
    except (bson.errors.InvalidDocument, TypeError, OverflowError) as exc:
        raise TypeError(
            f"the payload of event {event.name!r} cannot cross processes ({exc}); publish "
            "JSON-like data (dicts, lists, strings, numbers, ObjectId, datetime)"
        ) from None
    return {"name": event.name.encode(), "data": data}


def _decode(fields: dict[bytes, bytes]) -> Event:
    """The event of a stream entry, in a context carrying its publisher's call."""
    data = bson.decode(fields[b"data"])
    context = contextvars.Context()
    caller = data.get("call")
    if caller is not None:
        identity = Identity(
            caller["user_id"],
            caller["username"],
            caller["app_id"],
            tuple(caller["roles"]),
            caller["is_superadmin"],
            caller["entitlements"],
        )
        call = CallContext(identity, caller["plugin"], caller["request_id"], caller["action"])
        context.run(current_call.set, call)
        context.run(current_request_id.set, call.request_id)
    return Event(fields[b"name"].decode(), data.get("payload"), context)


class RedisEventBackend:
    """Delivers each event once per subscription across the cluster, through Redis."""

    local = False

    def __init__(self, cluster: Cluster, bus: EventBus, *, handler_timeout: float) -> None:
        self._cluster = cluster
        self._bus = bus
        self._stream = cluster.key("events")
        self._dead = cluster.key("events", "dead")
        self._claim_after_ms = int((handler_timeout + _CLAIM_MARGIN) * 1000)
        self._outbox: collections.deque[dict[str, bytes]] = collections.deque()
        self._queued = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: dict[str, asyncio.Task[None]] = {}
        self._handlers: set[asyncio.Task[bool]] = set()
        self._running = False

    # Publishing

    def start(self, deliver: Deliver) -> None:
        self._running = True
        self._tasks = [
            asyncio.create_task(self._send(), name="tessera-events-send"),
            asyncio.create_task(self._supervise(), name="tessera-events-groups"),
            asyncio.create_task(self._every_process(), name="tessera-events-all"),
        ]

    def publish(self, event: Event) -> None:
        if not self._running:
            logger.warning("event %r dropped: the event bus is not running", event.name)
            return
        if len(self._outbox) >= MAX_OUTBOX:
            raise self._cluster.unavailable(
                ConnectionError(f"{MAX_OUTBOX} events wait to be sent"), "publish an event"
            )
        self._outbox.append(_encode(event))
        self._queued.set()

    @property
    def backlog(self) -> int:
        """Events accepted but not yet in Redis."""
        return len(self._outbox)

    async def _send(self) -> None:
        """Append the outbox to the stream in order; wait and retry while Redis is away."""
        attempt = 0
        while True:
            await self._queued.wait()
            while self._outbox:
                batch = list(itertools.islice(self._outbox, _SEND_BATCH))
                try:
                    # One round trip for many events keeps up with a busy process.
                    async with self._cluster.redis.pipeline(transaction=False) as pipe:
                        for fields in batch:
                            pipe.xadd(self._stream, fields, maxlen=MAX_STREAM, approximate=True)
                        await pipe.execute()
                except UNREACHABLE as exc:
                    if attempt == 0:
                        logger.warning(
                            "events wait for Redis (%s); %d queued", exc, len(self._outbox)
                        )
                    await asyncio.sleep(_delay(_RECONNECT_DELAYS, attempt))
                    attempt += 1
                    continue
                if attempt:
                    logger.info("Redis is back; sending %d queued events", len(self._outbox))
                attempt = 0
                for _ in batch:
                    self._outbox.popleft()
            self._queued.clear()

    async def stop(self) -> None:
        self._running = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while self._outbox:
                    await asyncio.sleep(0.02)
        if self._outbox:
            logger.error("%d events not sent to Redis before shutdown", len(self._outbox))
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

    async def _create_group(self, group: str) -> None:
        try:
            await self._cluster.redis.xgroup_create(self._stream, group, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _consume(self, group: str) -> None:
        """Read the group's entries (new ones, and those a dead process left) and handle
        each with the subscription, a few at a time."""
        redis = self._cluster.redis
        slots = asyncio.Semaphore(_IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()
        attempt = 0
        ready = False
        while True:
            try:
                if not ready:
                    await self._create_group(group)
                    ready = True
                entries = await self._claim(group)
                free = max(1, _IN_FLIGHT - len(running))
                read = await redis.xreadgroup(
                    group, self._cluster.node, {self._stream: ">"}, count=free, block=_BLOCK_MS
                )
                entries += [
                    (entry_id, fields, 1) for _, batch in read for entry_id, fields in batch
                ]
                attempt = 0
            except UNREACHABLE as exc:
                if attempt == 0:
                    logger.warning("event consumer lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(_delay(_RECONNECT_DELAYS, attempt))
                attempt += 1
                continue
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                ready = False  # Redis restarted without its data: make the group again
                continue
            for entry_id, fields, deliveries in entries:
                await slots.acquire()
                task = asyncio.create_task(self._handle(group, entry_id, fields, deliveries))
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: slots.release())

    async def _claim(self, group: str) -> list[tuple[bytes, dict[bytes, bytes], int]]:
        """Entries of ``group`` idle long enough that their process must have died."""
        redis = self._cluster.redis
        _, claimed, _ = await redis.xautoclaim(
            self._stream, group, self._cluster.node, self._claim_after_ms, "0-0", count=_IN_FLIGHT
        )
        entries = []
        for entry_id, fields in claimed:
            if fields is None:
                continue
            pending = await redis.xpending_range(
                self._stream, group, min=entry_id, max=entry_id, count=1
            )
            deliveries = pending[0]["times_delivered"] if pending else 1
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
        try:
            if subscription.matches(event.name):
                while not await self._bus.handle(subscription, event):
                    if attempt >= MAX_ATTEMPTS:
                        await self._dead_letter(group, entry_id, fields, attempt)
                        break
                    await asyncio.sleep(_delay(_RETRY_DELAYS, attempt - 1))
                    # Claiming again restarts the idle clock and counts the attempt.
                    await redis.xclaim(self._stream, group, self._cluster.node, 0, [entry_id])
                    attempt += 1
            await redis.xack(self._stream, group, entry_id)
        except UNREACHABLE as exc:
            # Unacknowledged: another process (or this one) claims it once Redis is back.
            logger.warning("event %s of %s stays pending: %s", entry_id, group, exc)

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
            except UNREACHABLE:
                await asyncio.sleep(_delay(_RECONNECT_DELAYS, attempt))
                attempt += 1
                continue
            for _, batch in read:
                for entry_id, fields in batch:
                    last = entry_id
                    self._handle_everywhere(fields)

    def _handle_everywhere(self, fields: dict[bytes, bytes]) -> None:
        name = fields[b"name"].decode()
        local = [s for s in self._bus.all_subscriptions() if s.every_process and s.matches(name)]
        if local:
            event = _decode(fields)
            for subscription in local:
                task = asyncio.create_task(self._bus.handle(subscription, event))
                self._handlers.add(task)
                task.add_done_callback(self._handlers.discard)
