"""A sandbox worker: ``python -m tessera.sandbox.worker FD NAME FOLDER CONFINEMENT``.

Started by the server (inside bubblewrap, :mod:`.launch`) with one end of a socket pair as
file descriptor ``FD``. It confines itself (limits, seccomp), installs the contract's
proxies, imports the plugin, says it is ready, then serves one call (or event) at a time
until the server closes the channel or kills it. It never holds a store client or a
secret: everything it reads or writes is a request on the channel, answered for the call
in flight.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import resource
import socket
import sys
import time
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import uvloop

from tessera.context import callerless_plugin
from tessera.encoding import EncodingError, encode_json
from tessera.sandbox import channel as channels
from tessera.sandbox import contract, faults, launch
from tessera.sandbox.channel import Channel, current_job
from tessera.sandbox.frames import (
    MAX_RESULT_JSON,
    end_within,
    json_within_bounds,
    values_within,
)
from tessera.sandbox.remote_services import event_bus, is_async


class ChannelLog(logging.Handler):
    """Plugin log lines go to the server, which logs them with the call's context."""

    def __init__(self, chan: Channel) -> None:
        super().__init__()
        self.chan = chan

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.chan.tell("log", level=record.levelno, name=record.name, msg=self.format(record))
        except Exception:  # a log line must never break the plugin
            self.handleError(record)


class Worker:
    """The plugin's code and the loop its calls run on."""

    def __init__(
        self, chan: Channel, loop: asyncio.AbstractEventLoop, name: str, folder: Path
    ) -> None:
        self.chan = chan
        self.loop = loop
        self.name = name
        self.folder = folder
        self.entry: Any = None
        # Half the whole-life CPU limit (set by the confinement, before the worker is made).
        limit = resource.getrlimit(resource.RLIMIT_CPU)[0]
        self.retire_after = None if limit == resource.RLIM_INFINITY else limit / 2
        #: Whether a callback stopped the loop with SystemExit or KeyboardInterrupt.
        self.interrupted = False

    def load(self) -> None:
        """Import the plugin and tell the server what it subscribed to (or why it failed)."""
        from tessera.plugins.errors import PluginLoadError
        from tessera.plugins.loader import import_plugin

        token = callerless_plugin.set(self.name)  # what it does at import has no caller
        try:
            code = import_plugin(self.name, self.folder)
        except PluginLoadError as exc:
            self.chan.send({"failed": str(exc)}, last=True)
            return
        finally:
            callerless_plugin.reset(token)
            event_bus.importing = False
        self.entry = code.entry
        self.chan.send({"ready": True, "subscriptions": event_bus.subscriptions()}, last=True)

    def serve(self) -> None:
        """Run what the server sends, one at a time, until it closes the channel.

        A call's own SystemExit or KeyboardInterrupt is its error (`_in_task`); one raised
        by a callback its code left on the loop (a timer) stops the loop wherever it is,
        maybe in another user's call: that call goes on, and the worker asks to be
        replaced after it (``interrupted``) rather than ending under it."""
        serving = self.loop.create_task(self._serve())
        while not serving.done():
            try:
                self.loop.run_until_complete(serving)
            except (SystemExit, KeyboardInterrupt):
                self.interrupted = True

    async def _serve(self) -> None:
        # One task reads and answers every call, in one run of the loop (a loop run a call
        # cost a no-op call more than its plugin's code); each call's code runs in a task
        # of its own (`_in_task`), as in-process.
        while True:
            try:
                message = self.chan.receive()
            except (EOFError, OSError):  # the server closed the channel: the worker ends
                return
            job = message.get("job")
            if not isinstance(job, int) or job <= 0:
                return
            self.chan.job = job
            context = contextvars.Context()  # what the call's code and its tasks inherit
            context.run(current_job.set, job)
            try:
                result = await self._run(context, message)
            except MemoryError:
                self.chan.send({"done": job, "memory": True}, last=True)
                return  # the process may be in any state: the server replaces it
            except BaseException as exc:
                fields = {"raised": faults.describe(exc, with_traceback=True)}
            else:
                fields = _result_fields(result)
            if pending := self._end(job, fields):
                # Run to their end, still as that call (the server keeps answering for
                # it), then say so; the server bounds how long.
                await asyncio.wait(pending)
                self.chan.send({"settled": job}, last=True)

    async def _run(self, context: contextvars.Context, message: dict[str, Any]) -> Any:
        if message.get("kind") == "event":
            pattern, every = str(message.get("pattern")), bool(message.get("every"))
            for handler in event_bus.matching(pattern, every):
                result = context.run(handler, message.get("payload"))
                if is_async(handler) or asyncio.iscoroutine(result):
                    await self._in_task(context, result)
            return {}
        result = context.run(self.entry, message.get("data"))
        if asyncio.iscoroutine(result):
            result = await self._in_task(context, result)
        return result

    async def _in_task(self, context: contextvars.Context, awaitable: Any) -> Any:
        """Await the call's ``awaitable`` in a task of its own, in ``context``. Its code
        holds that task as its own (``asyncio.current_task()``), as in-process: what it
        keeps per task (a session scoped to the task) or cancels later (a timer it left)
        is its call's; one task stepping every call's code gave bob's call what alice's
        kept and let a timer alice's call left cancel bob's."""
        outcome: list[Any] = []
        task = _started(self.loop, _outcome(awaitable, outcome), context)
        try:
            await task
        except asyncio.CancelledError:
            # A cancellation still pending when the code returned ends its task cancelled;
            # in-process the call has its result (the cancellation goes nowhere after).
            if not (outcome and task.cancelled()):
                raise
        if isinstance(outcome[0], _Exit):  # raised here, in the serving task, to be caught
            raise outcome[0].exc
        return outcome[0]

    def _end(self, job: int, fields: dict[str, Any]) -> set[asyncio.Task[Any]]:
        """Send the end of call ``job``, ``fields`` saying its result or error, and return
        the tasks the call left running (then ``lingering``). Encoded first: encoding a
        result can run the plugin's code (a mapping's methods), which could start a task or
        cancel the serving one; the flags say what holds once it is encoded. ``retire``
        asks for a new worker once this one has spent half its whole-life CPU limit, so
        the limit never kills a later call part way, or once the call's code left a
        cancellation pending on the serving task (reached through ``all_tasks()``; it
        would cancel the next call), or once a callback interrupted the loop (`serve`)."""
        flags = {"retire": False, "lingering": False}
        try:
            frame = self.chan.encode({"done": job, **fields, **flags})
            if not values_within(frame) and not end_within(frame):
                # The server refuses a call's end of that many values dear to decode (an
                # error result of ObjectIds, say): they cross as their JSON, as the
                # caller gets them anyway.
                plain = orjson.loads(encode_json(fields["result"]))
                frame = self.chan.encode({"done": job, "result": plain, **flags})
        except Exception as exc:  # what BSON cannot carry (a set, a custom class)
            # Cut as any error's message: BSON's quotes the value (a 5 MiB bytearray's
            # repr is 20 MiB), and a description over a frame killed the worker.
            unsendable = TypeError(f"result cannot be sent: {exc}")
            frame = self.chan.encode({"done": job, "raised": faults.describe(unsendable), **flags})
        spent = self.retire_after is not None and time.process_time() > self.retire_after
        serving = asyncio.current_task()
        cancelled = serving is not None and serving.cancelling() > 0
        pending = _left_running()
        retire = spent or cancelled or self.interrupted
        self.chan.send_frame(_flagged(frame, retire, bool(pending)), last=not pending)
        return pending


def _result_fields(result: Any) -> dict[str, Any]:
    """What the end of a call says of the ``result`` its code returned."""
    if type(result) is not dict:
        return {"not_dict": type(result).__name__}
    if "error" not in result:
        # Encoded here as the HTTP answer carries it (the server checks it and passes it
        # on): cheaper than BSON here, then decoding it and JSON on the server. An error
        # result goes as BSON, the server reads it as in-process.
        try:
            encoded = encode_json(result)
        except EncodingError as exc:
            return {"not_json": str(exc)[:1000]}
        if len(encoded) > MAX_RESULT_JSON:  # the server answers response_too_large
            return {"too_large": len(encoded)}
        if json_within_bounds(encoded):
            return {"json": encoded}
        # Too many values for the server to parse on its event loop: BSON, of the JSON's
        # values (a set is a list there already, as the caller gets it).
        result = orjson.loads(encoded)
    return {"result": result}


# The last two fields of a call's end, each a boolean (BSON type 8) of one byte.
_FLAGS = b"\x08retire\x00%c\x08lingering\x00%c\x00"


def _flagged(frame: bytes, retire: bool, lingering: bool) -> bytes:
    """``frame``, encoded with ``retire`` and ``lingering`` False as its last fields,
    saying ``retire`` and ``lingering``: the same size, so still within the limit."""
    unset = _FLAGS % (False, False)
    assert frame.endswith(unset), "the flags are the frame's last fields"
    return frame[: -len(unset)] + _FLAGS % (retire, lingering)


def _left_running() -> set[asyncio.Task[Any]]:
    """The tasks of the call just answered that still run (all but the serving one)."""
    return {t for t in asyncio.all_tasks() if not t.done()} - {asyncio.current_task()}


def _started(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None], context: contextvars.Context
) -> asyncio.Task[None]:
    """A task of ``coro`` in ``context``, its first step taken at once where Python can
    (3.12's eager start): a call whose code never waits on the loop then ends without a
    turn of it (a no-op call's task: 3 µs eager, 21 with a turn, 30 with a loop run a
    call, on 3.12.1)."""
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, context=context, eager_start=True)
    return loop.create_task(coro, context=context)


class _Exit:
    """A SystemExit or KeyboardInterrupt the call's code raised: a task raises those out
    of the loop, which would end the worker, where they are the call's error."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def _outcome(awaitable: Awaitable[Any], outcome: list[Any]) -> None:
    """Await ``awaitable`` and keep its value (or the _Exit it raised) in ``outcome``."""
    try:
        outcome.append(await awaitable)
    except (SystemExit, KeyboardInterrupt) as exc:
        outcome.append(_Exit(exc))


def main(argv: list[str]) -> None:
    fd, name, folder = int(argv[0]), argv[1], Path(argv[2])
    # Its output is a pipe to the server: line-buffered, so print reaches the log at once.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    chan = Channel(socket.socket(fileno=fd))
    launch.confine_worker(argv[3])
    # uvloop, as the server's: plugin code sees the same loop in both modes, and a call's
    # turns of it run in C. Made once confined: libuv then finds io_uring refused and
    # polls with epoll; made before, it set io_uring up and aborted at its first poll.
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    channels.channel = chan
    contract.install()
    logging.getLogger().handlers[:] = [ChannelLog(chan)]
    logging.getLogger().setLevel(logging.INFO)
    worker = Worker(chan, loop, name, folder)
    worker.load()
    if worker.entry is not None:
        worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
