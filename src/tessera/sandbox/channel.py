"""The worker's end of its channel: each operation a request, answered before the next.

A worker runs one call at a time, so its channel is strictly request and answer: the
plugin's ``await db["notes"].find_one(...)`` sends one frame and blocks until the server
answers. Every request names the call it belongs to, taken from the context the code runs
in: code with no call (a thread the plugin started, an empty context, a task left over
from an earlier call) is refused here, as in-process, before anything is sent; and the
server refuses a request that names any call but the one in flight.
"""

from __future__ import annotations

import socket
import threading
from contextvars import ContextVar
from typing import Any

from bson.errors import InvalidDocument

from tessera.context import no_caller
from tessera.sandbox import faults
from tessera.sandbox.frames import (
    MAX_FRAME,
    MAX_FRAME_VALUES,
    FrameBuffer,
    encode,
    recv_frame,
    values_within,
)


class TooManyValues(InvalidDocument):
    """An operation of more values than the server takes in one (MAX_FRAME_VALUES)."""


#: The call the running code belongs to (0: none), set where the worker starts a call.
current_job: ContextVar[int] = ContextVar("tessera_sandbox_job", default=0)


class Channel:
    """The socket a worker inherited, and the call it is serving now."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = FrameBuffer()
        #: The call in flight (0 between calls).
        self.job = 0
        #: Whether the plugin is being imported (its lines then belong to no call).
        self.importing = True
        # Threads that kept the call's context (asyncio.to_thread) share the socket.
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any], *, last: bool = False) -> None:
        """Send ``message``; ``last``: it is the last frame of the call (or of the import),
        which ends together with it, so no thread's frame can follow it as the call's."""
        self.send_frame(_frame(message), last=last)

    def encode(self, message: dict[str, Any]) -> bytes:
        """``message`` as a frame to `send_frame` (InvalidDocument: it cannot be one)."""
        return _frame(message)

    def send_frame(self, frame: bytes, *, last: bool = False) -> None:
        """Send a frame of `encode`; ``last`` as for :meth:`send`."""
        with self._lock:
            if last:
                self.job = 0
                self.importing = False
            self.sock.sendall(frame)

    def receive(self) -> dict[str, Any]:
        return recv_frame(self.sock, self.buffer)

    def request(self, op: str, **fields: Any) -> Any:
        """Ask the server to run ``op`` for the current call; its answer, or its error
        raised here as the plugin would see it in-process."""
        job = self._job(op)
        frame = _frame({"op": op, "job": job, **fields}, operation=True)
        with self._lock:
            # Again, the channel held: a thread of the call's (asyncio.to_thread) that
            # waited for it while the call's end was sent would send its request after
            # the end, where the server takes it for the next call's, and read the next
            # call's frame as its answer.
            self._job(op)
            self.sock.sendall(frame)
            answer = recv_frame(self.sock, self.buffer)
        if "err" in answer:
            raise faults.rebuild(answer["err"])
        return answer.get("ok")

    def tell(self, op: str, **fields: Any) -> None:
        """Send ``op`` expecting no answer (log lines): a call's lines, or the import's;
        dropped from code of no call in flight (a thread of the plugin's own)."""
        job = current_job.get()
        frame = _frame({"op": op, "job": job, **fields}, operation=True)
        with self._lock:
            if job == self.job and (job or self.importing):
                self.sock.sendall(frame)

    def _job(self, op: str) -> int:
        job = current_job.get()
        if not job or job != self.job:
            raise no_caller(f"the database or a service ({op})")
        return job


def _frame(message: dict[str, Any], *, operation: bool = False) -> bytes:
    """``message`` encoded; InvalidDocument when it is over the server's frame limit, or
    is an ``operation`` of more values than the server takes in one, so the plugin gets
    the error (as from a store refusing a document over 16 MiB) rather than the server
    ending the worker for breaking the protocol, which would count towards the back-off
    that stops the plugin for every user."""
    frame = encode_operation(message) if operation else encode(message)
    if len(frame) > MAX_FRAME:
        raise InvalidDocument(
            f"{len(frame)} bytes is over the sandbox channel's limit of {MAX_FRAME} "
            "(MongoDB's 16 MiB document limit and its framing)"
        )
    if operation and not values_within(frame):
        raise TooManyValues(
            f"an operation of more than {MAX_FRAME_VALUES} values (documents, arrays and "
            "their items, at any depth) is over what the sandbox channel carries in one: "
            "split it (fewer values a document or filter; insert_many splits its batches)"
        )
    return frame


def encode_operation(message: dict[str, Any]) -> bytes:
    """An operation for the server encoded; one nested deeper than BSON's encoder recurses
    gets the store's error for input nested too deep (code 15), not RecursionError."""
    try:
        return encode(message)
    except RecursionError:
        from tessera.store.engine.documents import nesting_error

        raise nesting_error("the operation") from None


#: The channel of this worker process (set once at start, before the plugin is imported).
channel: Channel | None = None


def current() -> Channel:
    if channel is None:
        raise RuntimeError("tessera.sandbox proxies work only inside a sandbox worker")
    return channel
