"""Datetimes leave the server in one UTC form, whether fresh or read back from the store."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

STAMPS = """
import datetime as dt

from core.config.database import db
from core.websocket_manager import websocket_manager


async def execute(data):
    user_id = data["user_id"]
    if data.get("action") == "create":
        item = {"user_id": user_id, "at": dt.datetime.now(dt.UTC)}
        await db["stamps"].insert_one(item)
        return {"item": item}
    if data.get("action") == "list":
        return {"items": await db["stamps"].find({"user_id": user_id}).to_list(10)}
    stored = await db["stamps"].find_one({"user_id": user_id})
    await websocket_manager.send_to_user(
        user_id, {"type": "stamp", "stored": stored["at"], "fresh": dt.datetime.now(dt.UTC)}
    )
    return {}
"""

UTC_FORM = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


@pytest.fixture
def live(serve, tmp_path: Path):
    folder = tmp_path / "plugins" / "stamps"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(STAMPS)
    return serve(tmp_path / "plugins")


def instant(text: str) -> dt.datetime:
    assert UTC_FORM.match(text), f"{text!r} is not ISO 8601 UTC with Z"
    return dt.datetime.fromisoformat(text)


def test_fresh_and_stored_datetimes_have_the_same_utc_form(live):
    with live.client("alice") as alice:
        created = alice.post("/api/execute/stamps", json={"action": "create"}).json()["item"]
        listed = alice.post("/api/execute/stamps", json={"action": "list"}).json()["items"]
    fresh, stored = instant(created["at"]), instant(listed[0]["at"])
    assert listed[0]["_id"] == created["_id"]
    # The store keeps milliseconds, as MongoDB does: the same instant, to the millisecond.
    assert abs(fresh - stored) < dt.timedelta(milliseconds=1)


async def test_websocket_messages_carry_the_same_utc_form(live):
    token = live.token("alice")
    url = live.url.replace("http://", "ws://") + "/ws/notifications/_"
    async with connect(url, subprotocols=["mozaiks", token]) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connected"
        with live.client("alice") as alice:
            for action in ("create", "push"):
                response = await asyncio.to_thread(
                    alice.post, "/api/execute/stamps", json={"action": action}
                )
                assert response.status_code == 200, response.text
        while (message := json.loads(await asyncio.wait_for(ws.recv(), 5)))["type"] != "stamp":
            pass
    assert abs(instant(message["fresh"]) - instant(message["stored"])) < dt.timedelta(seconds=5)
