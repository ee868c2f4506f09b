"""Updates given as aggregation pipelines (MongoDB 4.2+), through every write path."""

import pytest
from bson.objectid import ObjectId
from pymongo import ReturnDocument, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure, WriteError


@pytest.fixture
async def items(db):
    await db.items.insert_many(
        [
            {"_id": 1, "a": 1, "b": 2, "sub": {"x": 1, "y": 2}},
            {"_id": 2, "a": 10, "b": 20, "sub": {"x": 3, "y": 4}},
        ]
    )
    return db.items


async def test_update_one_computes_fields_from_the_document(items):
    result = await items.update_one(
        {"_id": 1}, [{"$set": {"total": {"$add": ["$a", "$b"]}}}, {"$unset": "sub"}]
    )
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert await items.find_one({"_id": 1}) == {"_id": 1, "a": 1, "b": 2, "total": 3}


async def test_update_many_runs_the_stages_in_order_on_each_document(items):
    pipeline = [
        {"$addFields": {"sum": {"$add": ["$a", "$b"]}}},
        {"$set": {"double": {"$multiply": ["$sum", 2]}}},
        {"$project": {"sum": 0, "b": 0}},
    ]
    result = await items.update_many({}, pipeline)
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert await items.find({}, {"sub": 0}).sort("_id").to_list(None) == [
        {"_id": 1, "a": 1, "double": 6},
        {"_id": 2, "a": 10, "double": 60},
    ]


async def test_a_pipeline_that_changes_nothing_modifies_nothing(items):
    result = await items.update_many({}, [{"$set": {"a": "$a", "sub.x": "$sub.x"}}])
    assert (result.matched_count, result.modified_count) == (2, 0)


async def test_a_value_of_another_numeric_type_is_a_change(items):
    result = await items.update_one({"_id": 1}, [{"$set": {"a": {"$toDouble": "$a"}}}])
    assert result.modified_count == 1
    assert isinstance((await items.find_one({"_id": 1}))["a"], float)


async def test_replace_with_rebuilds_the_document_and_keeps_its_id(items):
    await items.update_one({"_id": 2}, [{"$replaceWith": {"$mergeObjects": [{"z": 0}, "$sub"]}}])
    assert await items.find_one({"_id": 2}) == {"_id": 2, "z": 0, "x": 3, "y": 4}


async def test_projecting_out_the_id_keeps_it(items):
    await items.update_one({"_id": 1}, [{"$project": {"_id": 0, "a": 1}}])
    assert await items.find_one({"_id": 1}) == {"_id": 1, "a": 1}


async def test_changing_the_id_is_refused_and_leaves_the_document(items):
    with pytest.raises(WriteError) as info:
        await items.update_one({"_id": 1}, [{"$set": {"_id": 7, "a": 0}}])
    assert info.value.code == 66
    assert (await items.find_one({"_id": 1}))["a"] == 1
    with pytest.raises(WriteError) as info:
        await items.update_one({"_id": 1}, [{"$replaceRoot": {"newRoot": {"_id": 8}}}])
    assert info.value.code == 66


@pytest.mark.parametrize(
    "stage",
    [{"$match": {"a": 1}}, {"$group": {"_id": "$a"}}, {"$sort": {"a": 1}}, {"$limit": 1}],
)
async def test_only_reshaping_stages_are_allowed(items, stage):
    with pytest.raises(OperationFailure) as info:
        await items.update_many({}, [{"$set": {"c": 1}}, stage])
    assert info.value.code == 72
    assert await items.count_documents({"c": 1}) == 0


async def test_array_filters_are_refused_with_a_pipeline(items):
    with pytest.raises(WriteError) as info:
        await items.update_one({}, [{"$set": {"c": 1}}], array_filters=[{"i": 0}])
    assert info.value.code == 9


async def test_upsert_starts_from_the_filter_equalities(db):
    result = await db.items.update_one(
        {"kind": "counter"},
        [{"$set": {"n": {"$add": [{"$ifNull": ["$n", 0]}, 1]}}}],
        upsert=True,
    )
    assert result.matched_count == 0
    assert isinstance(result.upserted_id, ObjectId)
    again = await db.items.update_one(
        {"kind": "counter"}, [{"$set": {"n": {"$add": ["$n", 1]}}}], upsert=True
    )
    assert (again.matched_count, again.modified_count, again.upserted_id) == (1, 1, None)
    assert await db.items.find_one({}, {"_id": 0}) == {"kind": "counter", "n": 2}


async def test_upsert_keeps_the_id_of_the_filter(db):
    result = await db.items.update_one({"_id": 5}, [{"$set": {"n": 1}}], upsert=True)
    assert result.upserted_id == 5
    assert await db.items.find_one({"_id": 5}) == {"_id": 5, "n": 1}


async def test_find_one_and_update_returns_the_rebuilt_document(items):
    after = await items.find_one_and_update(
        {"_id": 2},
        [{"$set": {"ratio": {"$divide": ["$b", "$a"]}}}, {"$unset": ["sub", "b"]}],
        return_document=ReturnDocument.AFTER,
    )
    assert after == {"_id": 2, "a": 10, "ratio": 2.0}
    before = await items.find_one_and_update({"_id": 1}, [{"$set": {"a": 0}}])
    assert before["a"] == 1


async def test_bulk_write_runs_pipeline_updates(items):
    result = await items.bulk_write(
        [
            UpdateOne({"_id": 1}, [{"$set": {"a": {"$multiply": ["$a", 5]}}}]),
            UpdateMany({}, [{"$set": {"seen": True}}]),
            UpdateOne({"_id": 3}, [{"$set": {"new": True}}], upsert=True),
        ]
    )
    assert (result.matched_count, result.modified_count, result.upserted_ids) == (3, 3, {2: 3})
    assert (await items.find_one({"_id": 1}))["a"] == 5
    assert await items.count_documents({"seen": True}) == 2


async def test_bulk_write_reports_a_refused_pipeline_as_a_write_error(items):
    with pytest.raises(BulkWriteError) as info:
        await items.bulk_write([UpdateOne({"_id": 1}, [{"$set": {"_id": 9}}])])
    assert info.value.details["writeErrors"][0]["code"] == 66


async def test_an_empty_pipeline_is_refused_before_sending(items):
    with pytest.raises(ValueError, match="update cannot be empty"):
        await items.update_one({}, [])
