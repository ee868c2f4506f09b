"""Cursors: PyMongo's chainable modifiers, Motor's and PyMongo's ways to read them."""

import pytest
from pymongo.errors import InvalidOperation


@pytest.fixture
async def items(db):
    await db.items.insert_many([{"_id": i, "n": i % 4, "s": f"s{i}"} for i in range(10)])
    return db.items


async def test_sort_skip_limit_chain(items):
    cursor = items.find({"n": {"$gte": 1}}).sort([("n", -1), ("_id", 1)]).skip(1).limit(3)
    assert [d["_id"] for d in await cursor.to_list(None)] == [7, 2, 6]


async def test_sort_as_keyword_and_key_direction(items):
    docs = await items.find({}, sort=[("_id", -1)], limit=2).to_list(None)
    assert [d["_id"] for d in docs] == [9, 8]
    docs = await items.find().sort("_id", -1).limit(1).to_list(None)
    assert [d["_id"] for d in docs] == [9]


async def test_to_list_with_and_without_length(items):
    cursor = items.find().sort("_id")
    assert [d["_id"] for d in await cursor.to_list(3)] == [0, 1, 2]
    assert [d["_id"] for d in await cursor.to_list()] == list(range(3, 10))
    assert await cursor.to_list(5) == []


async def test_to_list_in_batches_keeps_skip_and_limit(items):
    cursor = items.find().sort("_id", -1).skip(2).limit(5)
    assert [d["_id"] for d in await cursor.to_list(2)] == [7, 6]
    assert (await cursor.next())["_id"] == 5
    assert [d["_id"] for d in await cursor.to_list(10)] == [4, 3]
    assert not cursor.alive
    assert await cursor.to_list() == []


async def test_to_list_in_batches_then_iteration_sees_each_document_once(items):
    cursor = items.find({"n": {"$lt": 3}}).sort("_id")
    first = [d["_id"] for d in await cursor.to_list(4)]
    rest = [d["_id"] async for d in cursor]
    assert first + rest == [0, 1, 2, 4, 5, 6, 8, 9]


async def test_aggregate_cursor_in_batches(items):
    cursor = items.aggregate([{"$match": {"n": 1}}, {"$sort": {"_id": 1}}])
    assert [d["_id"] for d in await cursor.to_list(2)] == [1, 5]
    assert [d["_id"] for d in await cursor.to_list(2)] == [9]
    assert await cursor.to_list(2) == []


async def test_async_for_and_next(items):
    cursor = items.find({"n": 0}).sort("_id")
    assert (await cursor.next())["_id"] == 0
    assert [d["_id"] async for d in cursor] == [4, 8]
    with pytest.raises(StopAsyncIteration):
        await cursor.next()


async def test_projection_inclusion_exclusion_and_list_form(items):
    assert await items.find({"_id": 1}, {"s": 1}).to_list(None) == [{"_id": 1, "s": "s1"}]
    assert await items.find({"_id": 1}, {"_id": 0, "n": 0}).to_list(None) == [{"s": "s1"}]
    assert await items.find({"_id": 1}, ["n"]).to_list(None) == [{"_id": 1, "n": 1}]


async def test_modifiers_after_execution_are_refused(items):
    cursor = items.find()
    await cursor.to_list(1)
    with pytest.raises(InvalidOperation):
        cursor.sort("n")


async def test_close_works_awaited_or_not(items):
    cursor = items.find()
    cursor.close()
    assert await cursor.to_list(None) == []
    other = items.find()
    await other.close()


async def test_negative_skip_is_refused(items):
    with pytest.raises(ValueError):
        items.find().skip(-1)
