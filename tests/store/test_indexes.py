"""Secondary indexes: creation, uniqueness, sparseness, multikey, listing, dropping."""

import pytest
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError, OperationFailure


async def test_create_index_names_and_lists(db):
    name = await db.items.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)])
    assert name == "user_id_1_created_at_-1"
    assert await db.items.create_index("email", unique=True) == "email_1"
    specs = await db.items.list_indexes().to_list(None)
    by_name = {s["name"]: s for s in specs}
    assert by_name["_id_"]["key"] == {"_id": 1}
    assert by_name["user_id_1_created_at_-1"]["key"] == {"user_id": 1, "created_at": -1}
    assert by_name["email_1"]["unique"] is True
    info = await db.items.index_information()
    assert info["user_id_1_created_at_-1"]["key"] == [("user_id", 1), ("created_at", -1)]
    awaited = await db.items.list_indexes()
    assert len([s async for s in awaited]) == 3


async def test_create_index_again_is_a_no_op(db):
    assert await db.items.create_index("a") == "a_1"
    assert await db.items.create_index("a") == "a_1"
    assert await db.items.create_indexes([IndexModel([("b", 1)], name="bee")]) == ["bee"]


async def test_unique_index_refuses_duplicates_with_mongo_details(db):
    await db.users.create_index("email", unique=True)
    await db.users.insert_one({"email": "a@x.io"})
    with pytest.raises(DuplicateKeyError) as info:
        await db.users.insert_one({"email": "a@x.io", "other": 1})
    error = info.value
    assert error.code == 11000
    assert error.details["keyPattern"] == {"email": 1}
    assert error.details["keyValue"] == {"email": "a@x.io"}
    assert "E11000 duplicate key error collection:" in str(error)
    assert f"{db.name}.users index: email_1 dup key" in str(error)
    assert await db.users.count_documents({}) == 1


async def test_unique_index_applies_to_updates_and_leaves_the_document(db):
    await db.users.create_index("email", unique=True)
    await db.users.insert_many([{"_id": 1, "email": "a"}, {"_id": 2, "email": "b"}])
    with pytest.raises(DuplicateKeyError):
        await db.users.update_one({"_id": 2}, {"$set": {"email": "a"}})
    assert await db.users.find_one({"_id": 2}) == {"_id": 2, "email": "b"}
    assert await db.users.find_one({"email": "b"}) == {"_id": 2, "email": "b"}


async def test_unique_index_over_existing_duplicates_fails_and_is_not_created(db):
    await db.users.insert_many([{"email": "a"}, {"email": "a"}])
    with pytest.raises(DuplicateKeyError):
        await db.users.create_index("email", unique=True)
    names = [s["name"] for s in await db.users.list_indexes().to_list(None)]
    assert names == ["_id_"]


async def test_unique_index_counts_missing_fields_as_null_unless_sparse(db):
    await db.a.create_index("k", unique=True)
    await db.a.insert_one({"x": 1})
    with pytest.raises(DuplicateKeyError):
        await db.a.insert_one({"x": 2})
    await db.b.create_index("k", unique=True, sparse=True)
    await db.b.insert_many([{"x": 1}, {"x": 2}])
    assert await db.b.count_documents({}) == 2


async def test_multikey_index_finds_array_elements(db):
    await db.items.create_index("tags")
    await db.items.insert_many(
        [{"_id": 1, "tags": ["a", "b"]}, {"_id": 2, "tags": "b"}, {"_id": 3, "tags": []}]
    )
    docs = await db.items.find({"tags": "b"}).sort("_id").to_list(None)
    assert [d["_id"] for d in docs] == [1, 2]
    assert await db.items.count_documents({"tags": "a"}) == 1
    docs = await db.items.find({"tags": {"$gte": "a", "$lt": "b"}}).to_list(None)
    assert [d["_id"] for d in docs] == [1]
    sorted_docs = await db.items.find().sort("tags", 1).to_list(None)
    assert [d["_id"] for d in sorted_docs] == [3, 1, 2]


async def test_unique_multikey_is_across_documents(db):
    await db.items.create_index("tags", unique=True)
    await db.items.insert_one({"tags": ["a", "a", "b"]})
    with pytest.raises(DuplicateKeyError):
        await db.items.insert_one({"tags": ["c", "b"]})


async def test_drop_index_by_name_and_keys(db):
    await db.items.create_index("a")
    await db.items.create_index([("b", -1)])
    await db.items.drop_index("a_1")
    await db.items.drop_index([("b", -1)])
    with pytest.raises(OperationFailure):
        await db.items.drop_index("nope_1")
    with pytest.raises(OperationFailure):
        await db.items.drop_index("_id_")
    await db.items.create_index("c")
    await db.items.drop_indexes()
    assert [s["name"] for s in await db.items.list_indexes().to_list(None)] == ["_id_"]
