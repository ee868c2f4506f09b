"""Cursors read in batches: every document once, in order, across batch boundaries, for
each way a query is read (scan, index ranges, multikey, blocking sort)."""

from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import OperationFailure

from tessera.store.engine import reads, spill


@pytest.fixture
async def items(db: Any) -> Any:
    docs = [
        {"_id": i, "n": i % 5, "tags": [i % 3, i % 7], "u": f"u{i:03d}", "s": "x" * (i % 4)}
        for i in range(60)
    ]
    await db.items.insert_many(docs)
    await db.items.create_index([("n", ASCENDING), ("u", DESCENDING)])
    await db.items.create_index("tags")
    await db.items.create_index("u", unique=True)
    return db.items


QUERIES = [
    ({}, None),  # a scan
    ({"n": {"$gt": 1}}, None),  # a scan with a filter, or an index range
    ({"n": 2}, [("u", DESCENDING)]),  # one index range, exact, in index order
    ({"n": {"$in": [4, 1, 3]}}, [("u", DESCENDING)]),  # several ranges
    ({"tags": {"$in": [0, 2]}}, None),  # multikey: a document under several keys
    ({"u": {"$gte": "u010"}}, [("u", DESCENDING)]),  # a unique index read backwards
    ({"_id": {"$lt": 50}}, [("_id", DESCENDING)]),  # the _id index backwards
    ({"s": {"$ne": ""}}, [("s", ASCENDING), ("_id", DESCENDING)]),  # a blocking sort
]


@pytest.mark.parametrize(("filter", "sort"), QUERIES)
@pytest.mark.parametrize("batch", [1, 3, 7])
async def test_batches_return_what_one_read_returns(
    items: Any, filter: Any, sort: Any, batch: int
) -> None:
    whole = await items.find(filter, sort=sort).to_list(None)
    assert whole  # the query matches something
    streamed = [doc async for doc in items.find(filter, sort=sort).batch_size(batch)]
    assert streamed == whole
    listed = await items.find(filter, sort=sort).batch_size(batch).to_list(None)
    assert listed == whole


@pytest.mark.parametrize(("filter", "sort"), QUERIES)
async def test_skip_and_limit_span_batches(items: Any, filter: Any, sort: Any) -> None:
    whole = await items.find(filter, sort=sort).to_list(None)
    cursor = items.find(filter, sort=sort, skip=2, limit=9).batch_size(4)
    assert [doc async for doc in cursor] == whole[2:11]


async def test_to_list_in_pieces_then_iteration(items: Any) -> None:
    cursor = items.find({"n": {"$gte": 1}}).sort("u", 1).batch_size(5)
    first = await cursor.to_list(7)
    rest = [doc["_id"] async for doc in cursor]
    expected = await items.find({"n": {"$gte": 1}}).sort("u", 1).to_list(None)
    assert [d["_id"] for d in first] + rest == [d["_id"] for d in expected]


async def test_documents_inserted_ahead_of_the_cursor_are_seen(items: Any) -> None:
    """A later batch reads on from where the last stopped: not a snapshot, as in MongoDB."""
    cursor = items.find({}).sort("_id", 1).batch_size(10)
    first = [await cursor.next() for _ in range(10)]
    await items.insert_one({"_id": 1000, "n": 0})
    rest = [doc["_id"] async for doc in cursor]
    assert [d["_id"] for d in first] + rest == [*range(60), 1000]


async def test_batch_size_is_checked(items: Any) -> None:
    with pytest.raises(ValueError):
        items.find().batch_size(-1)
    with pytest.raises(TypeError):
        items.find().batch_size("3")
    assert len([doc async for doc in items.find().batch_size(0)]) == 60


async def test_dropping_the_index_under_a_cursor_kills_it(embedded_db: Any) -> None:
    coll = embedded_db.c
    await coll.insert_many([{"_id": i, "n": i} for i in range(20)])
    await coll.create_index("n")
    cursor = coll.find({"n": {"$gte": 0}}).sort("n", 1).batch_size(5)
    assert (await cursor.next())["_id"] == 0
    await coll.drop_index("n_1")
    with pytest.raises(OperationFailure) as info:
        await cursor.to_list(None)
    assert info.value.code == 175  # QueryPlanKilled


async def test_a_streamed_pipeline_in_small_batches(items: Any) -> None:
    """Per-document stages after the leading $match and $sort run batch by batch; a later
    $match that empties whole batches does not end the cursor early."""
    pipeline = [
        {"$match": {"n": {"$gte": 1}}},
        {"$sort": {"u": -1}},
        {"$set": {"twice": {"$multiply": ["$_id", 2]}}},
        {"$match": {"_id": {"$lt": 12}}},
        {"$project": {"twice": 1}},
    ]
    expected = [{"_id": i, "twice": 2 * i} for i in range(11, -1, -1) if i % 5]
    cursor = items.aggregate(pipeline, batchSize=2)
    assert [doc async for doc in cursor] == expected
    assert await (await items.aggregate(pipeline)).to_list(None) == expected


async def test_a_pipeline_with_a_blocking_stage_still_answers(items: Any) -> None:
    pipeline = [{"$match": {"n": 1}}, {"$group": {"_id": None, "k": {"$sum": 1}}}]
    assert [doc async for doc in items.aggregate(pipeline, batchSize=1)] == [{"_id": None, "k": 12}]


async def test_allow_disk_use_sorts_past_the_limit_through_files(
    embedded_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit and the run size made small: 50 documents of 1 KB sort in 10 runs."""
    monkeypatch.setattr(reads, "BLOCKING_BYTES", 20_000)
    monkeypatch.setattr(spill, "RUN_BYTES", 5_000)
    coll = embedded_db.f
    await coll.insert_many([{"_id": i, "n": i % 7, "pad": "x" * 1000} for i in range(50)])
    expected = sorted(range(50), key=lambda i: (-(i % 7), i))  # ties in insertion order
    with pytest.raises(OperationFailure) as info:
        await coll.find({}).sort("n", -1).to_list(None)
    assert info.value.code == 292
    cursor = coll.find({}, {"pad": 0}).sort("n", -1).allow_disk_use(True).batch_size(4)
    assert [doc["_id"] async for doc in cursor] == expected
    found = await coll.find({}, sort=[("n", -1)], skip=5, limit=20, allow_disk_use=True).to_list()
    assert [doc["_id"] for doc in found] == expected[5:25]
    pipeline = [{"$sort": {"n": -1}}, {"$project": {"n": 1}}]
    with pytest.raises(OperationFailure) as info:
        await coll.aggregate(pipeline).to_list(None)
    assert info.value.code == 292
    found = await coll.aggregate(pipeline, allowDiskUse=True).to_list(None)
    assert [doc["_id"] for doc in found] == expected


async def test_a_streamed_pipeline_cursor_is_an_aggregation_cursor(items: Any) -> None:
    pipeline = [{"$match": {"n": 1}}, {"$sort": {"_id": -1}}, {"$project": {"n": 1}}]
    cursor = items.aggregate(pipeline, batchSize=5)
    with pytest.raises(AttributeError):
        cursor.limit(1)
    copy = cursor.clone()
    expected = [{"_id": i, "n": 1} for i in range(56, -1, -5)]
    assert [doc async for doc in cursor] == expected
    assert await copy.to_list(None) == expected
    with pytest.raises(OperationFailure):
        await items.aggregate([{"$project": {"a": {"$nope": 1}}}])  # awaiting runs it


async def test_a_batch_cut_at_16_mib_does_not_end_the_cursor(db: Any) -> None:
    """A batch stops at 16 MiB of documents even when the index range holds fewer than
    the batch asks for: the rest come in the next batches, none is dropped."""
    await db.big.create_index([("u", ASCENDING), ("n", ASCENDING)])
    await db.big.insert_many([{"u": 1, "n": n} for n in range(16)])
    await db.big.insert_many([{"u": 1, "n": 16 + n, "blob": "x" * 2**20} for n in range(40)])
    listed = await db.big.find({"u": 1}, {"blob": 0}).sort("n", 1).to_list(None)
    assert [doc["n"] for doc in listed] == list(range(56))
    streamed = [doc["n"] async for doc in db.big.find({"u": 1}).sort("n", 1)]
    assert streamed == list(range(56))
