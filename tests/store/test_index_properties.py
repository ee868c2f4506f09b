"""Property tests: with or without indexes, queries return what a plain Python filter does."""

import asyncio
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.store import open_client
from tessera.store.query.filters import compile_filter
from tessera.store.query.sorting import sort_key

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([1.0, 2.5, -0.5]),
    st.sampled_from(["", "a", "b", "ab"]),
)
value = st.one_of(
    scalar,
    st.lists(scalar, max_size=3),
    st.fixed_dictionaries({"c": scalar}),
    st.lists(st.fixed_dictionaries({"c": scalar}), max_size=2),
)
# `b` never holds an array, so the compound index over a and b never meets parallel arrays
# (which MongoDB refuses to index).
document = st.fixed_dictionaries(
    {},
    optional={"a": value, "b": st.one_of(scalar, st.fixed_dictionaries({"c": scalar})), "d": value},
)
FIELDS = ["a", "b", "d.c"]
operand = st.one_of(scalar, st.fixed_dictionaries({"c": scalar}))


def condition() -> st.SearchStrategy:
    plain = operand
    compare = st.builds(
        lambda op, v: {op: v}, st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"]), scalar
    )
    both = st.builds(lambda lo, hi: {"$gte": lo, "$lt": hi}, scalar, scalar)
    within = st.builds(lambda vs: {"$in": vs}, st.lists(scalar, max_size=3))
    return st.one_of(plain, compare, both, within)


query = st.dictionaries(st.sampled_from(FIELDS), condition(), max_size=3)
filters = st.one_of(query, st.builds(lambda a, b: {"$and": [a, b]}, query, query))
sorts = st.one_of(
    st.none(), st.tuples(st.sampled_from(FIELDS), st.sampled_from([1, -1])).map(lambda t: [t])
)
INDEXES = [["a"], [("b", -1)], [("a", 1), ("b", 1)], [("b", 1), ("a", -1)], ["d.c"]]


@pytest.fixture(scope="module")
def client():
    client = open_client("sqlite://:memory:")
    yield client
    asyncio.run(client.close())


counter = itertools.count()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(document, max_size=12), filters, sorts, st.integers(0, 4))
def test_indexes_never_change_results(client, docs, filter, sort, limit):
    n = next(counter)
    plain = client["p"][f"plain{n}"]
    indexed = client["p"][f"indexed{n}"]
    rows = [{"_id": i, **doc} for i, doc in enumerate(docs)]
    expected_ids = sorted(d["_id"] for d in rows if compile_filter(filter)(d))

    async def run() -> None:
        for spec in INDEXES:
            await indexed.create_index(spec)
        if rows:
            await plain.insert_many([dict(r) for r in rows])
            await indexed.insert_many([dict(r) for r in rows])
        for coll in (plain, indexed):
            found = await coll.find(filter).to_list(None)
            assert sorted(d["_id"] for d in found) == expected_ids
            assert await coll.count_documents(filter) == len(expected_ids)
        if sort:
            total = [*sort, ("_id", 1)]
            key = sort_key(total)
            matching = [d for d in rows if compile_filter(filter)(d)]
            want = [d["_id"] for d in sorted(matching, key=key)][: limit or None]
            for coll in (plain, indexed):
                got = await coll.find(filter).sort(total).limit(limit).to_list(None)
                assert [d["_id"] for d in got] == want, (coll.name, sort)
        await plain.drop()
        await indexed.drop()

    asyncio.run(run())
