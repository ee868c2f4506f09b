"""What a plugin reads back through ``db`` is the same in-process and sandboxed: cursors
read in parts, many cursors in one call, and the datetimes in the documents."""

from __future__ import annotations

from pathlib import Path

READER = """
import datetime as dt

from core.config.database import db


async def execute(data: dict) -> dict:
    notes = db["notes"]
    mine = {"user_id": data["user_id"]}
    if data["action"] == "seed":
        base = dt.datetime(2024, 1, 1, 12, 0, 0)
        await notes.insert_many(
            [{**mine, "n": i, "at": base + dt.timedelta(minutes=i)} for i in range(250)]
        )
        return {"ok": True}
    if data["action"] == "parts":
        cursor = notes.find(mine).sort("n", 1)
        first = await cursor.to_list(3)
        second = await cursor.to_list(150)
        rest = await cursor.to_list(None)
        return {"sizes": [len(first), len(second), len(rest)],
                "order": [d["n"] for d in first + second + rest] == list(range(250))}
    if data["action"] == "many":
        # exactly the n asked for, from 100 cursors in one call: none is left to fail
        counts = [len(await notes.find({**mine, "n": {"$lt": 5}}).to_list(5)) for _ in range(100)]
        return {"counts": sorted(set(counts))}
    if data["action"] == "negative":
        try:
            await notes.find(mine).to_list(-1)
        except ValueError as exc:
            return {"raised": str(exc)}
        return {"raised": None}
    doc = await notes.find_one({**mine, "n": 1})
    naive = dt.datetime(2024, 1, 1, 12, 1, 0)
    return {"tzinfo": repr(doc["at"].tzinfo), "equal": doc["at"] == naive,
            "at": doc["at"], "all": len(await notes.find(mine).to_list(0))}
"""


def _plugins(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins" / "reader"
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(READER)
    return folder.parent


def test_a_cursor_read_in_parts_returns_every_document_once(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice:
        assert alice.post("/api/execute/reader", json={"action": "seed"}).status_code == 200
        parts = alice.post("/api/execute/reader", json={"action": "parts"}).json()
        many = alice.post("/api/execute/reader", json={"action": "many"}).json()
        negative = alice.post("/api/execute/reader", json={"action": "negative"}).json()
    assert parts == {"sizes": [3, 150, 97], "order": True}
    assert many == {"counts": [5]}
    assert negative == {"raised": "to_list length must be non-negative"}


def test_datetimes_come_back_naive_utc_as_the_store_keeps_them(serve, tmp_path: Path) -> None:
    live = serve(_plugins(tmp_path))
    with live.client("alice") as alice:
        alice.post("/api/execute/reader", json={"action": "seed"})
        body = alice.post("/api/execute/reader", json={"action": "read"}).json()
    assert body == {"tzinfo": "None", "equal": True, "at": "2024-01-01T12:01:00Z", "all": 250}
