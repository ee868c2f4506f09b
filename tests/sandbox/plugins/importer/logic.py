"""Imports batches larger than one sandbox operation holds (MAX_FRAME_VALUES values)."""

from bson import ObjectId
from bson.errors import InvalidDocument
from pymongo.errors import BulkWriteError

from core.config.database import db


def _docs(count: int, start: int = 0) -> list[dict]:
    return [{"n": start + i, **{f"f{k}": k for k in range(10)}} for i in range(count)]


async def execute(data):
    items = db["imported"]
    mine = {"user_id": data["user_id"]}
    action = data["action"]
    if action == "batch":
        result = await items.insert_many(_docs(data["count"]))
        found = await items.find(mine, {"n": 1}).sort("n", 1).to_list(None)
        return {
            "ids": len(set(result.inserted_ids)),
            "in_order": [str(i) for i in result.inserted_ids] == [str(d["_id"]) for d in found],
            "stored": [d["n"] for d in found] == list(range(data["count"])),
        }
    if action == "one_too_large":  # its last document holds more than an operation
        docs = [*_docs(data["count"]), {"points": list(range(data["points"]))}]
        try:
            await items.insert_many(docs)
        except InvalidDocument as exc:
            return {"refused": str(exc), "stored": await items.count_documents(mine)}
        return {"refused": False, "stored": await items.count_documents(mine)}
    # A duplicate _id at `at`, in a later part than the first.
    docs = _docs(data["count"])
    taken = ObjectId()
    docs[0]["_id"] = docs[data["at"]]["_id"] = taken
    try:
        await items.insert_many(docs, ordered=data["ordered"])
    except BulkWriteError as exc:
        return {
            "inserted": exc.details["nInserted"],
            "indexes": [e["index"] for e in exc.details["writeErrors"]],
            "stored": await items.count_documents(mine),
        }
    return {"raised": False}
