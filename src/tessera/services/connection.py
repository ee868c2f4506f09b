"""One open WebSocket of one user: an ordered, bounded outbox drained by a writer task.

Messages are queued without waiting, so a slow client never slows the sender or the other
clients; when its queue overflows, or a send stays blocked past the timeout, the client is
disconnected and may reconnect to resume. Numbered messages are written in ``seq`` order
exactly once: one already sent is skipped, and a hole in the numbers is filled from the
resume log first. The same mechanism replays what a reconnecting client missed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from typing import Any, Protocol

import orjson
from starlette.websockets import WebSocketDisconnect

from tessera.services.resume import ResumeLog

logger = logging.getLogger("tessera.websocket")

# Close codes: 4001/4003 mirror HTTP 401/403; the others are RFC 6455's.
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
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


def with_seq(body: str, seq: int) -> str:
    """The JSON object ``body`` (encoded without a ``seq`` key) with ``"seq": seq`` added."""
    return f'{body[:-1]}{"," if body != "{}" else ""}"seq":{seq}}}'


class Connection:
    """A user's socket with its outbox, writer, heartbeat and reader.

    :param last_seq: the last message the client has; later ones kept in ``log`` are sent
        first, then live ones.
    :param unknown_seq: a ``last_seq`` the client gave that is beyond the user's sequence
        (from a wiped or another store); the client is told to resync.
    :param ping_interval: seconds between heartbeats (``{"type": "ping"}``). A client that
        has answered one with ``{"type": "pong"}`` must keep answering within
        ``ping_timeout`` seconds, or it is disconnected.
    """

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
        self._outbox: asyncio.Queue[tuple[int | None, str]] = asyncio.Queue(queue_size)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._answered_at: float | None = None
        self._closed = asyncio.Event()
        self._reason = ""

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def offer(self, seq: int | None, text: str) -> None:
        """Queue a message (``seq`` None for control messages); never waits."""
        if self.closed:
            return
        try:
            self._outbox.put_nowait((seq, text))
        except asyncio.QueueFull:
            logger.warning(
                "WebSocket of user %s (app %s) dropped: %d messages waiting, client too slow",
                self.user_id,
                self.app_id,
                self._outbox.qsize(),
            )
            self.close(CLOSE_TOO_SLOW, "client too slow: message queue overflowed")

    def close(self, code: int, reason: str = "") -> None:
        """Ask the connection to end with ``code``; ``serve`` sends the close frame."""
        if not self.closed:
            self.close_code, self._reason = code, reason
            self._closed.set()

    async def serve(self, greeting: dict[str, Any]) -> None:
        """Send ``greeting``, replay what the client missed, then run until either side
        closes."""
        tasks = [
            asyncio.create_task(self._write(orjson.dumps(greeting).decode())),
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._read()),
        ]
        try:
            await self._closed.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.close_code is not None:
                await self._send_close()

    async def _send_close(self) -> None:
        assert self.close_code is not None
        try:
            await asyncio.wait_for(self.socket.close(self.close_code, self._reason), 1.0)
        except Exception:  # the peer is gone or stuck: the server drops the transport
            logger.debug("close frame to user %s not sent", self.user_id)

    async def _send(self, text: str) -> None:
        try:
            await asyncio.wait_for(self.socket.send_text(text), self._ping_timeout)
        except TimeoutError:
            self.close(CLOSE_TOO_SLOW, "client too slow: a send did not complete")
            raise

    async def _write(self, greeting: str) -> None:
        try:
            await self._send(greeting)
            if self._unknown_seq is not None:
                await self._send_resync(self._unknown_seq, self.last_seq + 1)
            await self._catch_up(None)
            while True:
                seq, text = await self._outbox.get()
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
        except Exception:
            logger.exception("WebSocket writer of user %s failed", self.user_id)
        finally:
            self._closed.set()

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

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            answered = self._answered_at
            silent = answered is not None and (
                time.monotonic() - answered > self._ping_interval + self._ping_timeout
            )
            if silent:
                logger.info("WebSocket of user %s dropped: heartbeat not answered", self.user_id)
                self.close(CLOSE_NO_HEARTBEAT, "heartbeat not answered")
                return
            self.offer(None, PING)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.socket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                self._on_client_message(message.get("text") or message.get("bytes") or b"")
        except Exception:
            logger.debug("WebSocket reader of user %s ended", self.user_id, exc_info=True)
        finally:
            self._closed.set()

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
