"""WebSockets: the open connections of this process, and ``core.websocket_manager``.

Connections are grouped by (app, user): ``send_to_user`` reaches every tab of that user in
the caller's app and no one else; ``broadcast`` every user of the app with a socket on any
process (with several, their presence says who: services/presence/). Each message is
numbered in the user's sequence (its ``seq`` key), kept in the resume window, then fanned
out; a client that reconnects with ``?last_seq=N`` first receives what it missed, then
live messages, with no gap and no duplicate.

:class:`WebSocketHub` is the runtime's: it holds the connections and names apps freely.
:class:`WebSocketManager` is what plugins import: always the caller's app, and a user other
than the caller needs the escalation right.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

from tessera.auth.identity import Identity
from tessera.encoding import encode_json
from tessera.services import running
from tessera.services.connection import CLOSE_GOING_AWAY, Connection, Socket, with_seq
from tessera.services.database import caller
from tessera.services.fanout import Fanout, LocalFanout, UserMessage
from tessera.services.presence import Presence
from tessera.services.recipients import caller_app, recipient_app
from tessera.services.resume import ResumeLog

DEFAULT_QUEUE_SIZE = 256
DEFAULT_PING_INTERVAL = 20.0
DEFAULT_PING_TIMEOUT = 20.0
#: Users a broadcast numbers and sends to at once.
BROADCAST_AT_ONCE = 64


class NotRunning(RuntimeError):
    """The WebSocket manager was used where no Tessera runtime is running."""


class WebSocketHub:
    """The open connections of this process, and the way messages reach them."""

    def __init__(self) -> None:
        # A tuple per user: most have one tab, and a set costs four times a 1-tuple.
        self._connections: dict[tuple[str, str], tuple[Connection, ...]] = {}
        self._log: ResumeLog | None = None
        self._fanout: Fanout = LocalFanout()
        # Who is connected on the other processes; None with one process.
        self._presence: Presence | None = None
        # One lock per user while numbering and publishing keeps each user's messages in order.
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.queue_size = DEFAULT_QUEUE_SIZE
        self.ping_interval = DEFAULT_PING_INTERVAL
        self.ping_timeout = DEFAULT_PING_TIMEOUT

    def start(
        self,
        log: ResumeLog,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        ping_interval: float = DEFAULT_PING_INTERVAL,
        ping_timeout: float = DEFAULT_PING_TIMEOUT,
        fanout: Fanout | None = None,
        presence: Presence | None = None,
    ) -> None:
        """Serve connections with ``log`` as the resume window; called by the runtime."""
        self._log = log
        self.queue_size = queue_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        if fanout is not None:
            self._fanout = fanout
        self._fanout.start(self._deliver)
        self._presence = presence
        if presence is not None:
            presence.start()

    async def stop(self) -> None:
        """Close every connection (clients reconnect and resume elsewhere) and stop."""
        for connections in list(self._connections.values()):
            for connection in connections:
                connection.close(CLOSE_GOING_AWAY, "server shutting down")
        await self._fanout.stop()
        presence, self._presence = self._presence, None
        if presence is not None:
            await presence.stop()
        self._log = None

    def _running_log(self) -> ResumeLog:
        if self._log is None:
            raise NotRunning(
                "core.websocket_manager was used outside a running Tessera runtime; "
                "run the plugin with `tessera serve` or tessera.testing"
            )
        return self._log

    async def send_in_app(self, app_id: str, user_id: str, message: Mapping[str, Any]) -> int:
        """Send ``message`` (a JSON object) to every connection of ``user_id`` in ``app_id``;
        return its ``seq``. Kept for resume even when no tab is open."""
        return await self._send(app_id, user_id, _body(message))

    async def broadcast_in_app(self, app_id: str, message: Mapping[str, Any]) -> int:
        """Send ``message`` to every user connected to ``app_id`` on any process; return how
        many users it reached. Each copy is numbered in its user's sequence."""
        body = _body(message)
        users = {user for (app, user) in list(self._connections) if app == app_id}
        if self._presence is not None:
            users |= await self._presence.users(app_id)
        # Many users at a time: each copy waits on its own round trip to the shared log.
        pending = list(users)
        for start in range(0, len(pending), BROADCAST_AT_ONCE):
            batch = pending[start : start + BROADCAST_AT_ONCE]
            await asyncio.gather(*(self._send(app_id, user_id, body) for user_id in batch))
        return len(users)

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        """The user's lock: numbering and publishing a message, and reading the number a
        new connection starts from, happen one at a time for each user."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _send(self, app_id: str, user_id: str, body: str) -> int:
        log = self._running_log()
        async with self._lock((app_id, user_id)):
            seq = await log.append(app_id, user_id, body)
            await self._fanout.publish(UserMessage(app_id, user_id, seq, body))
        return seq

    async def _deliver(self, message: UserMessage) -> None:
        connections = self._connections.get((message.app_id, message.user_id))
        if connections:
            text = with_seq(message.text, message.seq)
            for connection in connections:
                connection.offer(message.seq, text)

    def renumbered(self, app_id: str, user_id: str, seq: int) -> None:
        """A message this process's sockets of the user had during a Redis outage is
        ``seq`` in the cluster's window: another process sent the user messages under the
        same numbers meanwhile. Tell the sockets that they cannot resume exactly."""
        for connection in self._connections.get((app_id, user_id), ()):
            notice = {"type": "resync", "last_seq": connection.last_seq, "first_seq": seq}
            connection.offer(None, encode_json(notice).decode())

    async def replay_missed(self) -> None:
        """Offer each connection the kept messages it has not had: after a fan-out lost
        messages on the way (a cluster fan-out reconnecting to Redis)."""
        log = self._running_log()
        for (app_id, user_id), connections in list(self._connections.items()):
            after = min(connection.last_seq for connection in connections)
            for seq, text in await log.since(app_id, user_id, after):
                await self._deliver(UserMessage(app_id, user_id, seq, text))

    async def open(self, socket: Socket, identity: Identity, last_seq: int | None) -> Connection:
        """Register a new connection of ``identity``; it will first receive the messages
        after ``last_seq`` (none when the client gives no ``last_seq``)."""
        log = self._running_log()
        key = (identity.app_id, identity.user_id)
        # Written while the sequence is read: no round trip of its own.
        joined = self._presence.join(key) if self._presence is not None else None
        try:
            # Not while a message is numbered but not yet published: its number would be
            # current, and the new connection would skip it as already had.
            async with self._lock(key):
                current = await log.last_seq(*key)
                if joined is not None:
                    await joined
        except BaseException:
            if self._presence is not None:
                self._presence.leave(key)
            raise
        # A last_seq beyond the sequence comes from another store: start afresh, and say so.
        unknown = last_seq if last_seq is not None and last_seq > current else None
        connection = Connection(
            socket,
            identity.app_id,
            identity.user_id,
            log=log,
            last_seq=current if last_seq is None or unknown is not None else last_seq,
            unknown_seq=unknown,
            queue_size=self.queue_size,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
        )
        self._connections[key] = (*self._connections.get(key, ()), connection)
        return connection

    def discard(self, connection: Connection) -> None:
        """Forget a connection that has ended."""
        key = (connection.app_id, connection.user_id)
        connections = self._connections.get(key, ())
        if connection in connections:
            remaining = tuple(c for c in connections if c is not connection)
            if remaining:
                self._connections[key] = remaining
            else:
                del self._connections[key]
            if self._presence is not None:
                self._presence.leave(key)

    def connection_count(self, app_id: str | None = None, user_id: str | None = None) -> int:
        """Open connections in this process, optionally of one app and user."""
        return sum(
            len(connections)
            for (app, user), connections in self._connections.items()
            if (app_id is None or app == app_id) and (user_id is None or user == user_id)
        )


# Message types the runtime sends itself; a plugin's message may not pass for one (a fake
# notification asking users to re-enter a password, say).
RUNTIME_TYPES = frozenset({"connected", "notification", "ping", "pong", "resync"})


class WebSocketManager:
    """``core.websocket_manager``: messages to the open WebSockets of the caller's app."""

    __slots__ = ()

    async def send_to_user(self, user_id: str, message: Mapping[str, Any]) -> int:
        """Send ``message`` (a JSON object) to every connection of ``user_id`` in the
        caller's app; return its ``seq``. Kept for resume even when no tab is open. A user
        other than the caller needs the escalation right."""
        app_id = recipient_app(user_id, "send_to_user")
        hub = running.current().websockets
        return await hub.send_in_app(app_id, user_id, _from_plugin(message))

    async def broadcast(self, message: Mapping[str, Any]) -> int:
        """Send ``message`` to every user connected to the caller's app, on any process;
        return how many users it reached."""
        hub = running.current().websockets
        return await hub.broadcast_in_app(caller_app("broadcast"), _from_plugin(message))

    def connection_count(self, user_id: str | None = None) -> int:
        """Open connections in this process of ``user_id`` (the caller when None) in the
        caller's app; another user needs the escalation right."""
        if user_id is None:
            user_id = caller("connection_count").identity.user_id
        app_id = recipient_app(user_id, "connection_count")
        return running.current().websockets.connection_count(app_id, user_id)

    def __repr__(self) -> str:
        return "<core.websocket_manager: WebSockets of the caller's app>"


def _from_plugin(message: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = message.get("type") if isinstance(message, Mapping) else None
    if isinstance(kind, str) and kind in RUNTIME_TYPES:
        raise ValueError(
            f"WebSocket messages of type {message['type']!r} come from the runtime; give "
            "yours a type of your own (notifications: notifications_manager)"
        )
    return message


def _body(message: Mapping[str, Any]) -> str:
    """``message`` encoded as a JSON object, without ``seq`` (the manager sets it)."""
    if not isinstance(message, Mapping):
        raise TypeError(
            f"WebSocket messages must be dicts (JSON objects), got {type(message).__name__}"
        )
    return encode_json({k: v for k, v in message.items() if k != "seq"}).decode()


websocket_manager = WebSocketManager()
