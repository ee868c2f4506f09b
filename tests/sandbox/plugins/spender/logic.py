"""Ends its call with a frame it writes itself: an error result of 2.2 million JavaScript
code values under empty names (8 bytes each, 16 MB), each of which costs the server's BSON
decoder a Python call. A frame ending a call may hold more than MAX_FRAME_VALUES values (a
result of many), so it was decoded whole, on the server's event loop: 4.5-6 s."""

import os
import struct

from tessera.sandbox import channel

CODE = b"\x0d\x00" + struct.pack("<i", 1) + b"\x00"  # code "" under an empty name


def _document(body: bytes) -> bytes:
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


def end_frame(job: int, values: int) -> bytes:
    error = b"\x02error\x00" + struct.pack("<i", 2) + b"x\x00"
    result = _document(error + b"\x04v\x00" + _document(CODE * values))
    body = b"\x12done\x00" + struct.pack("<q", job) + b"\x03result\x00" + result
    return _document(body + b"\x08retire\x00\x00\x08lingering\x00\x00")


async def execute(data):
    chan = channel.current()
    chan.send_frame(end_frame(chan.job, 16_000_000 // len(CODE)), last=True)
    os._exit(0)  # its own end frame is sent: the worker has nothing more to say
