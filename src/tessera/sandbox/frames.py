"""The frames between the server and a worker: one BSON document each.

A BSON document starts with its own length (4 bytes, little-endian), so a frame needs no
header of its own, and BSON carries what plugins exchange with the store (``ObjectId``,
``datetime``, binary) both ways. A length is checked against a limit as soon as its 4
bytes arrive: a worker cannot make the server hold more than the limit.

Both ends read whatever the socket holds at once and cut frames from it
(:class:`FrameBuffer`): a frame usually arrives whole, so it takes one read, not two.
The server reads through an asyncio protocol (:class:`FrameProtocol`) rather than a
stream reader: each frame wakes the call's task once, with no stream machinery between.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any, cast

import bson
from bson.codec_options import CodecOptions

#: The largest frame either side accepts (a plugin result, a batch of documents): a
#: document of MongoDB's 16 MiB limit and its framing, as MongoDB's own replies allow.
MAX_FRAME = 16 * 1024 * 1024 + 16 * 1024
#: The most bytes of JSON a worker sends as a call's result: a frame, less room for the rest
#: of the message ending the call. A larger result is refused (``response_too_large``).
MAX_RESULT_JSON = MAX_FRAME - 1024
# Datetimes come back naive, meaning UTC, as the store returns them to in-process plugins
# (and aware ones cost a Python call each to decode: half the decoding of a listed page).
OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=False)
_LENGTH = struct.Struct("<i")
_SMALLEST = 5  # an empty document: its length and the closing zero
# What one read asks of the socket (more when a frame still misses more).
_CHUNK = 64 * 1024
# Bytes the server holds from a worker beyond a whole frame before it stops reading (the
# worker then blocks on its full socket): a flood of frames waits in the worker.
_HOLD = 256 * 1024


class FrameError(Exception):
    """The other side sent something that is not a frame within the limit."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame holding ``message`` (raises InvalidDocument for what BSON cannot hold)."""
    return bson.encode(message, codec_options=OPTIONS)


#: The most values (BSON elements, at any depth) in a frame a worker sends but the one
#: ending its call. The server decodes a frame on its event loop and checks and plans the
#: operation there, at a cost per value that depends on its type: at 262,144 values, a
#: ``find_one`` of JavaScript code values took 0.9 s to decode, and one of as many ``$or``
#: clauses held the loop 0.9 s more, every other call waiting. At this many, an operation
#: holds the loop at most about 0.1 s (``insert_many`` sends larger batches in parts).
MAX_FRAME_VALUES = 1 << 14
# Bytes each BSON type's value takes, for those of a fixed size.
_FIXED = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8}
_FIXED |= {0x13: 16, 0x7F: 0, 0xFF: 0}
_STRINGS = frozenset({0x02, 0x0D, 0x0E})


def values_within(frame: bytes, limit: int = MAX_FRAME_VALUES) -> bool:
    """Whether ``frame`` holds at most ``limit`` values, counted without decoding it.
    Every value's name ends with a zero byte, so a frame with fewer zero bytes passes at
    once; others are walked, element by element, until the count passes ``limit``. A
    frame too malformed to walk passes here: decoding it refuses it."""
    return frame.count(0) <= limit or count_values(frame, limit) <= limit


# What BSON's decoder makes in C alone: numbers, strings, booleans, null, documents and
# arrays (JSON's values). The others (code, regular expressions, ObjectId, datetimes, keys,
# DBRefs, ...) cost it a Python call each: 2.2 million code values in 16 MB took 4.5-6 s.
_PLAIN = frozenset({0x01, 0x02, 0x03, 0x04, 0x08, 0x0A, 0x10, 0x12})
# Every byte but those naming a kind of value not `_PLAIN`: what ``translate`` deletes.
_NOT_DEAR = bytes(
    b for b in range(256) if b in _PLAIN or b not in {*_FIXED, *_STRINGS, 5, 11, 12, 15}
)


#: More values than a frame ending a call holds: a result of more than MAX_JSON_VALUES
#: crosses as BSON of its JSON's values, each at least 4 bytes on average in one or the
#: other (a null: 3 in BSON under a one-digit key, 5 in JSON; a zero: 7 and 2).
MAX_END_VALUES = MAX_FRAME // 4


def count_values(frame: bytes, limit: int, *, dear: bool = False) -> int:
    """The values ``frame`` holds (``dear``: only those not `_PLAIN`, or named ``$ref``, a
    DBRef's), or ``limit + 1`` once there are more, or ``dear`` and the frame holds more
    than MAX_END_VALUES of any kind (each costs this walk); 0 for a frame too malformed to
    walk."""
    count, seen, position, end = 0, 0, 4, len(frame) - 1
    try:
        while position < end:
            kind = frame[position]
            if kind == 0:  # the end of a document or array
                position += 1
                continue
            named = position + 1
            seen += 1
            if not dear or kind not in _PLAIN or frame.startswith(b"$ref\x00", named):
                count += 1
                if count > limit:
                    return count
            elif seen > MAX_END_VALUES:
                return limit + 1
            position = frame.index(0, named) + 1  # past the name
            if kind in (0x03, 0x04):  # a document or array: its elements come next
                position += 4
            elif kind in _STRINGS:
                position += 4 + _LENGTH.unpack_from(frame, position)[0]
            elif kind == 0x05:
                position += 5 + _LENGTH.unpack_from(frame, position)[0]
            elif kind == 0x0B:  # a regular expression: pattern and options
                position = frame.index(0, frame.index(0, position) + 1) + 1
            elif kind == 0x0C:
                position += 16 + _LENGTH.unpack_from(frame, position)[0]
            elif kind == 0x0F:
                position += _LENGTH.unpack_from(frame, position)[0]
            else:
                position += _FIXED[kind]
    except (ValueError, KeyError, struct.error):
        return 0
    return count


def end_within(frame: bytes, limit: int = MAX_FRAME_VALUES) -> bool:
    """Whether ``frame``, ending a call, holds at most ``limit`` values dear to decode and
    MAX_END_VALUES in all: it may hold more values than an operation (a result of many
    crosses as BSON, of JSON's values), not more of those. It may walk the whole frame, up
    to a second or two of Python: call it off the event loop."""
    # Every dear value has its kind's byte in the frame: counting those bytes bounds them
    # at C speed, and a result of JSON's values holds few (many zeros, say, none).
    if len(frame.translate(None, _NOT_DEAR)) + frame.count(b"$ref\x00") <= limit:
        return True
    return count_values(frame, limit, dear=True) <= limit


def ends_call(frame: bytes) -> bool:
    """Whether ``frame`` starts as a worker's last of a call does (``done``, ``settled``):
    a result may hold more than MAX_FRAME_VALUES values, and comes once a call."""
    return frame[5:10] == b"done\x00" or frame[5:13] == b"settled\x00"


class Unsendable(ValueError):
    """A message for a worker that is no frame: BSON cannot hold it (a key holding a NUL,
    an integer over 64 bits, a set), or it is over MAX_FRAME (``too_large``)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def message_frame(message: dict[str, Any]) -> bytes:
    """The frame of a call or event for a worker, its job added by `with_job`: encoded
    before a worker is taken, so what cannot be sent fails the call (Unsendable) and
    leaves the worker as it was."""
    try:
        frame = encode(message)
    except Exception as exc:  # InvalidDocument, OverflowError: the data's, not the worker's
        raise Unsendable(f"BSON cannot hold it: {exc}") from None
    if len(frame) + len(_job_element(0)) > MAX_FRAME:
        limit = f"{len(frame)} bytes of BSON is over the sandbox channel's limit of {MAX_FRAME}"
        raise Unsendable(limit, too_large=True)
    return frame


def with_job(frame: bytes, job: int) -> bytes:
    """``frame`` (of `message_frame`) with its ``job`` field appended."""
    body = frame[4:-1] + _job_element(job)
    return _LENGTH.pack(len(body) + 5) + body + b"\x00"


def _job_element(job: int) -> bytes:
    return b"\x12job\x00" + struct.pack("<q", job)


def decode(frame: bytes) -> dict[str, Any]:
    """The message of a whole frame; FrameError when it is not a valid document."""
    try:
        return bson.decode(frame, codec_options=OPTIONS)
    except Exception as exc:  # bson raises several kinds for corrupt input
        raise FrameError(f"malformed frame: {exc}") from None


#: The most values a result the worker encoded as JSON may hold. The server parses it whole
#: to check it, on the event loop: 1.6 million empty lists in 4.7 MB took 0.7 s and 110 MB
#: there. A BSON frame cannot hold many more than this (at least 8 bytes a value), so a
#: result with more goes as BSON and costs the server what it did before JSON results.
MAX_JSON_VALUES = 1 << 20


def json_within_bounds(encoded: bytes) -> bool:
    """Whether JSON ``encoded`` holds at most MAX_JSON_VALUES values. Every value but the
    outermost follows a ``[``, ``,`` or ``:``; counting those in strings too only
    overestimates. Shorter JSON cannot hold more (a value and its separator: 2 bytes)."""
    if len(encoded) <= 2 * MAX_JSON_VALUES:
        return True
    starts = encoded.count(b"[") + encoded.count(b",") + encoded.count(b":")
    return starts < MAX_JSON_VALUES


class FrameBuffer:
    """Bytes read from one side, cut into frames."""

    def __init__(self, limit: int = MAX_FRAME) -> None:
        self.limit = limit
        self.data = bytearray()

    def missing(self) -> int:
        """Bytes the first frame still lacks (0: it is whole); FrameError for a length
        out of bounds."""
        held = len(self.data)
        if held < 4:
            return 4 - held
        return max(0, self._length() - held)

    def pop(self) -> bytes | None:
        """The first frame when it is whole, taken out of the buffer."""
        data = self.data
        if len(data) < 4 or len(data) < (length := self._length()):
            return None
        if len(data) == length:  # usually: the buffer holds one frame
            frame = bytes(data)
            data.clear()
        else:
            frame = bytes(data[:length])
            del data[:length]
        return frame

    def _length(self) -> int:
        """The length the first frame announces (4 bytes held), refused out of bounds."""
        length: int = _LENGTH.unpack_from(self.data)[0]
        if length < _SMALLEST or length > self.limit:
            raise FrameError(f"frame of {length} bytes refused (limit {self.limit})")
        return length


def _decoded_end(frame: bytes) -> dict[str, Any]:
    """The message of a frame ending a call, of more than MAX_FRAME_VALUES values;
    FrameError when more than that many are dear to decode (`end_within`)."""
    if not end_within(frame):
        raise FrameError(f"a call's end of more than {MAX_FRAME_VALUES} values dear to decode")
    return decode(frame)


def recv_frame(sock: socket.socket, buffer: FrameBuffer) -> dict[str, Any]:
    """The next message on a blocking socket, read into ``buffer``; EOFError when the
    other side has closed it."""
    while (frame := buffer.pop()) is None:
        chunk = sock.recv(max(_CHUNK, buffer.missing()))
        if not chunk:
            raise EOFError("the other side closed the channel")
        buffer.data += chunk
    return decode(frame)


class FrameProtocol(asyncio.Protocol):
    """The server's end of a worker's socket: frames in, answers out.

    Reading stops while more than a whole frame and ``_HOLD`` bytes wait, and resumes when
    the reader wants more; writing waits (``drain``) while the worker is not taking its
    answers. A length out of bounds is raised by the next ``read``.
    """

    def __init__(self, buffer: FrameBuffer) -> None:
        self.buffer = buffer
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._reading = True
        self._writable: asyncio.Future[None] | None = None

    @classmethod
    async def connect(cls, sock: socket.socket, buffer: FrameBuffer) -> FrameProtocol:
        """The protocol on ``sock``, starting with what ``buffer`` already holds."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: cls(buffer), sock=sock)
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.buffer.data += data
        try:
            whole = not self.buffer.missing()
        except FrameError:
            whole = True  # the reader raises it; nothing more is read meanwhile
        if whole and len(self.buffer.data) > _HOLD:
            self._pause()
        if whole:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def read(self) -> dict[str, Any]:
        """The next message; EOFError when the worker has gone, FrameError when it sent
        something that is not a frame, or one of more values than MAX_FRAME_VALUES (the
        one ending a call may hold more, but not more dear to decode: `end_within`)."""
        while True:
            frame = self.buffer.pop()
            if frame is not None:
                if values_within(frame):
                    return decode(frame)
                if not ends_call(frame):
                    raise FrameError(f"a frame of more than {MAX_FRAME_VALUES} values")
                # Walked and decoded in a thread: walking two million values takes a
                # second of Python, during which the loop serves everyone else.
                return await asyncio.to_thread(_decoded_end, frame)
            if self._closed:
                raise EOFError("the worker closed its channel")
            self._resume()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def write(self, frame: bytes) -> None:
        """Send ``frame``, returning once the worker is taking what it was sent."""
        if self._closed or self.transport is None:
            raise EOFError("the worker closed its channel")
        self.transport.write(frame)
        if self._writable is not None:
            await self._writable

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _pause(self) -> None:
        if self._reading and self.transport is not None:
            self.transport.pause_reading()
            self._reading = False

    def _resume(self) -> None:
        if not self._reading and self.transport is not None and not self._closed:
            self.transport.resume_reading()
            self._reading = True
