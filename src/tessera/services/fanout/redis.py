"""The cluster fan-out and resume window, in Redis.

Each user's sequence is a Redis counter and their resume window a sorted set by ``seq``;
one Lua script numbers and keeps a message atomically, so no process can deliver a number
whose message is not stored yet (a connection that sees ``seq`` 7 before 6 fetches 6 from
the window, and skips it when it arrives). Messages then travel on one pub/sub channel
that every process listens to; each delivers to the connections it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from tessera.cluster.link import UNREACHABLE, Cluster, cancel
from tessera.services.fanout.base import Deliver, UserMessage
from tessera.services.resume import DEFAULT_MAX_AGE, DEFAULT_MAX_MESSAGES

logger = logging.getLogger("tessera.websocket")

# KEYS: sequence counter, window. ARGV: text, now, max messages, max age (seconds).
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, seq .. ' ' .. ARGV[2] .. ' ' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', seq - tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[2], math.ceil(tonumber(ARGV[4])))
return seq
"""

_RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0)


def _user(app_id: str, user_id: str) -> str:
    # JSON keeps any app or user id unambiguous inside the key.
    return orjson.dumps([app_id, user_id]).decode()


class RedisResumeLog:
    """Each user's ``seq`` counter and last messages, shared by every process."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self._cluster = cluster
        self._append = cluster.redis.register_script(_APPEND)
        self.max_messages = max_messages
        self.max_age = max_age

    def _keys(self, app_id: str, user_id: str) -> tuple[str, str]:
        user = _user(app_id, user_id)
        return self._cluster.key("ws", "seq", user), self._cluster.key("ws", "log", user)

    async def last_seq(self, app_id: str, user_id: str) -> int:
        seq_key, _ = self._keys(app_id, user_id)
        try:
            value = await self._cluster.redis.get(seq_key)
        except UNREACHABLE as exc:
            raise self._cluster.unavailable(exc, "read a WebSocket sequence") from exc
        return int(value or 0)

    async def append(self, app_id: str, user_id: str, text: str) -> int:
        keys = self._keys(app_id, user_id)
        args = [text, repr(time.time()), self.max_messages, self.max_age]
        try:
            return int(await self._append(keys=list(keys), args=args))
        except UNREACHABLE as exc:
            raise self._cluster.unavailable(exc, "send a WebSocket message") from exc

    async def since(
        self, app_id: str, user_id: str, after: int, until: int | None = None
    ) -> list[tuple[int, str]]:
        _, log_key = self._keys(app_id, user_id)
        try:
            kept = await self._cluster.redis.zrangebyscore(
                log_key, f"({after}", "+inf" if until is None else until
            )
        except UNREACHABLE as exc:
            raise self._cluster.unavailable(exc, "replay WebSocket messages") from exc
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
        self, cluster: Cluster, *, on_reconnect: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._cluster = cluster
        # Messages published while this process was cut off never reach it: replay them.
        self._on_reconnect = on_reconnect
        self._channel = cluster.key("ws", "messages")
        self._deliver: Deliver | None = None
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._listener = asyncio.create_task(self._listen(), name="tessera-ws-fanout")

    async def publish(self, message: UserMessage) -> None:
        if self._deliver is not None:
            await self._deliver(message)
        data = orjson.dumps(
            [self._cluster.node, message.app_id, message.user_id, message.seq, message.text]
        )
        try:
            await self._cluster.redis.publish(self._channel, data)
        except UNREACHABLE as exc:
            raise self._cluster.unavailable(exc, "send a WebSocket message") from exc

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
        try:
            await self._deliver(UserMessage(app_id, user_id, seq, text))
        except Exception:
            logger.exception("delivering a WebSocket message of user %s failed", user_id)
