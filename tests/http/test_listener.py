"""The loop `tessera serve` runs takes every waiting connection each time it looks."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn

from tessera.http.listener import AcceptAllLoop, AcceptAllServer, loop_option, new_event_loop


class Echo(asyncio.Protocol):
    made: list[Echo] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        Echo.made.append(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())  # type: ignore[attr-defined]


def run(coro_fn):  # type: ignore[no-untyped-def]
    loop = new_event_loop()
    try:
        return loop.run_until_complete(coro_fn(loop))
    finally:
        loop.close()


def test_one_look_accepts_every_waiting_connection() -> None:
    async def scenario(loop: AcceptAllLoop) -> int:
        Echo.made = []
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=100)
        assert isinstance(server, AcceptAllServer)
        listening = server.sockets[0]
        # Eight connections complete their handshake in the kernel before the loop looks.
        clients = [socket.create_connection(listening.getsockname()) for _ in range(8)]
        server._accept(listening)  # one look, as one readiness of the listening socket
        await asyncio.gather(*[t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
        made = len(Echo.made)
        for client in clients:
            client.close()
        server.close()
        return made

    assert run(scenario) == 8


def test_connections_are_served_and_close_stops_listening() -> None:
    async def scenario(loop: AcceptAllLoop) -> list[bytes]:
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        address = server.sockets[0].getsockname()
        streams = [await asyncio.open_connection(*address) for _ in range(5)]
        answers = []
        for i, (reader, writer) in enumerate(streams):
            writer.write(f"hello {i}".encode())
            answers.append(await reader.readexactly(7))
            writer.close()
        assert server.is_serving()
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(*address)
        return answers

    assert run(scenario) == [f"HELLO {i}".encode() for i in range(5)]


def test_a_socket_passed_in_is_uvloops_own_server() -> None:
    async def scenario(loop: AcceptAllLoop) -> bool:
        sock = socket.create_server(("127.0.0.1", 0))
        server = await loop.create_server(Echo, sock=sock)
        own = not isinstance(server, AcceptAllServer)
        server.close()
        return own

    assert run(scenario)


def test_uvicorn_is_given_this_loop() -> None:
    factory = uvicorn.Config(app=None, loop=loop_option()).get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, AcceptAllLoop)
    finally:
        loop.close()
