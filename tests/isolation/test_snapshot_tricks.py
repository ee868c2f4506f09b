"""The private copy of a plugin's arguments runs no plugin code and keeps no plugin object.

A value whose metaclass answers ``__hash__`` or ``__eq__`` could pass for a plain type,
or swap entries of the dict being copied, if the copy compared types by hashing; a bytes
subclass inside an ObjectId could outlive the copy. Either would let a plugin change
what was checked before it runs.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson.errors import InvalidDocument
from bson.objectid import ObjectId

from tessera.isolation.snapshot import snapshot
from tessera.services.database import db
from tests.isolation.conftest import caller

ALICE, BOB = "alice", "bob"

# The plugin-side trick, shared by the unit tests and the hostile plugin.

SNEAK = '''
def sneak_in(target, key, value):
    """An object whose type, asked "are you one of the plain types?", swaps
    ``target[key]`` for ``value`` (a mutable object the plugin keeps) and says yes."""

    class Meta(type):
        def __hash__(cls):
            target[key] = value
            return hash(str)

        def __eq__(cls, other):
            return True

    class Sneak(metaclass=Meta):
        pass

    return Sneak()
'''
_namespace: dict = {}
exec(SNEAK, _namespace)
sneak_in = _namespace["sneak_in"]


def tricked(depth: int) -> dict:
    """An update whose ``$set`` is, ``depth`` documents down, the trick above."""
    update: dict = {}
    holder = update
    for _ in range(depth):
        holder["$set"] = {}
        holder = holder["$set"]
    holder["$set"] = sneak_in(holder, "$set", {"title": "innocent"})
    return update


@pytest.mark.parametrize("depth", [0, 1, 2])
@pytest.mark.parametrize("wrap", [lambda update: update, lambda update: [update]])
def test_an_object_that_passes_for_a_plain_type_is_refused(depth, wrap):
    with pytest.raises(InvalidDocument, match="cannot encode"):
        snapshot(wrap(tricked(depth)))


def test_the_copy_holds_no_object_of_the_plugin():
    mine = {"title": "innocent", "tags": ["a"], "at": datetime.now(UTC)}
    oid = ObjectId()
    copy = snapshot({"user_id": ALICE, "_id": oid, "doc": mine})
    assert copy == {"user_id": ALICE, "_id": oid, "doc": {**mine, "at": copy["doc"]["at"]}}
    assert copy["_id"] is not oid
    assert copy["doc"] is not mine and copy["doc"]["tags"] is not mine["tags"]


def test_keys_and_numbers_bson_refuses_are_refused():
    with pytest.raises(InvalidDocument, match="NULL"):
        snapshot({"user_id\x00": ALICE})
    with pytest.raises(InvalidDocument, match="string keys"):
        snapshot({1: ALICE})
    with pytest.raises(OverflowError):
        snapshot({"n": 2**64})


async def test_an_update_changed_after_the_check_cannot_give_a_document_to_another_user(bind):
    raw = bind()
    with caller(ALICE):
        fields = {"secret": "planted-by-alice"}
        update: dict = {}
        update["$set"] = sneak_in(update, "$set", fields)
        # after the check, while the runtime awaits the first touch of "gifts"
        asyncio.get_running_loop().call_soon(fields.__setitem__, "user_id", BOB)
        with pytest.raises(InvalidDocument):
            await db["gifts"].update_one({"user_id": ALICE}, update, upsert=True)
    assert await raw["gifts"].find({}, {"_id": 0}).to_list(None) == []


PLANT = (
    SNEAK
    + """
import asyncio

from core.config.database import db


async def execute(data):
    user_id = data["user_id"]
    gifts = db[data["collection"]]
    if data["action"] == "mine":
        return {"mine": await gifts.find({"user_id": user_id}, {"_id": 0}).to_list(None)}
    # "plant": an upsert whose $set names only "secret" when it is checked
    fields = {"secret": f"planted-by-{user_id}"}
    update = {}
    update["$set"] = sneak_in(update, "$set", fields)
    asyncio.get_running_loop().call_soon(fields.__setitem__, "user_id", data["victim"])
    try:
        result = await gifts.update_one({"user_id": user_id}, update, upsert=True)
    except Exception as exc:  # the contract: errors come back as a dict
        return {"error": type(exc).__name__}
    return {"upserted": str(result.upserted_id)}
"""
)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    plugins = tmp_path / "review_plugins"
    (plugins / "plant").mkdir(parents=True)
    (plugins / "plant" / "logic.py").write_text(textwrap.dedent(PLANT))
    return plugins


def test_through_a_server_a_plugin_cannot_plant_documents_in_another_users_data(
    serve, hostile, plugin_mode
):
    live = serve(hostile)
    with live.client(ALICE) as alice:
        response = alice.post(
            "/api/execute/plant",
            json={"action": "plant", "collection": "gifts", "victim": BOB},
        )
        if plugin_mode == "sandbox" and response.status_code == 500:
            # In its worker the object meets BSON's C encoder before any copy, and may crash
            # it (SIGSEGV): that worker alone dies, and nothing was sent.
            assert "killed by SIGSEGV" in response.json()["error"]
        else:
            assert response.json() == {"error": "InvalidDocument"}
    with live.client(BOB) as bob:
        response = bob.post("/api/execute/plant", json={"action": "mine", "collection": "gifts"})
    assert response.status_code == 200, response.text
    # bob never wrote to "gifts": nothing of alice's may show up as his
    assert response.json() == {"mine": []}


class _Bytes(bytes):
    """Bytes that claim to be 12 long: ObjectId() keeps them as they are."""

    def __len__(self):
        return 12


async def test_an_insert_cannot_reuse_another_users_id(bind):
    bind()
    with caller(BOB):
        bobs = (await db["notes"].insert_one({"secret": "bob-secret"})).inserted_id
    with caller(ALICE):
        # An id whose bytes claim another length than they have would be stored under
        # bob's id without a duplicate key error: refused.
        forged = ObjectId()
        forged._ObjectId__id = _Bytes(bobs.binary + b"-forged")
        with pytest.raises(InvalidDocument, match="12 bytes"):
            await db["notes"].insert_one({"_id": forged, "secret": "alice-copy"})
