"""The worker's end of its channel: each operation a request, answered before the next.

A worker runs one call at a time, so its channel is strictly request and answer: the
plugin's ``await db["notes"].find_one(...)`` sends one frame and blocks until the server
answers. Every request names the call it belongs to; the server refuses one that names
any other (see :mod:`tessera.sandbox.process`).
"""

from __future__ import annotations

import socket
from typing import Any

from tessera.sandbox import faults
from tessera.sandbox.frames import encode, recv_frame


class Channel:
    """The socket a worker inherited, and the call it is serving now."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        #: The call being served (0 while the plugin is imported: nothing may be asked).
        self.job = 0

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(encode(message))

    def receive(self) -> dict[str, Any]:
        return recv_frame(self.sock)

    def request(self, op: str, **fields: Any) -> Any:
        """Ask the server to run ``op`` for the current call; its answer, or its error
        raised here as the plugin would see it in-process."""
        self.send({"op": op, "job": self.job, **fields})
        answer = self.receive()
        if "err" in answer:
            raise faults.rebuild(answer["err"])
        return answer.get("ok")

    def tell(self, op: str, **fields: Any) -> None:
        """Send ``op`` expecting no answer (log lines)."""
        self.send({"op": op, "job": self.job, **fields})


#: The channel of this worker process (set once at start, before the plugin is imported).
channel: Channel | None = None


def current() -> Channel:
    if channel is None:
        raise RuntimeError("tessera.sandbox proxies work only inside a sandbox worker")
    return channel
