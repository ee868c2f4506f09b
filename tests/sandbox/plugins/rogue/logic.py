"""Hostile: writes to its worker's channel directly, as code that found the socket would."""

import struct

import bson

from core.config.database import db
from tessera.sandbox import channel

# Results a worker could claim it encoded as JSON: none is one the server may pass on.
FORGED = {
    "json_cut": b'{"items": [1, 2',
    "json_trailing": b'{"ok": true} {"ok": false}',
    "json_nan": b'{"n": NaN}',
    "json_latin1": b'{"name": "\xe9"}',
    "json_list": b"[1, 2]",
    "json_string": b'"ok"',
    "json_error": b'{"error": "forged", "http_status": 404}',
    "json_text": '{"ok": true}',
    # Valid, and 4.7 MB: but 1.6 million lists, which the server would build to check it.
    "json_swarm": b'{"a": [' + b"[]," * (3 << 19) + b"[]]}",
}
# Sizes a worker could claim its result's JSON has, too large to send: none is one.
TOO_LARGE = {"too_large_small": 5, "too_large_text": "17000000"}


async def execute(data: dict) -> dict:
    sock = channel.current().sock
    job = channel.current().job
    action = data.get("action")
    if action == "oversized":  # announces a 1 GiB frame
        sock.sendall(struct.pack("<i", 1 << 30) + b"x" * 1024)
    elif action == "garbage":  # a length that fits, contents that are not BSON
        sock.sendall(struct.pack("<i", 40) + b"\xff" * 36)
    elif action == "negative":
        sock.sendall(struct.pack("<i", -5))
    elif action == "other_call":  # an operation in the name of another call
        query = {"admin": None, "coll": "notes", "method": "find_one", "args": [], "kwargs": {}}
        sock.sendall(bson.encode({"op": "db", "job": job + 1, **query}))
    elif action == "unknown_op":
        sock.sendall(bson.encode({"op": "exec", "job": job, "code": "import os"}))
    elif action in FORGED:  # the end of the call, its result "encoded" by the worker
        done = {"done": job, "retire": False, "lingering": False, "json": FORGED[action]}
        sock.sendall(bson.encode(done))
    elif action in TOO_LARGE:
        done = {"done": job, "retire": False, "lingering": False, "too_large": TOO_LARGE[action]}
        sock.sendall(bson.encode(done))
    elif action == "flood":  # log lines sent without waiting, then a normal answer
        line = bson.encode({"op": "log", "job": job, "level": 20, "name": "x", "msg": "m" * 100})
        for _ in range(20000):
            sock.sendall(line)
        await db["notes"].find_one({"user_id": data["user_id"]})
        return {"flooded": True}
    return {"ok": True}
