"""The cluster fan-out and resume window, in Redis.

Each user's sequence is a Redis counter and their resume window a sorted set by ``seq``;
one Lua script numbers and keeps a message atomically, so no process can deliver a number
whose message is not stored yet (a connection that sees ``seq`` 7 before 6 fetches 6 from
the window, and skips it when it arrives). Messages then travel on one pub/sub channel
that every process listens to; each delivers to the connections it holds.

While Redis is unreachable a process numbers and keeps its messages itself
(fanout/held.py) and delivers them to its own sockets; once Redis is back it writes them
to the window under the numbers its sockets saw, unless another process used a number
meanwhile (then that user's sockets here are told to resync), and sends them on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from tessera.cluster.errors import ClusterUnavailable
from tessera.cluster.link import UNREACHABLE, Cluster, cancel
from tessera.services.fanout.base import Deliver, UserMessage
from tessera.services.fanout.held import Held, HeldMessages
from tessera.services.resume import DEFAULT_MAX_AGE, DEFAULT_MAX_MESSAGES

logger = logging.getLogger("tessera.websocket")

# KEYS: sequence counter, window, last message's id. ARGV: text, now, max messages, max
# age (seconds), message id. The last id lets a message whose answer was lost (Redis
# failing right after) be recognised when it is handed over again.
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, seq .. ' ' .. ARGV[2] .. ' ' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', seq - tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[4])))
redis.call('SET', KEYS[3], ARGV[5] .. ' ' .. seq, 'EX', math.ceil(tonumber(ARGV[4])))
return seq
"""

# The same, for a message numbered during an outage, which it also publishes: at its
# number unless that one is taken. ARGV as above, then the wanted seq, the channel, and
# the publishing node, app and user. Returns the seq it has in the window.
_APPEND_AT = """
local seq = nil
local last_id = redis.call('GET', KEYS[3])
if last_id then
  local id, had = string.match(last_id, '^(%S+) (%d+)$')
  if id == ARGV[5] then seq = tonumber(had) end
end
if not seq then
  seq = tonumber(ARGV[6])
  local last = tonumber(redis.call('GET', KEYS[1]) or '0')
  if seq <= last then seq = last + 1 end
  redis.call('SET', KEYS[1], seq)
  redis.call('ZADD', KEYS[2], seq, seq .. ' ' .. ARGV[2] .. ' ' .. ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', seq - tonumber(ARGV[3]))
  redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[4])))
  redis.call('SET', KEYS[3], ARGV[5] .. ' ' .. seq, 'EX', math.ceil(tonumber(ARGV[4])))
end
redis.call('PUBLISH', ARGV[7], cjson.encode({ARGV[8], ARGV[9], ARGV[10], seq, ARGV[1]}))
return seq
"""
# Messages handed over in one round trip.
_HAND_OVER_BATCH = 200

_RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0)


def _user(app_id: str, user_id: str) -> str:
    # JSON keeps any app or user id unambiguous inside the key.
    return orjson.dumps([app_id, user_id]).decode()


class RedisResumeLog:
    """Each user's ``seq`` counter and last messages, shared by every process."""

    def __init__(
        self,
        cluster: Cluster,
        held: HeldMessages,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self._cluster = cluster
        self._held = held
        self._append = cluster.redis.register_script(_APPEND)
        self._append_at = cluster.redis.register_script(_APPEND_AT)
        self.max_messages = max_messages
        self.max_age = max_age

    def _keys(self, app_id: str, user_id: str) -> tuple[str, str, str]:
        user = _user(app_id, user_id)
        key = self._cluster.key
        return key("ws", "seq", user), key("ws", "log", user), key("ws", "last", user)

    async def last_seq(self, app_id: str, user_id: str) -> int:
        # A new socket waits for Redis: its starting number must be the cluster's.
        if self._cluster.outage.down:
            raise ClusterUnavailable("cannot open a WebSocket: Redis is unreachable")
        seq_key = self._keys(app_id, user_id)[0]
        try:
            value = await self._cluster.redis.get(seq_key)
        except UNREACHABLE as exc:
            raise self._cluster.unavailable(exc, "read a WebSocket sequence") from exc
        self._held.saw(app_id, user_id, int(value or 0))
        return int(value or 0)

    async def append(self, app_id: str, user_id: str, text: str) -> int:
        message_id = uuid.uuid4().hex
        if self._cluster.outage.down:
            return self._held.number(app_id, user_id, text, message_id)
        keys = self._keys(app_id, user_id)
        args = [text, repr(time.time()), self.max_messages, self.max_age, message_id]
        try:
            seq = int(await self._append(keys=list(keys), args=args))
        except UNREACHABLE as exc:
            self._cluster.outage.lost(exc)
            return self._held.number(app_id, user_id, text, message_id)
        self._held.saw(app_id, user_id, seq)
        return seq

    async def append_at(self, message: Held, channel: str, pipe: Any) -> None:
        """Queue on ``pipe``: write a message numbered during an outage to the window and
        publish it on ``channel``; its answer is its number there (another one if a
        process used it meanwhile)."""
        keys = self._keys(message.app_id, message.user_id)
        args = [message.text, repr(time.time()), self.max_messages, self.max_age]
        args += [message.id, message.seq, channel, self._cluster.node]
        args += [message.app_id, message.user_id]
        await self._append_at(keys=list(keys), args=args, client=pipe)

    async def since(
        self, app_id: str, user_id: str, after: int, until: int | None = None
    ) -> list[tuple[int, str]]:
        if self._cluster.outage.down:
            return self._held.since(app_id, user_id, after, until)
        log_key = self._keys(app_id, user_id)[1]
        try:
            kept = await self._cluster.redis.zrangebyscore(
                log_key, f"({after}", "+inf" if until is None else until
            )
        except UNREACHABLE as exc:
            self._cluster.outage.lost(exc)
            return self._held.since(app_id, user_id, after, until)
        oldest = time.time() - self.max_age
        missed = []
        for member in kept:
            seq, at, text = member.decode().split(" ", 2)
            if float(at) >= oldest:
                missed.append((int(seq), text))
        return missed[-self.max_messages :]


class RedisFanout:
    """Delivers to this process's connections at once, and to the others through Redis."""

    def __init__(
        self,
        cluster: Cluster,
        log: RedisResumeLog,
        held: HeldMessages,
        *,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        on_renumbered: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self._cluster = cluster
        self._log = log
        self._held = held
        # Sockets here saw a held message under a number another process took meanwhile.
        self._on_renumbered = on_renumbered
        # Messages published while this process was cut off never reach it: replay them.
        self._on_reconnect = on_reconnect
        self._channel = cluster.key("ws", "messages")
        self._deliver: Deliver | None = None
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._listener = asyncio.create_task(self._listen(), name="tessera-ws-fanout")
        self._cluster.outage.on_restore(self._hand_over)
        # What the other processes handed over before this one's outage ended.
        self._cluster.outage.after_restore(self._replay)

    async def publish(self, message: UserMessage) -> None:
        if self._deliver is not None:
            await self._deliver(message)
        if self._held.holds(message.app_id, message.user_id, message.seq):
            return  # numbered during the outage: handed over when Redis is back
        held = Held(message.app_id, message.user_id, message.seq, message.text, "", numbered=True)
        if self._cluster.outage.down:
            self._held.keep(held)
            return
        try:
            await self._send(message)
        except UNREACHABLE as exc:
            self._cluster.outage.lost(exc)
            self._held.keep(held)

    def _data(self, message: UserMessage | Held) -> bytes:
        return orjson.dumps(
            [self._cluster.node, message.app_id, message.user_id, message.seq, message.text]
        )

    async def _send(self, message: UserMessage) -> None:
        await self._cluster.redis.publish(self._channel, self._data(message))

    async def _hand_over(self) -> int:
        """Write the outage's messages to the window and send them on, oldest first, many
        in a round trip."""
        handed = 0
        while batch := self._held.oldest(_HAND_OVER_BATCH):
            async with self._cluster.redis.pipeline(transaction=False) as pipe:
                for held in batch:
                    if held.numbered:
                        pipe.publish(self._channel, self._data(held))
                    else:
                        await self._log.append_at(held, self._channel, pipe)
                answers = await pipe.execute()
            for held, seq in zip(batch, answers, strict=True):
                renumbered = not held.numbered and int(seq) != held.seq
                if renumbered and self._on_renumbered is not None:
                    self._on_renumbered(held.app_id, held.user_id, int(seq))
                self._held.handed_over(held)
            handed += len(batch)
        if handed:
            logger.info("sent %d WebSocket messages kept while Redis was unreachable", handed)
        return handed

    async def stop(self) -> None:
        self._deliver = None
        if self._listener is not None:
            await cancel([self._listener])
            self._listener = None

    async def _listen(self) -> None:
        """Receive the other processes' messages; resubscribe after Redis comes back."""
        attempt = 0
        subscriptions = 0
        while True:
            pubsub = self._cluster.redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:
                    item = await pubsub.get_message(timeout=1.0)
                    if item is None:
                        continue
                    if item["type"] == "message":
                        await self._receive(item["data"])
                    elif item["type"] == "subscribe":
                        # Also after redis-py reconnected by itself: each one may have
                        # missed messages.
                        subscriptions += 1
                        self.subscribed.set()
                        attempt = 0
                        if subscriptions > 1:
                            await self._replay()
            except UNREACHABLE as exc:
                self.subscribed.clear()
                self._cluster.outage.lost(exc)
                delay = _RECONNECT_DELAYS[min(attempt, len(_RECONNECT_DELAYS) - 1)]
                if attempt == 0:
                    logger.warning("WebSocket fan-out lost Redis (%s); reconnecting", exc)
                attempt += 1
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(*UNREACHABLE):
                    await pubsub.aclose()

    async def _replay(self) -> None:
        if self._on_reconnect is None:
            return
        try:
            await self._on_reconnect()
        except Exception:  # Redis gone again: the next subscription replays
            logger.exception("replaying missed WebSocket messages failed")

    async def _receive(self, data: bytes) -> None:
        node, app_id, user_id, seq, text = orjson.loads(data)
        if node == self._cluster.node or self._deliver is None:
            return
        self._held.saw(app_id, user_id, seq)
        try:
            await self._deliver(UserMessage(app_id, user_id, seq, text))
        except Exception:
            logger.exception("delivering a WebSocket message of user %s failed", user_id)
