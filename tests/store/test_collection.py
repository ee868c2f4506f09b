"""Collection CRUD with PyMongo's results and errors (runs on MongoDB too when configured)."""

import datetime

import pytest
from bson.objectid import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError


async def test_insert_one_adds_an_objectid_to_the_callers_dict(db):
    doc = {"title": "a"}
    result = await db.items.insert_one(doc)
    assert isinstance(doc["_id"], ObjectId)
    assert result.inserted_id == doc["_id"]
    assert await db.items.find_one({"_id": doc["_id"]}) == {"_id": doc["_id"], "title": "a"}


async def test_find_one_takes_a_bare_id(db):
    await db.items.insert_one({"_id": 7, "x": 1})
    assert await db.items.find_one(7) == {"_id": 7, "x": 1}
    assert await db.items.find_one(8) is None


async def test_returned_documents_are_fresh_copies(db):
    await db.items.insert_one({"_id": 1, "tags": ["a"]})
    first = await db.items.find_one({"_id": 1})
    first["tags"].append("b")
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "tags": ["a"]}


async def test_id_is_first_and_numbers_of_equal_value_are_the_same_id(db):
    await db.items.insert_one({"x": 1, "_id": 1})
    stored = await db.items.find_one({"_id": 1.0})
    assert list(stored) == ["_id", "x"]
    with pytest.raises(DuplicateKeyError) as info:
        await db.items.insert_one({"_id": 1.0})
    assert info.value.code == 11000
    assert info.value.details["keyPattern"] == {"_id": 1}


async def test_datetimes_come_back_naive_utc_with_millisecond_precision(db):
    aware = datetime.datetime(
        2024, 5, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    await db.items.insert_one({"_id": 1, "at": aware})
    stored = await db.items.find_one({"_id": 1})
    assert stored["at"] == datetime.datetime(2024, 5, 1, 10, 0, 0, 123000)
    assert stored["at"].tzinfo is None


async def test_dollar_prefixed_id_fields_are_refused_and_nothing_is_written(db):
    with pytest.raises(WriteError):
        await db.items.insert_one({"_id": {"$bad": 1}})
    with pytest.raises(WriteError):
        await db.items.insert_one({"_id": [1, 2]})
    assert await db.items.count_documents({}) == 0


def nested(levels: int) -> dict:
    """A document ``levels`` deep, itself counted (MongoDB's makeNestObj)."""
    doc: dict = {"s": 1}
    for _ in range(levels - 1):
        doc = {"s": doc}
    return doc


async def test_documents_nest_up_to_100_levels_as_in_mongodb(db):
    await db.items.insert_one({"_id": 1, **nested(100)})
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, **nested(100)}
    with pytest.raises(WriteError):
        await db.items.insert_one({"_id": 2, **nested(101)})
    with pytest.raises(WriteError):
        await db.items.update_one({"_id": 1}, {"$set": {"deeper": nested(100)}})
    with pytest.raises(WriteError):
        await db.items.insert_one({"_id": 3, "list": [[[[nested(97)]]]]})  # arrays count too
    for _id, empty in ((2, {}), (3, [])):  # empty at level 101: no level added
        deep: object = empty
        for _ in range(100):
            deep = {"s": deep}
        await db.items.insert_one({"_id": _id, **deep})  # type: ignore[dict-item]
    assert [d["_id"] for d in await db.items.find({}).to_list(None)] == [1, 2, 3]
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, **nested(100)}


async def test_the_smallest_document_too_deep_is_refused_in_a_batch_too(db):
    # Empty names and a null at the bottom: the fewest bytes 101 levels can take.
    doc: dict = {"": None}
    for _ in range(100):
        doc = {"": doc}
    with pytest.raises(BulkWriteError):
        await db.items.insert_many([{"_id": 1}, {"_id": 2, **doc}])
    assert [d["_id"] for d in await db.items.find({}).to_list(None)] == [1]


async def test_dollar_prefixed_fields_are_stored_as_mongodb_5_does(db):
    await db.items.insert_one({"_id": 1, "$a": 1, "b": {"$c": 2}})
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "$a": 1, "b": {"$c": 2}}


async def test_bulk_write_checks_requests_before_running_any(db):
    from pymongo import InsertOne, ReplaceOne, UpdateOne

    with pytest.raises(ValueError):
        await db.items.bulk_write([InsertOne({"_id": 1}), UpdateOne({}, {"x": 1})])
    with pytest.raises(ValueError):
        await db.items.bulk_write([InsertOne({"_id": 1}), ReplaceOne({}, {"$set": {"x": 1}})])
    assert await db.items.count_documents({}) == 0


async def test_insert_many_ordered_stops_at_the_first_error(db):
    from pymongo.errors import BulkWriteError

    with pytest.raises(BulkWriteError) as info:
        await db.items.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}])
    details = info.value.details
    assert details["nInserted"] == 1
    assert [e["index"] for e in details["writeErrors"]] == [1]
    assert details["writeErrors"][0]["code"] == 11000
    assert await db.items.count_documents({}) == 1


async def test_insert_many_unordered_continues(db):
    from pymongo.errors import BulkWriteError

    with pytest.raises(BulkWriteError) as info:
        await db.items.insert_many([{"_id": 1}, {"_id": 1}, {"_id": 2}], ordered=False)
    assert info.value.details["nInserted"] == 2
    assert await db.items.count_documents({}) == 2


async def test_insert_many_returns_ids_in_order(db):
    docs = [{"n": i} for i in range(5)]
    result = await db.items.insert_many(docs)
    assert result.inserted_ids == [d["_id"] for d in docs]
    assert [d["n"] for d in await db.items.find().to_list(None)] == list(range(5))


async def test_update_one_counts_and_modified_zero_when_nothing_changes(db):
    await db.items.insert_many([{"_id": 1, "s": "a"}, {"_id": 2, "s": "a"}])
    result = await db.items.update_one({"s": "a"}, {"$set": {"s": "b"}})
    assert (result.matched_count, result.modified_count, result.upserted_id) == (1, 1, None)
    same = await db.items.update_one({"_id": 1}, {"$set": {"s": "b"}})
    assert (same.matched_count, same.modified_count) == (1, 0)
    many = await db.items.update_many({}, {"$set": {"s": "c"}})
    assert (many.matched_count, many.modified_count) == (2, 2)


async def test_upsert_seeds_the_document_from_the_filter(db):
    result = await db.items.update_one(
        {"user": "u1", "kind": {"$eq": "k"}}, {"$inc": {"n": 1}}, upsert=True
    )
    assert result.matched_count == 0 and result.upserted_id is not None
    doc = await db.items.find_one({"_id": result.upserted_id})
    assert doc == {"_id": result.upserted_id, "user": "u1", "kind": "k", "n": 1}


async def test_replace_one_keeps_the_id_and_upserts(db):
    await db.items.insert_one({"_id": 1, "a": 1, "b": 2})
    result = await db.items.replace_one({"_id": 1}, {"c": 3})
    assert result.modified_count == 1
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "c": 3}
    up = await db.items.replace_one({"_id": 9}, {"d": 4}, upsert=True)
    assert up.upserted_id == 9
    with pytest.raises(ValueError):
        await db.items.replace_one({"_id": 1}, {"$set": {"c": 4}})


async def test_id_is_immutable(db):
    await db.items.insert_one({"_id": 1, "a": 1})
    with pytest.raises(WriteError) as info:
        await db.items.update_one({"_id": 1}, {"$set": {"_id": 2}})
    assert info.value.code == 66
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "a": 1}


async def test_bad_update_operator_is_an_error_and_changes_nothing(db):
    await db.items.insert_one({"_id": 1, "a": "text"})
    with pytest.raises(WriteError):
        await db.items.update_one({"_id": 1}, {"$inc": {"a": 1}})
    with pytest.raises(WriteError):
        await db.items.update_one({"_id": 1}, {"$bogus": {"a": 1}})
    with pytest.raises(OperationFailure):
        await db.items.find({"a": {"$bogus": 1}}).to_list(None)
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "a": "text"}


async def test_update_many_is_atomic_when_one_document_fails(db):
    await db.items.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": "x"}])
    with pytest.raises(WriteError):
        await db.items.update_many({}, {"$inc": {"a": 1}})
    docs = await db.items.find().sort("_id").to_list(None)
    # MongoDB may have updated earlier documents; the embedded store leaves all as they were
    # or updates exactly those before the failing one. Either way the failing doc is intact.
    assert docs[1] == {"_id": 2, "a": "x"}


async def test_delete_one_and_many(db):
    await db.items.insert_many([{"k": 1}, {"k": 1}, {"k": 2}])
    assert (await db.items.delete_one({"k": 1})).deleted_count == 1
    assert (await db.items.delete_many({"k": {"$gte": 1}})).deleted_count == 2
    assert await db.items.count_documents({}) == 0


async def test_count_documents_with_skip_and_limit(db):
    await db.items.insert_many([{"u": "a", "i": i} for i in range(10)])
    assert await db.items.count_documents({"u": "a"}) == 10
    assert await db.items.count_documents({"u": "a"}, skip=3, limit=5) == 5
    assert await db.items.count_documents({"i": {"$gt": 7}}) == 2
    assert await db.items.estimated_document_count() == 10


async def test_distinct_unwinds_arrays(db):
    await db.items.insert_many(
        [
            {"tags": ["a", "b"]},
            {"tags": "c"},
            {"tags": ["a"]},
            {"other": 1},
            {"tags": 1},
            {"tags": 1.0},
        ]
    )
    values = await db.items.distinct("tags")
    assert sorted(map(str, values)) == ["1", "a", "b", "c"]
    assert await db.items.distinct("tags", {"tags": "c"}) == ["c"]


async def test_find_one_and_update_returns_before_or_after(db):
    await db.items.insert_one({"_id": 1, "n": 1, "x": "keep"})
    before = await db.items.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}})
    assert before["n"] == 1
    after = await db.items.find_one_and_update(
        {"_id": 1}, {"$inc": {"n": 1}}, projection={"x": 0}, return_document=ReturnDocument.AFTER
    )
    assert after == {"_id": 1, "n": 3}
    created = await db.items.find_one_and_update(
        {"_id": 2}, {"$set": {"n": 0}}, upsert=True, return_document=ReturnDocument.AFTER
    )
    assert created == {"_id": 2, "n": 0}
    assert await db.items.find_one_and_update({"_id": 3}, {"$set": {"n": 0}}) is None


async def test_find_one_and_update_uses_sort(db):
    await db.items.insert_many([{"_id": i, "p": i % 3} for i in range(6)])
    doc = await db.items.find_one_and_update(
        {}, {"$set": {"hit": True}}, sort=[("p", -1), ("_id", -1)]
    )
    assert doc["_id"] == 5


async def test_find_one_and_replace_and_delete(db):
    await db.items.insert_many([{"_id": 1, "a": 1}, {"_id": 2, "a": 2}])
    old = await db.items.find_one_and_replace({"a": 1}, {"b": 1})
    assert old == {"_id": 1, "a": 1}
    assert await db.items.find_one({"_id": 1}) == {"_id": 1, "b": 1}
    gone = await db.items.find_one_and_delete({}, sort=[("_id", -1)])
    assert gone == {"_id": 2, "a": 2}
    assert await db.items.count_documents({}) == 1


async def test_bulk_write_reports_counts_and_errors(db):
    from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
    from pymongo.errors import BulkWriteError

    result = await db.items.bulk_write(
        [
            InsertOne({"_id": 1, "a": 1}),
            InsertOne({"_id": 2, "a": 2}),
            UpdateOne({"_id": 1}, {"$set": {"a": 10}}),
            UpdateMany({}, {"$inc": {"n": 1}}),
            ReplaceOne({"_id": 3}, {"a": 3}, upsert=True),
            DeleteOne({"_id": 2}),
            DeleteMany({"a": {"$gt": 100}}),
        ]
    )
    assert result.inserted_count == 2
    assert result.matched_count == 3
    assert result.modified_count == 3
    assert result.upserted_ids == {4: 3}
    assert result.deleted_count == 1
    with pytest.raises(BulkWriteError) as info:
        await db.items.bulk_write(
            [InsertOne({"_id": 1}), UpdateOne({"_id": 1}, {"$set": {"z": 1}})]
        )
    assert info.value.details["writeErrors"][0]["index"] == 0
    assert info.value.details["nModified"] == 0


async def test_database_and_client_listing(client, db):
    await db.alpha.insert_one({})
    await db["beta"].insert_one({})
    assert {"alpha", "beta"} <= set(await db.list_collection_names())
    assert db.name in await client.list_database_names()
    await db.drop_collection("alpha")
    assert "alpha" not in await db.list_collection_names()
    await db.beta.drop()
    assert await db.beta.count_documents({}) == 0
    coll = db.get_collection("gamma")
    assert coll.full_name == f"{db.name}.gamma"
    assert coll.database is db


async def test_aggregate_works_awaited_and_as_a_cursor(db):
    await db.items.insert_many([{"u": "a", "n": 1}, {"u": "a", "n": 2}, {"u": "b", "n": 5}])
    pipeline = [
        {"$match": {"n": {"$gte": 1}}},
        {"$group": {"_id": "$u", "total": {"$sum": "$n"}}},
        {"$sort": {"_id": 1}},
    ]
    expected = [{"_id": "a", "total": 3}, {"_id": "b", "total": 5}]
    assert await db.items.aggregate(pipeline).to_list(None) == expected
    cursor = await db.items.aggregate(pipeline)
    assert [d async for d in cursor] == expected
    assert [d async for d in db.items.aggregate(pipeline)] == expected


async def test_aggregate_pushes_sort_and_limit_down(db):
    await db.items.insert_many([{"n": i} for i in range(20)])
    docs = await db.items.aggregate(
        [
            {"$match": {"n": {"$lt": 10}}},
            {"$sort": {"n": -1}},
            {"$limit": 3},
            {"$project": {"_id": 0}},
        ]
    ).to_list(None)
    assert docs == [{"n": 9}, {"n": 8}, {"n": 7}]


async def test_aggregate_lookup_reads_another_collection(db):
    await db.users.insert_many([{"_id": "u1", "name": "Ann"}])
    await db.orders.insert_many([{"_id": 1, "user": "u1"}])
    docs = await db.orders.aggregate(
        [{"$lookup": {"from": "users", "localField": "user", "foreignField": "_id", "as": "who"}}]
    ).to_list(None)
    assert docs == [{"_id": 1, "user": "u1", "who": [{"_id": "u1", "name": "Ann"}]}]


async def test_update_with_array_filters_and_positional(db):
    await db.items.insert_one({"_id": 1, "grades": [80, 95, 100], "marks": [1, 2]})
    await db.items.update_one(
        {"_id": 1}, {"$set": {"grades.$[g]": 0}}, array_filters=[{"g": {"$gte": 95}}]
    )
    await db.items.update_one({"_id": 1, "marks": 2}, {"$set": {"marks.$": 20}})
    assert await db.items.find_one({"_id": 1}) == {
        "_id": 1,
        "grades": [80, 0, 0],
        "marks": [1, 20],
    }


async def test_create_rename_and_command(db):
    from pymongo.errors import CollectionInvalid

    await db.create_collection("fresh")
    assert "fresh" in await db.list_collection_names()
    with pytest.raises(CollectionInvalid):
        await db.create_collection("fresh")
    await db.fresh.insert_one({"_id": 1})
    await db.fresh.rename("renamed")
    assert await db.renamed.find_one({"_id": 1}) == {"_id": 1}
    assert "fresh" not in await db.list_collection_names()
    assert (await db.command("ping"))["ok"] == 1.0
