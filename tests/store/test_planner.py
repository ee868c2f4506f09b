"""The planner picks an index for equality + range + sort, and falls back to a scan."""

import pytest
from bson.int64 import Int64
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.store import open_client
from tessera.store.engine import keys
from tessera.store.engine.planner import id_lookup
from tessera.store.engine.reads import residual_match
from tessera.store.query.filters import compile_filter


@pytest.fixture
async def coll(tmp_path):
    client = open_client(str(tmp_path / "plan.db"))
    coll = client["app"]["items"]
    await coll.insert_many(
        [
            {"user_id": f"u{i % 5}", "created_at": i, "status": "open", "tags": ["x"]}
            for i in range(50)
        ]
    )
    await coll.create_index([("user_id", 1), ("created_at", -1)])
    yield coll
    await client.close()


async def winning(cursor) -> dict:
    return (await cursor.explain())["queryPlanner"]["winningPlan"]


async def test_per_user_query_reads_the_compound_index_in_order(coll):
    cursor = coll.find({"user_id": "u1"}).sort("created_at", -1).limit(3)
    plan = await winning(cursor)
    assert plan["indexName"] == "user_id_1_created_at_-1"
    assert plan["providesSort"] is True
    assert plan["direction"] == "forward"
    assert [d["created_at"] for d in await cursor.to_list(None)] == [46, 41, 36]


async def test_reverse_sort_reads_backwards(coll):
    cursor = coll.find({"user_id": "u1"}).sort("created_at", 1).limit(2)
    plan = await winning(cursor)
    assert plan["direction"] == "backward" and plan["providesSort"] is True
    assert [d["created_at"] for d in await cursor.to_list(None)] == [1, 6]


async def test_equality_then_range(coll):
    cursor = coll.find({"user_id": "u2", "created_at": {"$gte": 10, "$lt": 30}}).sort(
        "created_at", -1
    )
    plan = await winning(cursor)
    assert plan["indexName"] == "user_id_1_created_at_-1" and plan["providesSort"]
    assert [d["created_at"] for d in await cursor.to_list(None)] == [27, 22, 17, 12]


async def test_in_uses_several_ranges_and_sorts_in_memory(coll):
    cursor = coll.find({"user_id": {"$in": ["u1", "u2"]}}).sort("created_at", -1).limit(3)
    plan = await winning(cursor)
    assert plan["ranges"] == 2 and plan["providesSort"] is False
    assert [d["created_at"] for d in await cursor.to_list(None)] == [47, 46, 42]


async def test_unindexed_field_is_a_scan(coll):
    cursor = coll.find({"status": "open"})
    assert (await winning(cursor))["stage"] == "COLLSCAN"
    assert len(await cursor.to_list(None)) == 50


async def test_id_equality_is_a_point_read(coll):
    doc = await coll.find_one({"user_id": "u3"})
    plan = await winning(coll.find({"_id": doc["_id"]}))
    assert plan["indexName"] == "_id_"


async def test_multikey_index_is_not_used_for_sort(coll):
    await coll.create_index("tags")
    plan = await winning(coll.find({}).sort("tags", 1))
    assert plan["stage"] == "COLLSCAN" or plan["indexName"] != "tags_1"
    plan = await winning(coll.find({"tags": "x"}))
    assert plan["indexName"] == "tags_1" and plan["isMultiKey"] is True


async def test_sparse_index_is_not_used_for_a_sort_alone(coll):
    await coll.create_index("maybe", sparse=True)
    await coll.insert_one({"maybe": 1})
    plan = await winning(coll.find({}).sort("maybe", 1))
    assert plan["stage"] == "COLLSCAN"
    docs = await coll.find({}).sort("maybe", 1).to_list(None)
    assert len(docs) == 51


async def test_null_equality_is_left_to_the_matcher(coll):
    await coll.insert_one({"user_id": None, "created_at": 0})
    await coll.insert_one({"created_at": 0})
    assert await coll.count_documents({"user_id": None}) == 2


# A filter of plain equalities is planned once per shape; later queries bind their values.


async def test_queries_of_one_shape_each_read_their_own_values(coll):
    for user in ("u1", "u3", "u1", "nobody"):
        found = await coll.find({"user_id": user}).sort("created_at", -1).to_list(None)
        expected = [i for i in range(49, -1, -1) if f"u{i % 5}" == user]
        assert [d["created_at"] for d in found] == expected
    assert await coll.count_documents({"user_id": "u2", "status": "open"}) == 10
    assert await coll.count_documents({"user_id": "u2", "status": "done"}) == 0
    assert await coll.find_one({"user_id": "u4", "created_at": 9}) is not None
    assert await coll.find_one({"user_id": "u4", "created_at": 8}) is None


async def test_an_index_made_after_a_shape_was_planned_is_used(coll):
    assert (await winning(coll.find({"status": "open"})))["stage"] == "COLLSCAN"
    await coll.create_index("status")
    plan = await winning(coll.find({"status": "open"}))
    assert plan["indexName"] == "status_1"
    assert await coll.count_documents({"status": "open"}) == 50


async def test_an_index_that_becomes_multikey_is_planned_again(coll):
    await coll.create_index([("user_id", 1), ("score", 1)])
    query = {"user_id": "u1"}
    assert [d["created_at"] for d in await coll.find(query).sort("score", 1).to_list(None)]
    assert (await winning(coll.find(query).sort("score", 1)))["providesSort"] is True
    await coll.insert_one({"user_id": "u1", "created_at": 99, "score": [5, -5]})
    plan = await winning(coll.find(query).sort("score", 1))
    assert plan["providesSort"] is False  # sorting a multikey index's order is not the sort
    found = await coll.find(query).sort("score", 1).to_list(None)
    assert [d["created_at"] for d in found][-1] == 99  # a missing score sorts as null, first
    assert len(found) == 11


async def test_values_of_other_kinds_are_planned_on_their_own(coll):
    await coll.insert_many([{"user_id": None, "created_at": 100}, {"created_at": 101}])
    assert await coll.count_documents({"user_id": "u1"}) == 10
    # null matches a missing field too: not an equality the index decides
    assert await coll.count_documents({"user_id": None}) == 2
    assert await coll.count_documents({"user_id": ["u1"]}) == 0
    assert await coll.count_documents({"created_at": 1.0}) == 1
    assert await coll.count_documents({"created_at": 1}) == 1


async def test_many_shapes_on_one_collection_stay_correct(coll):
    for n in range(300):  # past the number of shapes remembered
        doc = {f"field{n}": n, "user_id": "u1"}
        await coll.insert_one(doc)
        assert await coll.count_documents({f"field{n}": n, "user_id": "u1"}) == 1
    assert await coll.count_documents({"user_id": "u1"}) == 310


async def test_writes_plan_again_after_an_index_is_dropped_and_made_anew(tmp_path):
    client = open_client(str(tmp_path / "again.db"))
    try:
        coll = client["app"]["items"]
        await coll.insert_many([{"a": a, "b": b} for a, b in ["xy", "xy", "xy", "yx", "yx", "yx"]])
        await coll.create_index("a", name="ix")
        await coll.delete_many({"a": "nothing"})  # the writer plans this shape on "ix"
        await coll.drop_index("ix")
        await coll.create_index("b", name="ix")  # same name, same table id, other field
        assert (await coll.delete_many({"a": "x"})).deleted_count == 3
        assert await coll.count_documents({"a": "y"}) == 3
        await coll.update_many({"b": "nothing"}, {"$set": {"c": 1}})
        await coll.insert_one({"b": ["x", "z"], "a": "z"})  # "ix" becomes multikey
        assert (await coll.update_many({"b": "x"}, {"$set": {"c": 1}})).modified_count == 4
    finally:
        await client.close()


# `{"_id": i, "user_id": u}`, as isolation sends it: one primary-key lookup, the other
# plain equalities checked on the one document found.


async def test_scoped_point_operations_find_only_the_owners_document(coll):
    doc = await coll.find_one({"user_id": "u3"})
    oid = doc["_id"]
    assert await coll.find_one({"user_id": "u3", "_id": oid}) == doc
    assert await coll.find_one({"user_id": "u2", "_id": oid}) is None
    assert await coll.find_one({"_id": oid, "user_id": "u3", "status": "done"}) is None
    assert await coll.find({"user_id": "u3", "_id": oid}).to_list(None) == [doc]
    assert await coll.find({"user_id": "u3", "_id": oid}).skip(1).to_list(None) == []
    assert await coll.find({"user_id": "u4", "_id": oid}).to_list(None) == []
    assert await coll.count_documents({"user_id": "u3", "_id": oid}) == 1
    result = await coll.update_one({"user_id": "u2", "_id": oid}, {"$set": {"status": "x"}})
    assert (result.matched_count, result.modified_count) == (0, 0)
    result = await coll.update_one({"user_id": "u3", "_id": oid}, {"$set": {"status": "x"}})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert (await coll.delete_one({"user_id": "u1", "_id": oid})).deleted_count == 0
    assert (await coll.delete_one({"user_id": "u3", "_id": oid})).deleted_count == 1
    assert await coll.find_one({"_id": oid}) is None


@pytest.mark.parametrize(
    ("stored", "wanted", "matches"),
    [
        (["u1", "u2"], "u1", True),  # an array matches by element
        (["u2"], "u1", False),
        (1.0, 1, True),  # numbers compare by value across types
        (Int64(7), 7, True),
        (True, 1, False),  # a boolean is no number
        (1, True, False),
        ("1", 1, False),
        (None, "u1", False),
    ],
)
async def test_scoped_point_reads_compare_as_mongodb_does(tmp_path, stored, wanted, matches):
    client = open_client(str(tmp_path / "point.db"))
    coll = client["app"]["items"]
    await coll.insert_one({"_id": 1, "owner": stored})
    assert (await coll.find_one({"_id": 1, "owner": wanted}) is not None) is matches
    assert (len(await coll.find({"owner": wanted, "_id": 1}).to_list(None)) == 1) is matches
    result = await coll.update_one({"owner": wanted, "_id": 1}, {"$set": {"seen": True}})
    assert result.matched_count == int(matches)
    await client.close()


point_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([1.0, -1.5, Int64(1), Int64(2)]),
    st.sampled_from(["", "a", "b"]),
)
stored_value = st.one_of(point_value, st.lists(point_value, max_size=3))
clause_value = st.one_of(st.booleans(), st.integers(-2, 2), st.sampled_from(["", "a", "b"]))


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries({}, optional={"a": stored_value, "b": stored_value}),
    st.dictionaries(st.sampled_from(["a", "b"]), clause_value, max_size=2),
    st.booleans(),
)
def test_id_lookups_match_what_the_matcher_matches(doc, clauses, id_first):
    stored = {"_id": 5, **doc}
    filter = {"_id": 5, **clauses} if id_first else {**clauses, "_id": 5}
    lookup = id_lookup(filter)
    assert lookup is not None and lookup[0] == keys.encode_value(5)
    assert residual_match(stored, lookup[1], filter) is compile_filter(filter)(stored)


@pytest.mark.parametrize(
    "filter",
    [
        {"_id": 1, "a.b": 1},  # a path
        {"_id": 1, "a": {"$gt": 1}},  # an operator
        {"_id": 1, "a": None},  # null also matches a missing field
        {"_id": 1, "a": 1.5},  # a float is left to the matcher
        {"_id": 1, "$or": [{"a": 1}]},
        {"_id": {"$in": [1]}, "a": 1},
        {"_id": 1.5, "a": 1},
        {"a": 1},
    ],
)
def test_other_filters_are_no_id_lookup(filter):
    assert id_lookup(filter) is None
