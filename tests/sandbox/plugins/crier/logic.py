"""Publishes, in one frame it writes itself, an event whose payload is 2.4 million empty
documents: BSON's cheapest values (array keys are not read, so each takes 7 bytes)."""

import struct

from core.event_bus import on_event
from tessera.sandbox import channel

EMPTY = b"\x03\x00\x05\x00\x00\x00\x00"  # an empty document under an empty key


@on_event("crier.big")
async def heard(payload):
    pass


def _string(name: bytes, value: bytes) -> bytes:
    return b"\x02" + name + b"\x00" + struct.pack("<i", len(value) + 1) + value + b"\x00"


def publish_frame(job: int, size: int) -> bytes:
    items = EMPTY * (size // len(EMPTY))
    array = struct.pack("<i", len(items) + 5) + items + b"\x00"
    body = _string(b"op", b"publish") + b"\x12job\x00" + struct.pack("<q", job)
    body += _string(b"event", b"crier.big") + b"\x04payload\x00" + array
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


async def execute(data):
    chan = channel.current()
    with chan._lock:
        chan.sock.sendall(publish_frame(chan.job, 16_000_000))
        answer = chan.receive()
    return {"handlers": answer.get("ok")}
