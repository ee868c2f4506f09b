"""The frames between the server and a worker: one BSON document each.

A BSON document starts with its own length (4 bytes, little-endian), so a frame needs no
header of its own, and BSON carries what plugins exchange with the store (``ObjectId``,
``datetime``, binary) both ways. The reader checks the length against a limit before
reading the rest: a worker cannot make the server allocate more than the limit.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import bson
from bson.codec_options import CodecOptions

#: The largest frame either side accepts (a plugin result, a batch of documents).
MAX_FRAME = 16 * 1024 * 1024
# Datetimes come back timezone-aware in UTC, as from the store.
OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
_LENGTH = struct.Struct("<i")
_SMALLEST = 5  # an empty document: its length and the closing zero


class FrameError(Exception):
    """The other side sent something that is not a frame within the limit."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame holding ``message`` (raises InvalidDocument for what BSON cannot hold)."""
    return bson.encode(message, codec_options=OPTIONS)


def decode(frame: bytes) -> dict[str, Any]:
    """The message of a whole frame; FrameError when it is not a valid document."""
    try:
        return bson.decode(frame, codec_options=OPTIONS)
    except Exception as exc:  # bson raises several kinds for corrupt input
        raise FrameError(f"malformed frame: {exc}") from None


def frame_length(head: bytes, limit: int) -> int:
    """The length a frame's first 4 bytes announce, refused when out of bounds."""
    (length,) = _LENGTH.unpack(head)
    if length < _SMALLEST or length > limit:
        raise FrameError(f"frame of {length} bytes refused (limit {limit})")
    return length


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME) -> dict[str, Any]:
    """The next message on an asyncio stream; EOFError when the other side is gone."""
    try:
        head = await reader.readexactly(4)
        rest = await reader.readexactly(frame_length(head, limit) - 4)
    except asyncio.IncompleteReadError:
        raise EOFError("the worker closed its channel") from None
    return decode(head + rest)


def recv_frame(sock: socket.socket, limit: int = MAX_FRAME) -> dict[str, Any]:
    """The next message on a blocking socket (the worker's side)."""
    head = _recv_exactly(sock, 4)
    return decode(head + _recv_exactly(sock, frame_length(head, limit) - 4))


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:], size - got)
        if count == 0:
            raise EOFError("the server closed the channel")
        got += count
    return bytes(buffer)
