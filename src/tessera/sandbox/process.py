"""One worker process, seen from the server: started, given calls, killed.

A worker serves one call at a time. While it does, the call's own task reads the worker's
frames and answers its operations (:mod:`.operations`), so every operation runs as that
call's caller, and a worker can only ever act for the call in flight on it. A frame that
names another call, is malformed or too large, or an operation no plugin could ask for,
ends the worker: the call fails, the server carries on.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

import bson.errors
import orjson

from tessera.encoding import Encoded, ResultTooLarge
from tessera.sandbox import faults, launch
from tessera.sandbox.confinement import Confinement
from tessera.sandbox.frames import (
    MAX_FRAME,
    MAX_RESULT_JSON,
    FrameBuffer,
    FrameError,
    FrameProtocol,
    encode,
    json_within_bounds,
    with_job,
)
from tessera.sandbox.operations import (
    UNANSWERED,
    CallState,
    ProtocolViolation,
    log_line,
    perform,
    printed_text,
    worker_text,
)
from tessera.store.bounds.limits import OBJECT_TOO_LARGE

logger = logging.getLogger("tessera.sandbox")

_jobs = itertools.count(1)
# Frames handled in a row before the call lets other tasks run (a flood of log lines).
_YIELD_EVERY = 64
#: Bytes of a worker's standard output and error passed on to the server's per window.
OUTPUT_BUDGET = 1024 * 1024
OUTPUT_WINDOW = 60.0


class WorkerFailed(Exception):
    """The worker died or broke the protocol during a call."""


class StartFailed(Exception):
    """The worker could not import the plugin (the message says why)."""


class AtCapacity(StartFailed):
    """No worker may start now: the sandbox runs as many as it may, every one busy."""


class ImportFailed(StartFailed):
    """The plugin's code failed to import (a syntax error, an exception it raised)."""


class WorkerProcess:
    """A running worker and the server's end of its channel."""

    def __init__(
        self, process: subprocess.Popen[bytes], sock: socket.socket, output: OutputBudget
    ) -> None:
        self.process = process
        self.sock = sock
        # What the worker sent while starting and was not read yet goes on to the channel.
        self.buffer = FrameBuffer()
        self.channel: FrameProtocol | None = None
        self.last_used = time.monotonic()
        self.subscriptions: list[tuple[str, bool]] = []
        self.name = ""
        #: What its plugin's workers may print and log a minute (its pool's).
        self.output = output
        self.started = 0.0
        self.start_seconds = 0.0
        #: Whom its last call was for (app id, user id); None before its first call.
        self.caller: tuple[str, str] | None = None

    @classmethod
    def launch(
        cls, name: str, confined: Confinement, output: OutputBudget | None = None
    ) -> WorkerProcess:
        """Start a worker for plugin ``name``, confined as ``confined`` says, its output
        within ``output`` (its pool's), without waiting for it (then await :meth:`ready`)."""
        started = time.perf_counter()
        parent, child = socket.socketpair()
        try:
            # Its output comes through a pipe, never as the server's own descriptors: with
            # those it could read the server's log file back (/proc/self/fd/1) or truncate it.
            process = subprocess.Popen(
                launch.command(name, child.fileno(), confined),
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=launch.environment(),
            )
        finally:
            child.close()
        assert process.stdout is not None
        budget = output or OutputBudget(name)
        threading.Thread(target=_pass_on, args=(process.stdout, budget), daemon=True).start()
        worker = cls(process, parent, budget)
        worker.name, worker.started = name, started
        return worker

    async def ready(self, timeout: float) -> None:
        """Wait, without blocking the event loop, until the worker has imported its plugin;
        StartFailed (ImportFailed when the plugin's code failed), the worker killed, when
        the import fails or takes longer than ``timeout``."""
        name = self.name
        try:
            try:
                async with asyncio.timeout(timeout):
                    message = await self._ready_message()
            except TimeoutError:
                raise StartFailed(f"plugin {name!r}: importing it took over {timeout:g}s") from None
            except (EOFError, FrameError, OSError):
                raise StartFailed(
                    f"plugin {name!r}: its worker exited while importing it"
                ) from None
            if "failed" in message:
                raise ImportFailed(str(message["failed"]))
            subscriptions = _subscriptions(message)
            if message.get("ready") is not True or subscriptions is None:
                raise StartFailed(f"plugin {name!r}: its worker sent no ready message")
        except BaseException:
            self.kill()
            raise
        self.subscriptions = subscriptions
        self.start_seconds = time.perf_counter() - self.started

    async def _ready_message(self) -> dict[str, Any]:
        self.channel = await FrameProtocol.connect(self.sock, self.buffer)
        state = CallState(self.name, _no_subscriptions, output=self.output.passes)
        while True:
            message = await self.channel.read()
            if message.get("op") not in UNANSWERED:
                return message
            log_line(message, state)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    async def run(self, frame: bytes, state: CallState) -> dict[str, Any]:
        """Send a call (or event), encoded by `message_frame`, and serve the worker's
        operations until it is done.

        Raises WorkerFailed when the worker dies or breaks the protocol; a cancellation
        (the call's timeout) kills the worker. Either way the worker is not reused.
        """
        assert self.channel is not None
        job = next(_jobs)
        with self._killed_on_failure():
            await self.channel.write(with_job(frame, job))
            return await self._serve(job, state)

    async def linger(self, job: int, state: CallState) -> None:
        """Serve the operations of the tasks call ``job`` left running after its answer,
        until the worker says they ended; like :meth:`run`, a failure or a cancellation
        (their time limit) kills the worker."""
        with self._killed_on_failure():
            await self._serve(job, state, until="settled")

    @contextlib.contextmanager
    def _killed_on_failure(self) -> Iterator[None]:
        """A cancellation, or a worker that died or broke the protocol (WorkerFailed),
        kills the worker."""
        try:
            yield
        except asyncio.CancelledError:
            self.kill()
            raise
        except (EOFError, FrameError, ProtocolViolation, OSError) as exc:
            why = self._why(exc)  # before the kill, which would be all it saw
            self.kill()
            raise WorkerFailed(why) from None

    async def _serve(self, job: int, state: CallState, until: str = "done") -> dict[str, Any]:
        assert self.channel is not None
        handled = 0
        while True:
            message = await self.channel.read()
            handled += 1
            if handled % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if message.get("job") != job and message.get(until) != job:
                raise ProtocolViolation(f"a frame for call {message.get('job')!r} during {job}")
            if until in message:
                return _checked(message)
            if "done" in message or "settled" in message:
                # Read as a call's end, which may hold more than MAX_FRAME_VALUES values:
                # an operation so dressed would run whole on the event loop.
                raise ProtocolViolation(f"a call's end that is not the {until!r} awaited")
            if message.get("op") in UNANSWERED:
                await perform(message, state)
                continue
            # Read on only once the worker takes its answers: one that never reads them
            # would have the server buffer answers until it runs out of memory.
            await self.channel.write(await _answer(message, state))

    def _why(self, exc: BaseException) -> str:
        code = self.process.poll()
        if code is None:
            try:
                code = self.process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                code = None
        if isinstance(exc, (FrameError, ProtocolViolation)):
            logger.error("sandbox worker %d refused: %s", self.process.pid, exc)
            return f"the plugin's worker broke the channel protocol: {exc}"
        # bubblewrap, the process spawned, exits with 128 + the signal that ended the worker.
        killed_by = -code if code is not None and code < 0 else (code or 0) - 128
        if killed_by in signal.valid_signals():
            return f"the plugin's worker was killed by {signal.Signals(killed_by).name}"
        return f"the plugin's worker exited (code {code})"

    def kill(self) -> None:
        """End the worker now (SIGKILL) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        if self.channel is not None:
            self.channel.close()
        else:
            self.sock.close()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL ends it
            logger.error("sandbox worker %d did not end after SIGKILL", self.process.pid)


async def _answer(op: dict[str, Any], state: CallState) -> bytes:
    """The frame answering one operation: its result, or the error it raised."""
    try:
        answer: dict[str, Any] = {"ok": await perform(op, state)}
    except ProtocolViolation:
        raise
    except Exception as exc:
        return encode({"err": faults.describe(exc)})
    try:
        frame = encode(answer)
    except (bson.errors.InvalidDocument, OverflowError) as exc:
        return encode({"err": faults.describe(TypeError(f"result cannot be sent: {exc}"))})
    if len(frame) > MAX_FRAME:  # the worker would refuse it, and die of it: it fails instead
        return encode({"err": faults.describe(_too_large_answer(len(frame)))})
    return frame


def _too_large_answer(size: int) -> Exception:
    """MongoDB's error for a reply over its limit (``BSONObjectTooLarge``): a ``distinct``
    of more than 16 MiB of values, say, whose answer no frame holds."""
    from pymongo.errors import OperationFailure

    message = f"BSONObj size: {size} is invalid. Size must be between 0 and {MAX_FRAME}"
    return OperationFailure(message, code=OBJECT_TOO_LARGE)


def _checked(done: dict[str, Any]) -> dict[str, Any]:
    """The end of a call, its result checked when the worker sent it as JSON: valid JSON
    of an object without ``error`` (a worker sends those as BSON), of at most
    MAX_JSON_VALUES values (more come as BSON); the HTTP layer checks
    its size as any result's. A result said to be too large to send must say a size over
    MAX_RESULT_JSON. Anything else is refused (ProtocolViolation), never passed on to the
    caller."""
    if "not_json" in done:  # answered as in-process: 500 plugin_result_not_json
        problem = worker_text(done.pop("not_json"), 1000)  # logged: bounded and escaped
        done["result"] = Encoded({}, problem=problem or "not JSON")
        return done
    if "too_large" in done:  # answered 500 response_too_large
        size = done.pop("too_large")
        if type(size) is not int or size <= MAX_RESULT_JSON:
            raise ProtocolViolation(f"a result too large at {size!r} bytes")
        done["result"] = Encoded({}, too_large=ResultTooLarge(size, MAX_RESULT_JSON))
        return done
    if "json" not in done:
        return done
    encoded = done.pop("json")
    if type(encoded) is not bytes:
        raise ProtocolViolation(f"a result encoded as {type(encoded).__name__}, not JSON bytes")
    if not json_within_bounds(encoded):  # refused before it costs the loop to parse it
        raise ProtocolViolation("a JSON result with more values than a worker sends as JSON")
    try:
        value = orjson.loads(encoded)
    except orjson.JSONDecodeError as exc:
        raise ProtocolViolation(f"a result that is not valid JSON: {exc}") from None
    if type(value) is not dict or "error" in value:
        what = "an error" if type(value) is dict else type(value).__name__
        raise ProtocolViolation(f"a JSON result that is {what}, not a result object")
    done["result"] = Encoded(value, encoded)
    return done


class OutputBudget:
    """The output one plugin's workers may pass on a window (OUTPUT_BUDGET bytes): its
    pool's, not a worker's, so a worker that dies (or is made to) is replaced by one that
    shares what is left rather than starting with a fresh budget."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.window = time.monotonic()
        self.passed = 0
        self.dropped = 0
        self._lock = threading.Lock()  # each worker's output has a thread of its own

    def passes(self, size: int) -> bool:
        """Whether ``size`` more bytes fit this window (counted as passed, else dropped)."""
        now = time.monotonic()
        with self._lock:
            if now - self.window >= OUTPUT_WINDOW:
                self._report()
                self.window, self.passed = now, 0
            if self.passed + size <= OUTPUT_BUDGET:
                self.passed += size
                return True
            if not self.dropped:
                logger.warning(
                    "plugin %s: over %d bytes of output in a minute; the rest of the minute "
                    "is dropped",
                    self.plugin,
                    OUTPUT_BUDGET,
                )
            self.dropped += size
            return False

    def report(self) -> None:
        """Log what was dropped and not yet reported (a worker ended)."""
        with self._lock:
            self._report()

    def _report(self) -> None:
        if self.dropped:
            logger.warning("plugin %s: %d bytes of its output dropped", self.plugin, self.dropped)
            self.dropped = 0


def _pass_on(output: IO[bytes], budget: OutputBudget) -> None:
    """Copy a worker's standard output and error (``print``) to the server's until the
    worker ends; in a thread of its own, so a slow terminal or log pipe holds back that
    worker, never the event loop. Past the plugin's `OutputBudget`, the rest of that
    minute is read and dropped: a plugin printing without end cannot fill the server's log
    and its disk."""
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with output:
        while chunk := os.read(output.fileno(), 65536):
            if budget.passes(len(chunk)):
                sys.stdout.write(printed_text(text.decode(chunk)))
                sys.stdout.flush()
    budget.report()


def _subscriptions(message: dict[str, Any]) -> list[tuple[str, bool]] | None:
    """The ``[event, every]`` pairs of a ready message; None when it holds anything else
    (plugin code can write to the channel while it imports: the message is not trusted)."""
    pairs = message.get("subscriptions")
    if not isinstance(pairs, list):
        return None
    if not all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], bool)
        for p in pairs
    ):
        return None
    return [(event, every) for event, every in pairs]


def _no_subscriptions(plugin: str, event: str, every: bool, add: bool) -> None:
    raise RuntimeError("plugins subscribe to events at import or inside a call")
