"""Sends WebSocket messages and events; its handlers write what they handle to a file."""

import asyncio
import os
from pathlib import Path

from core.config.database import db
from core.event_bus import event_bus, on_event
from core.websocket_manager import websocket_manager

HANDLED = Path(os.environ["SCALEOUT_LOG"]) / "handled.log"


def record(kind: str, n: object) -> None:
    with HANDLED.open("a") as log:
        log.write(f"{kind} {os.getpid()} {n}\n")


def started_before(n: object) -> bool:
    return HANDLED.exists() and any(
        line.split()[0] == "start" and line.split()[2] == str(n)
        for line in HANDLED.read_text().splitlines()
    )


@on_event("job:*")
async def work(payload):
    n = payload["n"]
    retried = started_before(n)
    record("start", n)
    if payload.get("fail"):
        raise RuntimeError("failing on purpose")
    if payload.get("stall") and not retried:
        await asyncio.sleep(60)
    record("done", n)


@on_event("cache:*", every_process=True)
async def refresh(payload):
    record("cache", payload["n"])


async def execute(data: dict) -> dict:
    action = data.get("action")
    if action == "send":
        message = {"type": "relay", "n": data.get("n")}
        seq = await websocket_manager.send_to_user(data["user_id"], message)
        return {"seq": seq, "pid": os.getpid()}
    if action == "broadcast":
        reached = await websocket_manager.broadcast({"type": "relay", "n": data.get("n")})
        return {"reached": reached, "pid": os.getpid()}
    if action == "here":
        # The caller's sockets on the process answering: tells a test where they are.
        return {"here": websocket_manager.connection_count(), "pid": os.getpid()}
    if action == "publish":
        event_bus.publish(data["event"], {key: data.get(key) for key in ("n", "stall", "fail")})
        return {"published": True}
    if action == "note":
        # A stored write, then a fan-out and an event that may have to wait for Redis.
        await db.soak_notes.insert_one({"n": data["n"]})
        await websocket_manager.send_to_user(data["user_id"], {"type": "note", "n": data["n"]})
        event_bus.publish("job:note", {"n": data["n"]})
        return {"stored": data["n"]}
    if action == "notes":
        found = await db.soak_notes.find({"user_id": data["user_id"]}).to_list(None)
        return {"notes": [note["n"] for note in found]}
    if action == "pid":
        return {"pid": os.getpid()}
    return {"error": f"Unknown action: {action}"}
