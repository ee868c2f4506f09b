"""Large documents: many of 1 MiB, or one at MongoDB's 16 MiB document limit."""

from bson import ObjectId

from core.config.database import db

MIB = 1024 * 1024


async def execute(data: dict) -> dict:
    me = {"user_id": data["user_id"]}
    if data.get("action") == "fill":
        for n in range(data["count"]):
            await db["bulk"].insert_one({"n": n, "blob": "x" * (data["size"])})
        return {}
    if data.get("action") == "huge_result":
        return {"blob": "x" * (17 * MIB)}
    if data.get("action") == "unsendable_error":  # what BSON cannot carry, its repr 20 MiB
        return {"error": "failed", "blob": bytearray(5 * MIB)}
    if data.get("action") == "many_ids_error":  # more ObjectIds than a frame's bound
        return {"error": "conflicts", "ids": [ObjectId(b"%012d" % n) for n in range(20_000)]}
    if data.get("action") == "many_values":  # more than a worker sends as JSON
        return {"zeros": [0] * data["count"], "set": {1}}
    if data.get("action") == "huge_insert":
        try:
            await db["bulk"].insert_one({"blob": "x" * (17 * MIB)})
        except Exception as exc:  # the contract: report errors as a dict
            return {"error": f"{type(exc).__name__}: {exc}"}
    if data.get("action") == "read":
        cursor = db["bulk"].find(me).sort("n", 1)
        first = await cursor.next()
        first_batch = 1 + len(cursor._batch)  # what the first answer carried
        seen = [first["n"]] + [document["n"] async for document in cursor]
        return {"first_batch": first_batch, "seen": seen}
    await db["bulk"].delete_many(me)
    await db["bulk"].insert_one({"blob": "y" * (16 * MIB - 100)})
    found = await db["bulk"].find_one(me)
    return {"length": len(found["blob"])}
