"""A failed write leaves the file as it was: alone in its transaction, or in a batch."""

import pytest
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from tessera.store import open_client


async def test_failed_lone_write_leaves_no_collection_behind(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    db = client["app"]
    # The upsert creates the collection, then fails: $push onto the seeded number.
    with pytest.raises(WriteError):
        await db["new"].update_one({"_id": 1, "a": 5}, {"$push": {"a": 1}}, upsert=True)
    assert await db.list_collection_names() == []
    await db["new"].insert_one({"_id": 1})
    assert await db["new"].find_one({}) == {"_id": 1}
    await client.close()


async def test_failed_lone_write_leaves_no_document_behind(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    items = client["app"]["items"]
    await items.create_index("k", unique=True)
    await items.insert_one({"_id": 1, "k": 1})
    # The document is written before its unique index entry is refused.
    with pytest.raises(DuplicateKeyError):
        await items.insert_one({"_id": 2, "k": 1})
    assert await items.find().to_list() == [{"_id": 1, "k": 1}]
    await client.close()


async def test_batch_with_a_taken_id_keeps_documents_and_index_in_step(tmp_path):
    client = open_client(str(tmp_path / "s.db"))
    items = client["app"]["items"]
    await items.create_index("k")
    await items.insert_one({"_id": 3, "k": "old"})
    batch = [{"_id": i, "k": "new"} for i in range(6)]
    with pytest.raises(BulkWriteError) as info:
        await items.insert_many(batch)
    assert info.value.details["nInserted"] == 3
    assert [d["_id"] for d in await items.find({"k": "new"}).sort("_id", 1).to_list()] == [0, 1, 2]
    assert await items.find({"k": "old"}).to_list() == [{"_id": 3, "k": "old"}]
    assert await items.count_documents({}) == 4
    await client.close()
    check = open_client(str(tmp_path / "s.db"))
    assert await check["app"]["items"].count_documents({"k": "new"}) == 3
    await check.close()
