"""Sends, in one frame it writes itself, a ``find_one`` whose filter holds 8 million
nulls: BSON's cheapest values (array keys are not read, so each takes 2 bytes). With
``dressed``, the frame starts with a ``settled`` field, as a call's end does: such a frame
may hold more than MAX_FRAME_VALUES values, so the operation was decoded and run whole,
on the server's event loop."""

import struct

from tessera.sandbox import channel

NULL = b"\x0a\x00"  # a null under an empty key


def _string(name: bytes, value: bytes) -> bytes:
    return b"\x02" + name + b"\x00" + struct.pack("<i", len(value) + 1) + value + b"\x00"


def _document(body: bytes) -> bytes:
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def find_frame(job: int, size: int, dressed: bool) -> bytes:
    nulls = _document(NULL * (size // len(NULL)))
    query = _document(b"\x03v\x00" + _document(b"\x04$in\x00" + nulls))
    body = b"\x10settled\x00" + struct.pack("<i", 0) if dressed else b""
    body += _string(b"op", b"db") + b"\x12job\x00" + struct.pack("<q", job)
    body += _string(b"coll", b"stuff") + _string(b"method", b"find_one")
    return _document(body + b"\x04args\x00" + _document(b"\x03\x00" + query))


async def execute(data):
    chan = channel.current()
    with chan._lock:
        chan.sock.sendall(find_frame(chan.job, 16_000_000, bool(data.get("dressed"))))
        answer = chan.receive()
    return {"answer": str(answer)[:100]}
