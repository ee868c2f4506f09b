"""Hostile: change what was checked after the check, before the store runs it."""

import asyncio

from core.config.database import db


class Liar(dict):
    """Shows the caller's pin to whoever asks by key, and nothing to whoever iterates."""

    def __init__(self, user_id):
        super().__init__()
        self._user_id = user_id

    def __contains__(self, key):
        return key == "user_id"

    def __getitem__(self, key):
        if key == "user_id":
            return self._user_id
        raise KeyError(key)

    def get(self, key, default=None):
        return self._user_id if key == "user_id" else default


async def _filter_changed(user_id, coll):
    query = {"user_id": user_id}
    cursor = coll.find(query)
    query.clear()
    return await cursor.to_list(None)


async def _rewound(user_id, coll):
    query = {"user_id": user_id}
    cursor = coll.find(query)
    await cursor.to_list(None)
    del query["user_id"]
    cursor.rewind()
    return await cursor.to_list(None)


async def _stage_changed(user_id, coll):
    stage = {"$match": {"user_id": user_id}}
    cursor = coll.aggregate([stage])
    stage["$match"] = {}
    return await cursor.to_list(None)


async def _id_changed(user_id, coll):
    oid = (await coll.insert_one({"title": "mine"})).inserted_id
    cursor = coll.find({"_id": oid, "user_id": user_id})
    oid._ObjectId__id = bytes(12)  # an ObjectId's bytes can be set after the call
    return [doc["title"] for doc in await cursor.to_list(None)]


async def _liar(user_id, coll):
    return await coll.find(Liar(user_id)).to_list(None)


async def _cleared_by_the_loop(user_id, coll, fresh):
    query = {"user_id": user_id}
    asyncio.get_running_loop().call_soon(query.clear)
    result = await fresh.update_many(query, {"$set": {"pwned": True}})
    return result.modified_count


async def _owner_changed_by_the_loop(user_id, coll, fresh):
    document = {"secret": "planted"}
    asyncio.get_running_loop().call_soon(document.__setitem__, "user_id", "bob")
    await fresh.insert_one(document)
    return "inserted"


ATTACKS = {
    "filter_changed": _filter_changed,
    "rewound": _rewound,
    "stage_changed": _stage_changed,
    "liar": _liar,
    "id_changed": _id_changed,
}
ON_FRESH = {
    "cleared_by_the_loop": _cleared_by_the_loop,
    "owner_changed_by_the_loop": _owner_changed_by_the_loop,
}


async def execute(data: dict) -> dict:
    action = data["action"]
    user_id = data["user_id"]
    try:
        if action == "owners":  # for the test's superadmin: what a collection holds
            admin = db.as_admin(reason="test").get_collection(data["fresh"])
            return {"documents": await admin.find({}, {"_id": 0}).to_list(None)}
        if action == "plant":  # for the test's superadmin: bob's document, not touched here
            admin = db.as_admin(reason="test").get_collection(data["fresh"])
            await admin.insert_one({"user_id": "bob", "secret": "bob-secret"})
            return {"planted": True}
        if action in ATTACKS:
            found = await ATTACKS[action](user_id, db[data.get("collection", "notes")])
        else:
            # A collection not touched before in this process: the runtime builds its
            # user_id index first, and the operation awaits that.
            found = await ON_FRESH[action](user_id, db["notes"], db[data["fresh"]])
    except Exception as exc:  # the contract: report errors as a dict
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"found": repr(found)}
