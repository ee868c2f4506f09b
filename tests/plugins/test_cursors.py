"""What a plugin reads back through ``db`` is the same in-process and sandboxed: cursors
read in parts, many cursors in one call, the datetimes and the other BSON types in the
documents."""

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


TYPED = """
import datetime as dt
import re

from bson import Binary, Decimal128, Int64, ObjectId, Regex

from core.config.database import db


async def execute(data: dict) -> dict:
    typed = db["typed"]
    oid = ObjectId("65f0a1b2c3d4e5f601234567")
    stored = {
        "user_id": data["user_id"], "oid": oid, "at": dt.datetime(2024, 5, 6, 7, 8, 9, 123000),
        "raw": b"\\x00\\xffbytes", "uuid": Binary(b"0123456789abcdef", 4),
        "big": Int64(2**40), "small": 7, "real": 1.5, "dec": Decimal128("1.10"),
        "pattern": Regex("^a", "i"), "none": None, "flag": True,
        "nested": {"list": [1, "two", {"three": [oid]}], "empty": {}},
    }
    await typed.insert_one(dict(stored))
    found = await typed.find({"user_id": data["user_id"]}).to_list(10)
    one = await typed.find_one({"user_id": data["user_id"]})
    doc = found[0]
    doc.pop("_id")
    one.pop("_id")
    return {
        "same": doc == one and doc == stored,
        "types": {k: type(v).__name__ for k, v in doc.items()},
        "doc": {k: v for k, v in doc.items() if k not in ("pattern", "uuid")},
    }
"""


def _plugins(tmp_path: Path, code: str = READER, name: str = "reader") -> Path:
    folder = tmp_path / "plugins" / name
    folder.mkdir(parents=True)
    (folder / "logic.py").write_text(code)
    return folder.parent


def test_documents_of_every_bson_type_read_back_the_same(serve, tmp_path: Path) -> None:
    """Sandboxed, a find's documents reach the worker as the store keeps them (not
    decoded and encoded again on the server): what the plugin gets, and what the caller
    gets of its result, are the same as in-process."""
    live = serve(_plugins(tmp_path, TYPED, "typed"))
    with live.client("alice") as alice:
        body = alice.post("/api/execute/typed", json={}).json()
    assert body["same"] is True
    assert body["types"] == {
        "user_id": "str", "oid": "ObjectId", "at": "datetime", "raw": "bytes",
        "uuid": "Binary", "big": "Int64", "small": "int", "real": "float",
        "dec": "Decimal128", "pattern": "Regex", "none": "NoneType", "flag": "bool",
        "nested": "dict",
    }  # fmt: skip
    assert body["doc"] == {
        "user_id": "alice", "oid": "65f0a1b2c3d4e5f601234567",
        "at": "2024-05-06T07:08:09.123000Z", "raw": "AP9ieXRlcw==", "big": 2**40,
        "small": 7, "real": 1.5, "dec": "1.10", "none": None, "flag": True,
        "nested": {"list": [1, "two", {"three": ["65f0a1b2c3d4e5f601234567"]}], "empty": {}},
    }  # fmt: skip


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
