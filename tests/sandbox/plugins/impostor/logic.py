"""Hostile: while importing, says "ready" on its worker's channel with subscriptions that
are not ``[event, every]`` pairs, then never finishes importing."""

import time

import bson

from tessera.sandbox import channel

channel.current().sock.sendall(bson.encode({"ready": True, "subscriptions": [1, "ab"]}))
time.sleep(3600)


async def execute(data: dict) -> dict:
    return {"ok": True}
