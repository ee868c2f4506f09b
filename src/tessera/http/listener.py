"""The event loop `tessera serve` runs: uvloop, taking every waiting connection at once.

uvloop's server (libuv underneath) accepts one connection per turn of the loop. Under
load a turn serves every request that is ready, so it lasts tens of milliseconds, and
connections opened together are let in one a turn: the 64 connections a load balancer or
a benchmark opens at once were accepted over 1.1-1.5 s, their first requests waiting
in the kernel the whole time (docs/performance.md, "The list tail"). asyncio's own loop
takes up to the listen backlog a turn; this loop does the same on top of uvloop: its
`create_server`, when given a host and port as uvicorn gives them, binds the sockets
itself, watches them with `add_reader` and accepts until none is left, handing each
connection to uvloop (`connect_accepted_socket`). Any other form (a socket passed in, as
uvicorn's workers do, or TLS) is uvloop's own server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

import uvicorn
import uvloop

__all__ = ["AcceptAllLoop", "loop_option", "new_event_loop"]

logger = logging.getLogger("tessera.http")

# Errors that say the process or the system is out of something: accepting again at once
# would fail again, so the listener waits a moment, as asyncio's does.
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_RETRY_AFTER_S = 1.0

ProtocolFactory = Callable[[], asyncio.BaseProtocol]


class AcceptAllLoop(uvloop.Loop):  # type: ignore[misc]  # uvloop.Loop is untyped to mypy
    """uvloop, with a server that accepts all waiting connections each time it looks."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: ProtocolFactory,
        host: str | None = None,
        port: int | None = None,
        *,
        backlog: int = 100,
        ssl: Any = None,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        if ssl is not None or kwargs or port is None:
            options: dict[str, Any] = {"port": port, "backlog": backlog, "ssl": ssl, **kwargs}
            return await super().create_server(protocol_factory, host, **options)
        sockets = bind(host, port, backlog)
        return AcceptAllServer(self, protocol_factory, sockets, backlog)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The loop factory `tessera serve` names to uvicorn (``loop=``)."""
    return AcceptAllLoop()


def loop_option() -> str:
    """uvicorn's ``loop`` option for this loop: its import path where uvicorn takes a loop
    factory there (0.36 and later; before, the path named a setup function), "auto"
    otherwise."""
    if hasattr(uvicorn.Config, "get_loop_factory"):
        return f"{__name__}:new_event_loop"
    return "auto"


def bind(host: str | None, port: int, backlog: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to, as asyncio binds them
    (``SO_REUSEADDR``; IPv6 sockets IPv6-only)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[int, Any]] = set()
    try:
        for family, _, _, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.create_server(address, family=family, backlog=backlog)
            sock.setblocking(False)
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class AcceptAllServer(asyncio.AbstractServer):
    """Listening sockets whose waiting connections are all taken each time one is ready."""

    def __init__(
        self,
        loop: uvloop.Loop,
        protocol_factory: ProtocolFactory,
        sockets: Iterable[socket.socket],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._sockets = list(sockets)
        self._backlog = backlog
        self._serving = True
        for sock in self._sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def _accept(self, listening: socket.socket) -> None:
        for _ in range(self._backlog):
            try:
                conn, _ = listening.accept()
            except (BlockingIOError, InterruptedError):
                return  # none left
            except ConnectionAbortedError:
                continue  # closed by the client before we took it
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                logger.error("cannot accept a connection (%s): retrying in 1 s", exc)
                self._loop.remove_reader(listening.fileno())
                self._loop.call_later(_RETRY_AFTER_S, self._resume, listening)
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._loop.create_task(self._connect(conn))

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:
            conn.close()  # reset before its transport was made: nothing to serve

    def _resume(self, listening: socket.socket) -> None:
        if self._serving:
            self._loop.add_reader(listening.fileno(), self._accept, listening)

    def close(self) -> None:
        if not self._serving:
            return
        self._serving = False
        for sock in self._sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    def is_serving(self) -> bool:
        return self._serving

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop  # type: ignore[no-any-return]

    async def start_serving(self) -> None:
        """Serving starts when the server is made."""

    async def serve_forever(self) -> None:
        raise NotImplementedError("uvicorn runs the server")

    async def wait_closed(self) -> None:
        """Closed at once by `close` (uvicorn closes the connections itself)."""
