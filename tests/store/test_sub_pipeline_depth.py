"""$lookup and $unionWith nested more than 20 deep: MongoDB's MaxSubPipelineDepthExceeded
(code 232), refused before anything runs. Each runs its sub-pipeline once per document,
so nesting them multiplies the work: 200 levels over 3 documents ran for over 10 minutes.
`$facet`'s sub-pipelines add no level, as in MongoDB."""

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.errors import OperationFailure

from tessera.store.aggregation.pipeline import MAX_SUB_PIPELINE_DEPTH

Stage = Callable[[list[Any]], dict[str, Any]]


def lookup(inner: list[Any]) -> dict[str, Any]:
    return {"$lookup": {"from": "other", "as": "found", "pipeline": inner}}


def union(inner: list[Any]) -> dict[str, Any]:
    return {"$unionWith": {"coll": "other", "pipeline": inner}}


def nested(levels: int, stage: Stage, innermost: list[Any] | None = None) -> list[Any]:
    """A pipeline of `levels` stages, each in the pipeline of the one before, the last
    running `innermost`."""
    pipeline = innermost or []
    for _ in range(levels):
        pipeline = [stage(pipeline)]
    return pipeline


def in_facet(levels: int, stage: Stage) -> list[Any]:
    """`levels` stages nested, the inner half inside a `$facet`."""
    inner = [{"$facet": {"f": nested(levels // 2, stage)}}]
    return nested(levels - levels // 2, stage, inner)


# Each nesting, and the number of documents it finds at the limit (a $unionWith adds the
# other collection's document at each level).
NESTINGS: dict[str, tuple[Callable[[int], list[dict[str, Any]]], int]] = {
    "$lookup": (lambda n: nested(n, lookup), 1),
    "$unionWith": (lambda n: nested(n, union), 1 + MAX_SUB_PIPELINE_DEPTH),
    "$lookup through $facet": (lambda n: in_facet(n, lookup), 1),
}


@pytest.fixture
async def collections(db):
    await db.items.insert_one({"_id": 1})
    await db.other.insert_one({"_id": 2})
    return db


@pytest.mark.parametrize("nesting", NESTINGS.values(), ids=NESTINGS.keys())
async def test_sub_pipelines_nested_to_the_limit_run(collections, nesting):
    pipeline, expected = nesting
    found = await collections.items.aggregate(pipeline(MAX_SUB_PIPELINE_DEPTH)).to_list(None)
    assert len(found) == expected


@pytest.mark.parametrize("nesting", NESTINGS.values(), ids=NESTINGS.keys())
async def test_sub_pipelines_nested_deeper_are_refused(collections, nesting):
    pipeline, _ = nesting
    with pytest.raises(OperationFailure) as refused:
        await collections.items.aggregate(pipeline(MAX_SUB_PIPELINE_DEPTH + 1)).to_list(None)
    assert refused.value.code == 232
    assert "Maximum number of nested sub-pipelines exceeded. Limit is 20" in str(refused.value)


async def test_the_innermost_stage_counts_without_a_pipeline(collections):
    """MongoDB counts the stage, not its pipeline: a $unionWith naming only a collection
    one level too deep is refused too."""
    pipeline = nested(MAX_SUB_PIPELINE_DEPTH, lookup, [{"$unionWith": "other"}])
    with pytest.raises(OperationFailure) as refused:
        await collections.items.aggregate(pipeline).to_list(None)
    assert refused.value.code == 232


async def test_the_refusal_comes_before_anything_runs(embedded_db):
    """Refused when `aggregate` is called, before a cursor exists."""
    with pytest.raises(OperationFailure) as refused:
        embedded_db.items.aggregate(nested(MAX_SUB_PIPELINE_DEPTH + 1, lookup))
    assert refused.value.code == 232
