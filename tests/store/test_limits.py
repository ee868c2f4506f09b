"""MongoDB's memory limits, refused with MongoDB's codes.

Tests taking `db` run on MongoDB too. Those taking `embedded_db` are embedded-only:
MongoDB 6.0+ spills a blocking $sort or $group to disk instead of failing, which the
embedded store cannot do yet; some lower a limit to keep the test small.
"""

from typing import Any

import pytest
from pymongo.errors import BulkWriteError, OperationFailure, WriteError

from tessera.store.aggregation.expressions import strings
from tessera.store.bounds import limits
from tessera.store.bounds.limits import approximate_size
from tessera.store.engine import reads

MB = 1024 * 1024
# A string of 2**23 characters (8 MB) made inside the pipeline: 13 of them pass 100 MB
# without storing anything.
EIGHT_MB = {
    "$reduce": {
        "input": {"$range": [0, 23]},
        "initialValue": "x",
        "in": {"$concat": ["$$value", "$$value"]},
    }
}


async def thirteen(coll: Any) -> None:
    await coll.insert_many([{"_id": i, "n": i} for i in range(13)])


async def aggregate(coll: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return await coll.aggregate(pipeline).to_list(None)


def test_approximate_size_is_close_to_the_bson_size() -> None:
    import bson

    doc = {"_id": 1, "name": "ada", "tags": ["a", "b"], "inner": {"x": 1.5, "y": None}}
    assert abs(approximate_size(doc) - len(bson.encode(doc))) <= 8
    deep: list[Any] = []
    for _ in range(5000):  # deeper than the interpreter's stack
        deep = [deep]
    assert approximate_size(deep) > 5000 * 4


# $range: 146, internalQueryMaxRangeBytes (100 MB at 16 bytes a value).


async def test_range_over_its_memory_limit_is_refused(db: Any) -> None:
    await db.r.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        await aggregate(db.r, [{"$project": {"r": {"$range": [0, 40_000_000]}}}])
    assert info.value.code == 146
    assert "$range would use too much memory (640000040 bytes)" in str(info.value)
    assert "Memory limit: 104857600 bytes" in str(info.value)
    (out,) = await aggregate(db.r, [{"$project": {"n": {"$size": {"$range": [0, 100_000]}}}}])
    assert out["n"] == 100_000


# $push and $addToSet: 146 past 100 MB, in $group and in $setWindowFields.


async def test_push_over_its_memory_limit_is_refused(db: Any) -> None:
    await thirteen(db.p)
    pipeline = [{"$project": {"s": EIGHT_MB}}, {"$group": {"_id": None, "all": {"$push": "$s"}}}]
    with pytest.raises(OperationFailure) as info:
        await aggregate(db.p, pipeline)
    assert info.value.code == 146
    assert "$push used too much memory and cannot spill to disk" in str(info.value)


async def test_add_to_set_counts_each_distinct_value_once(embedded_db: Any) -> None:
    await thirteen(embedded_db.p)
    same = [{"$project": {"s": EIGHT_MB}}, {"$group": {"_id": None, "set": {"$addToSet": "$s"}}}]
    (out,) = await aggregate(embedded_db.p, same)
    assert len(out["set"]) == 1
    different = [
        {"$project": {"s": {"$concat": [EIGHT_MB, {"$toString": "$n"}]}}},
        {"$group": {"_id": None, "set": {"$addToSet": "$s"}}},
    ]
    with pytest.raises(OperationFailure) as info:
        await aggregate(embedded_db.p, different)
    assert info.value.code == 146
    assert "$addToSet used too much memory" in str(info.value)


async def test_window_push_over_its_memory_limit_is_refused(embedded_db: Any) -> None:
    await thirteen(embedded_db.w)
    pipeline = [
        {"$project": {"s": EIGHT_MB}},
        {"$setWindowFields": {"output": {"all": {"$push": "$s"}}}},
    ]
    with pytest.raises(OperationFailure) as info:
        await aggregate(embedded_db.w, pipeline)
    assert info.value.code == 146


# Blocking $sort and $group: 292 past 100 MB (embedded-only: MongoDB 6.0+ spills instead).


async def test_blocking_sort_over_its_memory_limit_is_refused(embedded_db: Any) -> None:
    await thirteen(embedded_db.s)
    for sort in ([{"$sort": {"n": -1}}], [{"$sort": {"n": -1}}, {"$limit": 20}]):
        with pytest.raises(OperationFailure) as info:
            await aggregate(embedded_db.s, [{"$project": {"n": 1, "s": EIGHT_MB}}, *sort])
        assert info.value.code == 292
        assert "Sort exceeded memory limit of 104857600 bytes" in str(info.value)
        assert "the embedded store spills no other stage" in str(info.value)
    # Keeping fewer documents than the limit holds is fine.
    pipeline = [{"$project": {"n": 1, "s": EIGHT_MB}}, {"$sort": {"n": -1}}, {"$limit": 2}]
    assert [doc["n"] for doc in await aggregate(embedded_db.s, pipeline)] == [12, 11]


async def test_group_over_its_memory_limit_is_refused(embedded_db: Any) -> None:
    await thirteen(embedded_db.g)
    pipeline = [
        {"$project": {"s": EIGHT_MB}},
        {"$group": {"_id": "$_id", "all": {"$push": "$s"}}},  # 8 MB a group: 104 in all
    ]
    with pytest.raises(OperationFailure) as info:
        await embedded_db.g.aggregate(pipeline, allowDiskUse=True).to_list(None)
    assert info.value.code == 292
    assert "Exceeded memory limit for $group" in str(info.value)
    with pytest.raises(OperationFailure) as info:
        await aggregate(
            embedded_db.g,
            [
                {"$project": {"s": EIGHT_MB, "n": 1}},
                {
                    "$bucket": {
                        "groupBy": "$n",
                        "boundaries": [0, 5, 10, 20],
                        "output": {"all": {"$push": "$s"}},
                    }
                },
            ],
        )
    assert info.value.code == 292


async def test_find_with_an_in_memory_sort_over_the_limit_is_refused(
    embedded_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "BLOCKING_BYTES", 20_000)
    await embedded_db.f.insert_many([{"n": i, "pad": "x" * 1000} for i in range(50)])
    with pytest.raises(OperationFailure) as info:
        await embedded_db.f.find({}).sort("n", -1).to_list(None)
    assert info.value.code == 292
    # With a limit, only the documents kept count; an index gives the order with no sort.
    found = await embedded_db.f.find({}).sort("n", -1).limit(3).to_list(None)
    assert [doc["n"] for doc in found] == [49, 48, 47]
    with pytest.raises(OperationFailure) as info:
        await embedded_db.f.find({}).sort("n", 1).limit(30).to_list(None)
    assert info.value.code == 292
    await embedded_db.f.create_index("n")
    assert len(await embedded_db.f.find({}).sort("n", -1).to_list(None)) == 50


async def test_a_sorted_single_document_write_keeps_one_document(
    embedded_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads, "BLOCKING_BYTES", 20_000)
    await embedded_db.u.insert_many([{"n": i, "pad": "x" * 1000} for i in range(50)])
    await embedded_db.u.update_one({}, {"$set": {"top": True}}, sort={"n": -1})
    assert (await embedded_db.u.find_one({"top": True}))["n"] == 49
    assert (await embedded_db.u.find_one_and_delete({}, sort=[("n", 1)]))["n"] == 0


# 16 MB: a document a pipeline or an update makes (10334), and one to insert.


async def test_pipeline_result_over_16mb_is_refused(db: Any) -> None:
    await db.big.insert_one({"_id": 1})
    pipeline = [{"$project": {"a": EIGHT_MB, "b": EIGHT_MB, "c": EIGHT_MB}}]
    with pytest.raises(OperationFailure) as info:
        await aggregate(db.big, pipeline)
    assert info.value.code == 10334
    (out,) = await aggregate(db.big, [{"$project": {"a": EIGHT_MB}}])
    assert len(out["a"]) == 2**23


async def test_update_making_a_document_over_16mb_is_refused(db: Any) -> None:
    await db.big.insert_one({"_id": 1, "a": "x" * (9 * MB)})
    with pytest.raises(WriteError) as info:
        await db.big.update_one({"_id": 1}, {"$set": {"b": "y" * (9 * MB)}})
    # 17419 before MongoDB 7.0; BSONObjectTooLarge since.
    assert info.value.code in (10334, 17419)
    assert "Resulting document after update is larger than 16777216" in str(info.value)
    assert set(await db.big.find_one({"_id": 1})) == {"_id", "a"}
    with pytest.raises(WriteError):
        await db.big.update_one({"_id": 1}, [{"$set": {"b": {"$concat": ["$a", "$a"]}}}])


async def test_insert_over_16mb_is_refused(embedded_db: Any) -> None:
    # PyMongo refuses it before sending (DocumentTooLarge); the server's code is BadValue.
    with pytest.raises(WriteError, match="object to insert too large") as info:
        await embedded_db.big.insert_one({"a": "x" * (17 * MB)})
    assert info.value.code == 2
    assert await embedded_db.big.count_documents({}) == 0
    with pytest.raises(BulkWriteError) as bulk:
        await embedded_db.big.insert_many(
            [{"_id": 1}, {"_id": 2, "a": "x" * (17 * MB)}, {"_id": 3}]
        )
    (error,) = bulk.value.details["writeErrors"]
    assert (error["index"], error["code"], bulk.value.details["nInserted"]) == (1, 2, 1)


# $regexFindAll: 51151 past 64 MB of matches (embedded-only here: the limit is lowered).


async def test_regex_find_all_output_is_bounded(
    embedded_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(strings, "_FIND_ALL_BYTES", 10_000)
    await embedded_db.r.insert_one({"_id": 1, "s": "ab" * 2000})
    with pytest.raises(OperationFailure) as info:
        await aggregate(
            embedded_db.r, [{"$project": {"m": {"$regexFindAll": {"input": "$s", "regex": "a"}}}}]
        )
    assert info.value.code == 51151


def test_the_limits_are_mongodbs() -> None:
    assert limits.BLOCKING_BYTES == limits.ACCUMULATOR_BYTES == limits.RANGE_BYTES == 100 * MB
    assert limits.DOCUMENT_BYTES == 16 * MB
    assert strings._FIND_ALL_BYTES == 64 * MB


# Values a pipeline doubles at each step of a $reduce: 2**24 times what it starts with.
def doubled(initial: Any, step: Any) -> dict[str, Any]:
    return {"$reduce": {"input": {"$range": [0, 24]}, "initialValue": initial, "in": step}}


@pytest.mark.parametrize(
    ("operator", "expression"),
    [
        ("$concat", doubled("abcdefgh", {"$concat": ["$$value", "$$value"]})),
        (
            "$replaceAll",
            doubled("ab", {"$replaceAll": {"input": "$$value", "find": "a", "replacement": "aa"}}),
        ),
        ("$concatArrays", doubled([1], {"$concatArrays": ["$$value", "$$value"]})),
        ("$zip", {"$zip": {"inputs": [{"$range": [0, 3_000_000]}] * 2}}),
    ],
)
async def test_strings_and_arrays_an_expression_makes_are_bounded(
    embedded_db: Any, operator: str, expression: Any
) -> None:
    """A string over 16 MB, or an array over the memory a $range may take, is refused
    where it would be made: doubled 34 times, $concat made a string of 128 GB in the
    server's memory before the result's size was checked (the server died of it)."""
    await embedded_db.big.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        await aggregate(
            embedded_db.big,
            [
                {
                    "$project": {
                        "n": {
                            "$size": {
                                "$ifNull": [
                                    {"$cond": [{"$isArray": expression}, expression, None]},
                                    [],
                                ]
                            }
                        }
                    }
                }
            ]
            if operator in ("$concatArrays", "$zip")
            else [{"$project": {"n": {"$strLenCP": expression}}}],
        )
    assert info.value.code == limits.EXCEEDED_MEMORY_LIMIT
    assert operator in str(info.value)


async def test_a_document_of_shared_parts_is_measured_once_a_part(embedded_db: Any) -> None:
    """``{"b": "$$value", "c": "$$value"}`` doubles a document's size at each step, not
    its memory: 40 steps make one of terabytes, which measuring or encoding walked for
    days, a reader thread held meanwhile. It is refused as too large at once."""
    await embedded_db.big.insert_one({"_id": 1})
    tree = {
        "$reduce": {
            "input": {"$range": [0, 40]},
            "initialValue": {"a": 1},
            "in": {"b": "$$value", "c": "$$value"},
        }
    }
    with pytest.raises(OperationFailure) as info:
        await aggregate(embedded_db.big, [{"$project": {"_id": 0, "t": tree}}])
    assert info.value.code == limits.OBJECT_TOO_LARGE
    assert len(str(info.value)) < 1000


async def test_an_update_pipeline_of_shared_parts_is_refused_before_it_is_copied(
    embedded_db: Any,
) -> None:
    """An update pipeline's document was copied whole before its size was checked: 20,000
    references to a stored 1 MB string took 2 GB of the server's memory (and the store's
    only writer) before failing, a document of shared parts took days."""
    await embedded_db.big.insert_one({"_id": 1, "big": "x" * MB})
    fan = {"$map": {"input": {"$range": [0, 20_000]}, "in": "$big"}}
    with pytest.raises(WriteError) as info:
        await embedded_db.big.update_one({"_id": 1}, [{"$set": {"t": fan}}])
    assert info.value.code == limits.OBJECT_TOO_LARGE
    assert set(await embedded_db.big.find_one({"_id": 1})) == {"_id", "big"}


# A document of 2**40 leaves in 40 of memory: each step refers to the last one twice.
SHARED = {
    "$reduce": {
        "input": {"$range": [0, 40]},
        "initialValue": {"a": 1},
        "in": {"b": "$$value", "c": "$$value"},
    }
}


@pytest.mark.parametrize(
    "pipeline",
    [
        [{"$project": {"e": {"$bsonSize": SHARED}}}],
        [{"$project": {"e": {"$eq": [SHARED, {"a": 2}]}}}],
        [{"$group": {"_id": SHARED}}],
        [{"$group": {"_id": 1, "s": {"$addToSet": SHARED}}}],
        [{"$match": {"$expr": {"$in": [{"a": 3}, [SHARED]]}}}],
    ],
    ids=["bsonSize", "eq", "group", "addToSet", "in"],
)
async def test_values_of_shared_parts_are_refused_where_they_are_compared_or_encoded(
    embedded_db: Any, pipeline: list[dict[str, Any]]
) -> None:
    """Comparing, grouping or encoding such a value walked it part by part: ``$bsonSize``
    encoded it in C holding the interpreter lock (at 2**23 leaves, 1.3 s in which the event
    loop stood still; at 2**40, days and terabytes). It is refused as too large at once."""
    await embedded_db.big.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as info:
        await aggregate(embedded_db.big, pipeline)
    assert info.value.code == limits.OBJECT_TOO_LARGE


@pytest.mark.parametrize(
    ("operator", "expression"),
    [
        ("$sortArray", lambda copies: {"$sortArray": {"input": copies, "sortBy": 1}}),
        ("$setUnion", lambda copies: {"$setUnion": [copies]}),
        ("$setIsSubset", lambda copies: {"$setIsSubset": [copies, [1]]}),
    ],
)
async def test_sorting_or_comparing_as_sets_over_a_blocking_sorts_memory_is_refused(
    embedded_db: Any, operator: str, expression: Any
) -> None:
    """They build a key for each element ($sortArray holds them all), and an array may
    repeat one stored value without taking its memory again: 40,000 copies of a stored
    array of 1,000 items held 2.8 GB of keys (any number, up to what a $range may make)."""
    await embedded_db.big.insert_one({"_id": 1, "a": list(range(1000))})
    copies = {"$map": {"input": {"$range": [0, 20_000]}, "in": "$a"}}
    value = {"$cond": [{"$isArray": expression(copies)}, 1, 0]}
    with pytest.raises(OperationFailure) as info:
        await aggregate(embedded_db.big, [{"$project": {"n": value}}])
    assert info.value.code == limits.EXCEEDED_MEMORY_LIMIT
    assert operator in str(info.value)
