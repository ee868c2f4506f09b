"""Many-document writes run in slices of the writer's time: other callers' writes run in
between, and the results are those of one job."""

import asyncio
import functools
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bson.objectid import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.errors import BulkWriteError, ExecutionTimeout, PyMongoError
from pymongo.operations import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne

from tessera.store import open_client
from tessera.store.api.many import Many, next_slice
from tessera.store.engine import slices
from tessera.store.engine.engine import deadline

HEAVY = {
    "$reduce": {
        "input": {"$range": [0, 100]},
        "initialValue": 0,
        "in": {"$add": ["$$value", "$$this"]},
    }
}


@pytest.fixture
def one_per_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every slice hands over after one document, request or pair of inserts."""
    monkeypatch.setattr(slices, "SLICE_SECONDS", 0)
    monkeypatch.setattr(slices, "INSERT_CHUNK", 2)


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


def big_writes(coll: Any) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Large writes of caller A over its 2,000 documents, each many slices long."""
    return {
        "update_many": lambda: coll.update_many({"user_id": "a"}, [{"$set": {"v": HEAVY}}]),
        "delete_many": lambda: coll.delete_many({"user_id": "a", "$expr": {"$gte": [HEAVY, 0]}}),
        "insert_many": lambda: coll.insert_many(
            [{"user_id": "a", "new": i} for i in range(20_000)]
        ),
        "bulk_write": lambda: coll.bulk_write(
            [UpdateOne({"_id": i}, [{"$set": {"v": HEAVY}}]) for i in range(2_000)]
        ),
        "bulk_update_many": lambda: coll.bulk_write(
            [InsertOne({"user_id": "a"}), UpdateMany({"user_id": "a"}, [{"$set": {"v": HEAVY}}])]
        ),
    }


async def progress(coll: Any, kind: str) -> int:
    """How far caller A's write has come: documents it changed, removed or added."""
    if kind == "delete_many":
        return 2_000 - await coll.count_documents({"user_id": "a"})
    if kind == "insert_many":
        return await coll.count_documents({"new": {"$exists": True}})
    return await coll.count_documents({"v": {"$exists": True}})


@pytest.mark.parametrize(
    "kind", ["update_many", "delete_many", "insert_many", "bulk_write", "bulk_update_many"]
)
async def test_another_callers_insert_completes_long_before_a_large_write(
    embedded_db: Any, kind: str
) -> None:
    coll = embedded_db.c
    await coll.insert_many([{"_id": i, "user_id": "a"} for i in range(2_000)])
    finished: list[str] = []

    async def run(name: str, write: Callable[[], Awaitable[Any]]) -> None:
        await write()
        finished.append(name)

    large = asyncio.ensure_future(run("large", big_writes(coll)[kind]))
    await until(lambda: _started(coll, kind))
    await run("other", lambda: embedded_db.other.insert_one({"user_id": "b"}))
    done_when_other_was = await progress(coll, kind)
    await large
    assert finished == ["other", "large"]
    assert done_when_other_was < await progress(coll, kind)


async def _started(coll: Any, kind: str) -> bool:
    return await progress(coll, kind) > 0


async def test_a_write_past_its_deadline_stops_between_slices(embedded_db: Any) -> None:
    coll = embedded_db.c
    await coll.insert_many([{"_id": i, "user_id": "a"} for i in range(2_000)])
    deadline.set(time.monotonic() + 0.3)
    with pytest.raises(ExecutionTimeout):
        await coll.update_many({"user_id": "a"}, [{"$set": {"v": HEAVY}}])
    deadline.set(None)
    done = await coll.count_documents({"v": {"$exists": True}})
    assert 0 < done < 2_000  # slices before the deadline stay, as in MongoDB
    await asyncio.sleep(0.2)
    assert await coll.count_documents({"v": {"$exists": True}}) == done  # nothing goes on


async def test_a_cancelled_write_starts_no_more_slices(embedded_db: Any) -> None:
    coll = embedded_db.c
    await coll.insert_many([{"_id": i, "user_id": "a"} for i in range(2_000)])
    write = asyncio.ensure_future(coll.update_many({"user_id": "a"}, [{"$set": {"v": HEAVY}}]))
    await until(lambda: _started(coll, "update_many"))
    write.cancel()
    await asyncio.sleep(0.1)  # the slice under way ends
    done = await coll.count_documents({"v": {"$exists": True}})
    await asyncio.sleep(0.2)
    assert await coll.count_documents({"v": {"$exists": True}}) == done < 2_000


async def test_a_later_slice_changes_only_what_still_matches(embedded_db: Any) -> None:
    coll = embedded_db.c
    await coll.insert_many([{"_id": i, "k": 1} for i in range(4)])
    info = embedded_db.client.engine.catalog.get(embedded_db.name, "c")
    rids = [rid for (rid,) in embedded_db.client.engine._writer_conn.execute(
        f"SELECT rid FROM {info.table} ORDER BY rid"
    )]  # fmt: skip
    await coll.update_one({"_id": 1}, {"$set": {"k": 2}})  # no longer matches
    await coll.delete_one({"_id": 2})  # gone
    many = Many(embedded_db.name, "c", {"k": 1}, {"$set": {"seen": True}})
    job = functools.partial(next_slice, many=many, rids=rids, start=0)
    done = await embedded_db.client.engine.write(job)
    assert (done.n, done.modified, done.next) == (2, 2, 4)
    assert await coll.distinct("_id", {"seen": True}) == [0, 3]


async def test_an_upsert_whose_matching_took_its_slice_still_upserts(
    embedded_db: Any, one_per_slice: None
) -> None:
    coll = embedded_db.c
    await coll.insert_many([{"k": i} for i in range(5)])
    result = await coll.update_many({"k": 99}, {"$set": {"x": 1}}, upsert=True)
    assert (result.matched_count, result.modified_count) == (0, 0)
    assert await coll.find_one({"_id": result.upserted_id}, {"_id": 0}) == {"k": 99, "x": 1}


async def test_sliced_inserts_keep_ordered_and_unordered_errors(
    embedded_db: Any, one_per_slice: None
) -> None:
    coll = embedded_db.c
    docs = [{"_id": i} for i in (0, 1, 2, 1, 3, 2, 4)]
    with pytest.raises(BulkWriteError) as ordered:
        await coll.insert_many([dict(d) for d in docs])
    assert ordered.value.details["nInserted"] == 3
    assert [e["index"] for e in ordered.value.details["writeErrors"]] == [3]
    await coll.drop()
    with pytest.raises(BulkWriteError) as unordered:
        await coll.insert_many([dict(d) for d in docs], ordered=False)
    assert unordered.value.details["nInserted"] == 5
    assert [e["index"] for e in unordered.value.details["writeErrors"]] == [3, 5]
    assert await coll.distinct("_id") == [0, 1, 2, 3, 4]


# Slicing changes nothing a caller sees: the same operations on two stores, one whose
# slices hand over after every document (or request, or pair of inserts) and one that
# runs each write as a single job, give the same results, errors and documents.

FIELDS = ["a", "b"]
value = st.one_of(st.integers(0, 2), st.sampled_from([-1, "x", None]))
# `a` always there, often equal across documents: the first slice then matches several.
document = st.fixed_dictionaries(
    {"_id": st.integers(0, 12), "a": st.one_of(st.integers(0, 2), value)}, optional={"b": value}
)
condition = st.one_of(
    value,
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$lte", "$ne"]), st.integers(-2, 3)),
    st.just({"$exists": True}),
)
filters = st.one_of(
    st.just({}),
    st.builds(lambda v: {"a": v}, st.integers(0, 2)),  # the index decides it
    st.dictionaries(st.sampled_from(FIELDS), condition, min_size=1, max_size=2),
    st.builds(lambda i: {"_id": i}, st.integers(0, 12)),
)
changes = st.one_of(
    st.builds(lambda f, v: {"$set": {f: v}}, st.sampled_from(FIELDS), value),
    st.builds(lambda f: {"$inc": {f: 1}}, st.sampled_from(FIELDS)),  # fails on "x"
    st.builds(lambda f: {"$unset": {f: ""}}, st.sampled_from(FIELDS)),
    st.just([{"$set": {"c": {"$add": [{"$ifNull": ["$a", 0]}, 1]}}}]),
)
requests = st.one_of(
    st.builds(lambda d: InsertOne(d), document),
    st.builds(UpdateOne, filters, changes, upsert=st.booleans()),
    st.builds(UpdateMany, filters, changes, upsert=st.booleans()),
    st.builds(ReplaceOne, filters, st.fixed_dictionaries({}, optional={"a": value})),
    st.builds(DeleteOne, filters),
    st.builds(DeleteMany, filters),
)
operations = st.one_of(
    st.tuples(st.just("update_many"), filters, changes, st.booleans()),
    st.tuples(st.just("delete_many"), filters),
    st.tuples(st.just("insert_many"), st.lists(document, min_size=1, max_size=8), st.booleans()),
    st.tuples(st.just("bulk_write"), st.lists(requests, min_size=1, max_size=8), st.booleans()),
)


async def apply(coll: Any, operation: tuple[Any, ...]) -> Any:
    """What a caller sees of `operation`: its result, or its error."""
    kind, *args = operation
    try:
        if kind == "update_many":
            filter, change, upsert = args
            result = await coll.update_many(filter, change, upsert=upsert)
            return (result.matched_count, result.modified_count, result.upserted_id)
        if kind == "delete_many":
            return (await coll.delete_many(args[0])).deleted_count
        if kind == "insert_many":
            docs, ordered = args
            return (await coll.insert_many([dict(d) for d in docs], ordered=ordered)).inserted_ids
        ops, ordered = args
        return (await coll.bulk_write(_fresh(ops), ordered=ordered)).bulk_api_result
    except BulkWriteError as exc:
        return ("error", _without_generated_ids(exc.details))
    except PyMongoError as exc:
        return ("error", type(exc).__name__, exc.code, str(exc))


def _fresh(ops: list[Any]) -> list[Any]:
    """Copies of the requests: inserting gives a document an `_id` in place."""
    return [InsertOne(dict(op._doc)) if isinstance(op, InsertOne) else op for op in ops]


def _without_generated_ids(details: dict[str, Any]) -> dict[str, Any]:
    out = dict(details)
    out["upserted"] = [u for u in details["upserted"] if not isinstance(u["_id"], ObjectId)]
    for error in out["writeErrors"]:
        if isinstance(error.get("op"), dict):
            error["op"] = {k: v for k, v in error["op"].items() if k != "_id"}
    return out


def _comparable(outcome: Any) -> Any:
    """An outcome with upserted ObjectIds, which differ between stores, left out."""
    if isinstance(outcome, tuple) and len(outcome) == 3 and isinstance(outcome[2], ObjectId):
        return outcome[:2]
    if isinstance(outcome, dict) and "upserted" in outcome:
        return _without_generated_ids({"writeErrors": [], **outcome})
    if isinstance(outcome, list):
        return [i for i in outcome if not isinstance(i, ObjectId)]
    return outcome


@pytest.fixture(scope="module")
def stores() -> Any:
    sliced, whole = open_client("sqlite://:memory:"), open_client("sqlite://:memory:")
    yield sliced, whole
    asyncio.run(sliced.close())
    asyncio.run(whole.close())


counter = itertools.count()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(document, max_size=10, unique_by=lambda d: d["_id"]),
    st.booleans(),
    st.lists(operations, min_size=1, max_size=3),
)
def test_slicing_changes_no_result(
    stores: Any, monkeypatch: pytest.MonkeyPatch, docs: Any, unique: bool, ops: Any
) -> None:
    name = f"c{next(counter)}"

    async def run(client: Any, seconds: float, chunk: int) -> list[Any]:
        monkeypatch.setattr(slices, "SLICE_SECONDS", seconds)
        monkeypatch.setattr(slices, "INSERT_CHUNK", chunk)
        coll = client["p"][name]
        # Equalities on `a` are matched by the index alone, in one statement: then the
        # first slice matches everything and hands over part way through the changes.
        await coll.create_index("a")
        if unique:
            await coll.create_index("b", unique=True, sparse=True)
        seen = [await apply(coll, ("insert_many", docs, False))] if docs else []
        for operation in ops:
            outcome = await apply(coll, operation)
            failed = isinstance(outcome, tuple) and outcome[:1] == ("error",)
            if failed and _many_documents(operation):
                # A write of many documents keeps the slices it finished before an error,
                # as MongoDB keeps the documents it changed: the stores part ways here,
                # and a bulk write's later requests may see different documents.
                seen.append("failed" if operation[0] == "bulk_write" else _comparable(outcome))
                break
            contents = await coll.find({}, {"_id": 1, "a": 1, "b": 1, "c": 1}).to_list(None)
            seen.append((_comparable(outcome), _ids_or_all(contents)))
        await coll.drop()
        return seen

    sliced = asyncio.run(run(stores[0], 0, 2))
    whole = asyncio.run(run(stores[1], 1e9, 10**9))
    assert sliced == whole


def _many_documents(operation: tuple[Any, ...]) -> bool:
    """Whether `operation` changes many documents in one request (per-request atomicity
    keeps every other write identical even when it fails)."""
    kind = operation[0]
    if kind == "bulk_write":
        return any(isinstance(op, UpdateMany | DeleteMany) for op in operation[1])
    return kind in ("update_many", "delete_many")


def _ids_or_all(contents: list[dict[str, Any]]) -> list[Any]:
    """The documents, those with a generated `_id` (upserts) without it."""
    return sorted(
        repr({k: v for k, v in d.items() if not isinstance(v, ObjectId)}) for d in contents
    )
