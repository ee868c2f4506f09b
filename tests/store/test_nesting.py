"""Deeply nested input and values: MongoDB's error (code 15, Overflow), never RecursionError.

A call's filter, update, pipeline, projection, sort or documents may nest
`MAX_ARGUMENT_NESTING` levels (20 over a stored document, as MongoDB takes commands 20
levels over what it stores); deeper ones are refused before anything runs. A value a
pipeline makes deeper than the store can walk fails the operation with the same code.
Embedded-only: MongoDB's limit for a whole command is 200 levels.
"""

from collections.abc import Callable
from typing import Any

import pytest
from pymongo import InsertOne, UpdateOne
from pymongo.errors import OperationFailure

from tessera.store.engine.documents import MAX_ARGUMENT_NESTING

DEEP = 1000  # levels: Python's recursion limit, whatever the evaluator's frames a level


def nest(levels: int, leaf: Any, wrap: Callable[[Any], Any]) -> Any:
    """`leaf` wrapped `levels` times."""
    for _ in range(levels):
        leaf = wrap(leaf)
    return leaf


def deep_doc(levels: int) -> Any:
    return nest(levels, 1, lambda v: {"s": v})


CALLS: dict[str, Callable[[Any], Any]] = {
    "aggregate $expr": lambda c: c.aggregate(
        [{"$match": {"$expr": nest(DEEP, True, lambda v: {"$not": [v]})}}]
    ).to_list(None),
    "aggregate expression": lambda c: c.aggregate(
        [{"$project": {"x": nest(DEEP, 1, lambda v: {"$add": [v, 1]})}}]
    ).to_list(None),
    "aggregate $unionWith": lambda c: c.aggregate(
        nest(DEEP, [], lambda v: [{"$unionWith": {"coll": "other", "pipeline": v}}])
    ).to_list(None),
    "find $and": lambda c: c.find(nest(DEEP, {"a": 1}, lambda v: {"$and": [v]})).to_list(None),
    "find $elemMatch": lambda c: c.find(
        {"arr": nest(DEEP, {"b": 1}, lambda v: {"$elemMatch": v})}
    ).to_list(None),
    "find $expr": lambda c: c.find({"$expr": nest(DEEP, True, lambda v: {"$or": [v]})}).to_list(
        None
    ),
    "find equality": lambda c: c.find({"a": deep_doc(DEEP)}).to_list(None),
    "find_one": lambda c: c.find_one({"_id": 1, "a": {"$in": [deep_doc(DEEP)]}}),
    "projection": lambda c: c.find({}, {"x": nest(DEEP, 1, lambda v: {"$abs": v})}).to_list(None),
    "sort": lambda c: c.find({}).sort([("a", deep_doc(DEEP))]).to_list(None),
    "count_documents": lambda c: c.count_documents(nest(DEEP, {"a": 1}, lambda v: {"$or": [v]})),
    "distinct": lambda c: c.distinct("a", nest(DEEP, {"a": 1}, lambda v: {"$nor": [v]})),
    "update": lambda c: c.update_one({"_id": 1}, {"$set": {"x": deep_doc(DEEP)}}),
    "update pipeline": lambda c: c.update_many(
        {}, [{"$set": {"x": nest(DEEP, 1, lambda v: {"$add": [v, 1]})}}]
    ),
    "arrayFilters": lambda c: c.update_one(
        {"_id": 1},
        {"$set": {"arr.$[e].b": 2}},
        array_filters=[nest(DEEP, {"e.b": 1}, lambda v: {"$and": [v]})],
    ),
    "replace": lambda c: c.replace_one({"_id": 1}, {"x": deep_doc(DEEP)}),
    "insert_many": lambda c: c.insert_many([{"_id": 2}, {"x": deep_doc(DEEP)}]),
    "bulk_write": lambda c: c.bulk_write(
        [InsertOne({"_id": 2}), UpdateOne({"a": deep_doc(DEEP)}, {"$set": {"x": 1}})]
    ),
    "find_one_and_update": lambda c: c.find_one_and_update(
        {"_id": 1}, {"$push": {"arr": deep_doc(DEEP)}}
    ),
    "delete_many": lambda c: c.delete_many(nest(DEEP, {"a": 1}, lambda v: {"$or": [v]})),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_calls_nested_too_deep_are_refused_before_anything_runs(embedded_db, call):
    await embedded_db.items.insert_one({"_id": 1, "a": 1, "arr": [{"b": 1}]})
    with pytest.raises(OperationFailure) as refused:
        await call(embedded_db.items)
    assert refused.value.code == 15
    assert f"more than {MAX_ARGUMENT_NESTING} levels deep" in str(refused.value)
    assert await embedded_db.items.find({}).to_list(None) == [{"_id": 1, "a": 1, "arr": [{"b": 1}]}]


async def test_calls_nested_to_the_limit_run(embedded_db):
    """The deepest input taken runs in every evaluator: each walks it in a few hundred
    Python frames, well within the recursion limit."""
    items = embedded_db.items
    await items.insert_one({"_id": 1, "a": 1, "arr": [{"b": 1}]})
    half = MAX_ARGUMENT_NESTING // 2  # an operator and its argument list: two levels
    expr = nest(half - 3, True, lambda v: {"$and": [v]})  # $match, $expr, the stage, pipeline
    assert len(await items.aggregate([{"$match": {"$expr": expr}}]).to_list(None)) == 1
    assert await items.count_documents(nest(half - 1, {"a": 1}, lambda v: {"$or": [v]})) == 1
    elem = {"arr": nest(MAX_ARGUMENT_NESTING - 2, {"b": 1}, lambda v: {"$elemMatch": v})}
    assert await items.count_documents(elem) == 0  # the innermost wants an array of arrays
    added = nest(half - 2, 1, lambda v: {"$add": [v, 1]})  # the pipeline, stage, $project
    project = [{"$project": {"x": added, "_id": 0}}]
    assert await items.aggregate(project).to_list(None) == [{"x": half - 1}]
    project[0]["$project"]["x"] = {"$add": [added, 1]}
    with pytest.raises(OperationFailure, match="pipeline nests"):
        await items.aggregate(project).to_list(None)


# A value nested 1,000 levels, one at each step of a $reduce.
MADE_DEEP = {"$reduce": {"input": {"$range": [0, DEEP]}, "initialValue": [], "in": ["$$value"]}}

MADE: dict[str, list[dict[str, Any]]] = {
    "$sort": [{"$set": {"x": MADE_DEEP}}, {"$sort": {"x": 1}}],
    "$group": [{"$set": {"x": MADE_DEEP}}, {"$group": {"_id": "$x"}}],
    "$eq": [{"$set": {"x": MADE_DEEP}}, {"$match": {"$expr": {"$eq": ["$x", "$x"]}}}],
    "$setUnion": [{"$set": {"x": MADE_DEEP}}, {"$set": {"y": {"$setUnion": [["$x"], []]}}}],
    "$redact": [
        {"$set": {"x": {"$arrayToObject": [[["s", MADE_DEEP]]]}}},
        {"$redact": "$$DESCEND"},
    ],
}


@pytest.mark.parametrize("pipeline", MADE.values(), ids=MADE.keys())
async def test_values_a_pipeline_nests_too_deep_fail_with_code_15(embedded_db, pipeline):
    await embedded_db.items.insert_many([{"_id": 1}, {"_id": 2}])
    with pytest.raises(OperationFailure) as failed:
        await embedded_db.items.aggregate(pipeline).to_list(None)
    assert failed.value.code == 15
    assert "too deeply" in str(failed.value)


async def test_an_update_making_a_value_too_deep_fails_and_writes_nothing(embedded_db):
    await embedded_db.items.insert_one({"_id": 1})
    with pytest.raises(OperationFailure) as failed:
        await embedded_db.items.update_one({"_id": 1}, [{"$set": {"x": MADE_DEEP}}])
    assert failed.value.code == 15
    assert await embedded_db.items.find_one({"_id": 1}) == {"_id": 1}
