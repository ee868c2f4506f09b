"""One open WebSocket of one user: an ordered, bounded outbox drained by a writer task.

Messages are queued without waiting, so a slow client never slows the sender or the other
clients; when its queue overflows, or a send stays blocked past the timeout, the client is
disconnected and may reconnect to resume. Numbered messages are written in ``seq`` order
exactly once: one already sent is skipped, and a hole in the numbers is filled from the
resume log first. The same mechanism replays what a reconnecting client missed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
import weakref
from collections.abc import MutableMapping
from typing import Any, Protocol

import orjson
from starlette.websockets import WebSocketDisconnect

from tessera.services.resume import ResumeLog

logger = logging.getLogger("tessera.websocket")

# Close codes: 4001/4003 mirror HTTP 401/403; the others are RFC 6455's.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_NO_HEARTBEAT = 1011
CLOSE_TOO_SLOW = 1013
# The same code (RFC 6455's "try again later"), when the cluster's Redis is away.
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHORIZED = 4001
CLOSE_FORBIDDEN = 4003

PING = orjson.dumps({"type": "ping"}).decode()
PONG = orjson.dumps({"type": "pong"}).decode()


class Socket(Protocol):
    """What a connection needs of a WebSocket (Starlette's ``WebSocket`` has it)."""

    async def send_text(self, data: str) -> None: ...

    async def receive(self) -> MutableMapping[str, Any]: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class _Heartbeats:
    """Every connection's heartbeat on one timer of the loop, earliest first: a timer
    per connection would cost about 0.7 KB each."""

    def __init__(self) -> None:
        # Not the loop itself: _heartbeats maps it weakly, and a value may not hold its key.
        # [due time, tie-breaker, connection or None once it closed]
        self._due: list[list[Any]] = []
        self._order = itertools.count()
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0  # uvloop gives a past time a plain Handle, without when()

    def schedule(self, connection: Connection, delay: float) -> list[Any]:
        """Call ``connection._beat()`` in ``delay`` seconds, unless the returned entry's
        last item is set to None first (the connection closed)."""
        entry = [asyncio.get_running_loop().time() + delay, next(self._order), connection]
        heapq.heappush(self._due, entry)
        self._arm()
        return entry

    def _arm(self) -> None:
        """One timer, at the earliest due time."""
        if not self._due:
            return
        when = self._due[0][0]
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._fire)
        self._timer_at = when

    def _fire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        while self._due and self._due[0][0] <= now:
            connection = heapq.heappop(self._due)[2]
            if connection is not None:
                connection._beat()
        self._arm()


_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Heartbeats] = (
    weakref.WeakKeyDictionary()
)


def _heartbeats_of(loop: asyncio.AbstractEventLoop) -> _Heartbeats:
    heartbeats = _heartbeats.get(loop)
    if heartbeats is None:
        heartbeats = _heartbeats[loop] = _Heartbeats()
    return heartbeats


def with_seq(body: str, seq: int) -> str:
    """The JSON object ``body`` (encoded without a ``seq`` key) with ``"seq": seq`` added."""
    return f'{body[:-1]}{"," if body != "{}" else ""}"seq":{seq}}}'


class Connection:
    """A user's socket with its outbox, writer, heartbeat and reader.

    An idle connection costs no task of its own: ``serve`` reads in the caller's task, the
    writer task runs only while messages wait, and the heartbeat is a place in the loop's
    schedule, so many thousands of idle sockets stay cheap.

    :param last_seq: the last message the client has; later ones kept in ``log`` are sent
        first, then live ones.
    :param unknown_seq: a ``last_seq`` the client gave that is beyond the user's sequence
        (from a wiped or another store); the client is told to resync.
    :param ping_interval: seconds between heartbeats (``{"type": "ping"}``). A client that
        has answered one with ``{"type": "pong"}`` must keep answering within
        ``ping_timeout`` seconds, or it is disconnected.
    """

    __slots__ = (
        "_answered_at",
        "_catching_up",
        "_closing",
        "_greeting",
        "_heartbeat",
        "_heartbeats",
        "_interrupted",
        "_log",
        "_outbox",
        "_ping_interval",
        "_ping_timeout",
        "_queue_size",
        "_reading",
        "_reason",
        "_task",
        "_unknown_seq",
        "_writer",
        "app_id",
        "close_code",
        "last_seq",
        "socket",
        "user_id",
    )

    def __init__(
        self,
        socket: Socket,
        app_id: str,
        user_id: str,
        *,
        log: ResumeLog,
        last_seq: int,
        unknown_seq: int | None = None,
        queue_size: int,
        ping_interval: float,
        ping_timeout: float,
    ) -> None:
        self.socket = socket
        self.app_id = app_id
        self.user_id = user_id
        self.last_seq = last_seq
        self._unknown_seq = unknown_seq
        self.close_code: int | None = None
        self._log = log
        # A list, not an asyncio.Queue: an empty Queue holds four deques (about 3 KB).
        self._outbox: list[tuple[int | None, str]] = []
        self._queue_size = queue_size
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._answered_at: float | None = None
        self._task: asyncio.Task[Any] | None = None  # the one running serve
        self._reading = False  # serve waits for the client's next message
        self._interrupted = False  # close cancelled that wait
        self._closing = False
        self._reason = ""
        self._writer: asyncio.Task[None] | None = None
        self._heartbeats: _Heartbeats | None = None
        self._heartbeat: list[Any] | None = None  # this connection's entry in _heartbeats
        self._greeting: str | None = None
        self._catching_up = True  # the greeting and the replay come before live messages

    @property
    def closed(self) -> bool:
        return self._closing

    def offer(self, seq: int | None, text: str) -> None:
        """Queue a message (``seq`` None for control messages); never waits."""
        if self._closing:
            return
        if len(self._outbox) >= self._queue_size:
            logger.warning(
                "WebSocket of user %s (app %s) dropped: %d messages waiting, client too slow",
                self.user_id,
                self.app_id,
                len(self._outbox),
            )
            self.close(CLOSE_TOO_SLOW, "client too slow: message queue overflowed")
            return
        self._outbox.append((seq, text))
        self._start_writer()

    def close(self, code: int, reason: str = "") -> None:
        """Ask the connection to end with ``code``; ``serve`` sends the close frame."""
        if not self._closing:
            self.close_code, self._reason = code, reason
            self._end()

    def _end(self) -> None:
        self._closing = True
        if self._reading and not self._interrupted and self._task is not None:
            # serve waits for the client: cancel that wait (see _read), then it closes.
            self._interrupted = True
            self._task.cancel()

    async def serve(self, greeting: dict[str, Any]) -> None:
        """Send ``greeting``, replay what the client missed, then run until either side
        closes."""
        self._task = asyncio.current_task()
        self._greeting = orjson.dumps(greeting).decode()
        self._start_writer()
        self._heartbeats = _heartbeats_of(asyncio.get_running_loop())
        self._heartbeat = self._heartbeats.schedule(self, self._ping_interval)
        try:
            await self._read()
        finally:
            self._closing = True  # also when cancelled: no writer starts again
            self._heartbeat[2] = None  # and no heartbeat: the schedule lets go of us
            if self._writer is not None:
                self._writer.cancel()
                await asyncio.gather(self._writer, return_exceptions=True)
            if self.close_code is not None:
                await self._send_close()

    def _start_writer(self) -> None:
        if self._writer is None and self._task is not None and not self._closing:
            self._writer = asyncio.create_task(self._write())

    async def _send_close(self) -> None:
        assert self.close_code is not None
        try:
            await asyncio.wait_for(self.socket.close(self.close_code, self._reason), 1.0)
        except Exception:  # the peer is gone or stuck: the server drops the transport
            logger.debug("close frame to user %s not sent", self.user_id)

    async def _send(self, text: str) -> None:
        try:
            # asyncio.timeout rather than wait_for: no task per message.
            async with asyncio.timeout(self._ping_timeout):
                await self.socket.send_text(text)
        except TimeoutError:
            self.close(CLOSE_TOO_SLOW, "client too slow: a send did not complete")
            raise

    async def _write(self) -> None:
        """Send what waits in the outbox, then end; ``offer`` starts it again."""
        try:
            if self._catching_up:
                assert self._greeting is not None
                await self._send(self._greeting)
                self._greeting = None
                if self._unknown_seq is not None:
                    await self._send_resync(self._unknown_seq, self.last_seq + 1)
                await self._catch_up(None)
                self._catching_up = False
            while self._outbox:
                seq, text = self._outbox.pop(0)
                if seq is None:
                    await self._send(text)
                    continue
                if seq <= self.last_seq:
                    continue
                if seq > self.last_seq + 1:
                    await self._catch_up(seq - 1)
                await self._send(text)
                self.last_seq = seq
        except (OSError, RuntimeError, TimeoutError, WebSocketDisconnect):  # socket gone, or slow
            logger.debug("WebSocket writer of user %s ended", self.user_id, exc_info=True)
            self._end()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("WebSocket writer of user %s failed", self.user_id)
            self._end()
        finally:
            self._writer = None

    async def _catch_up(self, until: int | None) -> None:
        """Send the kept messages after ``last_seq`` (up to ``until``), in order."""
        missed = await self._log.since(self.app_id, self.user_id, self.last_seq, until)
        if missed and missed[0][0] > self.last_seq + 1:
            # Older messages left the resume window.
            await self._send_resync(self.last_seq, missed[0][0])
        for seq, body in missed:
            await self._send(with_seq(body, seq))
            self.last_seq = seq

    async def _send_resync(self, last_seq: int, first_seq: int) -> None:
        """Tell the client that messages after ``last_seq`` are lost: reload your state."""
        notice = {"type": "resync", "last_seq": last_seq, "first_seq": first_seq}
        await self._send(orjson.dumps(notice).decode())

    def _beat(self) -> None:
        """The heartbeat: ping, or drop a client that stopped answering."""
        answered = self._answered_at
        silent = answered is not None and (
            time.monotonic() - answered > self._ping_interval + self._ping_timeout
        )
        if silent:
            logger.info("WebSocket of user %s dropped: heartbeat not answered", self.user_id)
            self.close(CLOSE_NO_HEARTBEAT, "heartbeat not answered")
            return
        self.offer(None, PING)
        if self._heartbeats is not None and not self._closing:
            self._heartbeat = self._heartbeats.schedule(self, self._ping_interval)

    async def _read(self) -> None:
        """Read the client's messages until it leaves or ``close`` interrupts."""
        try:
            while not self._closing:
                self._reading = True
                try:
                    message = await self.socket.receive()
                finally:
                    self._reading = False
                if message["type"] == "websocket.disconnect":
                    return
                self._on_client_message(message.get("text") or message.get("bytes") or b"")
        except asyncio.CancelledError:
            # Ours, from _end: carry on closing. Anyone else's (a server shutting down)
            # goes on up.
            task = asyncio.current_task()
            if not self._interrupted or task is None or task.uncancel() > 0:
                raise
        except Exception:
            logger.debug("WebSocket reader of user %s ended", self.user_id, exc_info=True)
        finally:
            self._closing = True

    def _on_client_message(self, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "pong" or self._answered_at is not None:
            self._answered_at = time.monotonic()
        if kind == "ping":
            self.offer(None, PONG)
