"""The indexes the runtime makes for plugins: ``user_id``, and ``user_id`` with the sort
keys of a scoped sorted find, under the rule in docs/isolation.md."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from tessera.isolation import indexes
from tessera.isolation.errors import IsolationError
from tessera.services.database import bound, db
from tessera.store.engine.ttl import TTLMonitor
from tessera.store.query.sorting import sort_key
from tests.isolation.conftest import caller

ALICE, BOB = "alice", "bob"
BASE = dt.datetime(2024, 1, 1)


@pytest.fixture
async def raw(bind):
    """The app database without isolation: 60 notes of alice, 40 of bob, with ties,
    missing dates and values of other types among them."""
    database = bind()
    notes = []
    for i in range(100):
        when: object = BASE + dt.timedelta(minutes=i // 3)
        if i % 17 == 0:
            when = None
        elif i % 23 == 0:
            when = f"text {i}"
        note = {"_id": i, "user_id": ALICE if i % 5 < 3 else BOB, "created_at": when, "n": i % 4}
        if i % 19 == 0:
            del note["created_at"]
        notes.append(note)
    await database["notes"].insert_many(notes)
    return database


async def names(raw, collection="notes") -> set[str]:
    return set(await raw[collection].index_information())


def settled(raw):
    """Wait for the indexes building in the background."""
    return bound().indexes.settled()


async def sorted_in_python(raw, user, spec, skip=0, limit=0):
    docs = await raw["notes"].find({"user_id": user}).to_list(None)
    ordered = sorted(docs, key=sort_key(spec))  # stable: ties stay in insertion order
    return ordered[skip : skip + limit if limit else None]


async def test_a_scoped_sort_gets_an_index_that_reads_in_order(raw):
    spec = [("created_at", -1), ("_id", 1)]
    with caller(ALICE):
        before = await db["notes"].find({"user_id": ALICE}).sort(spec).limit(20).to_list(None)
    await settled(raw)
    assert "user_id_1_created_at_-1__id_1" in await names(raw)
    plan = await raw["notes"].find({"user_id": ALICE}).sort(spec).explain()
    assert plan["queryPlanner"]["winningPlan"]["providesSort"] is True
    for skip, limit in [(0, 20), (5, 7), (0, 0), (55, 10)]:
        with caller(ALICE):
            cursor = db["notes"].find({"user_id": ALICE}).sort(spec).skip(skip).limit(limit)
            got = await cursor.to_list(None)
        assert got == await sorted_in_python(raw, ALICE, spec, skip, limit)
    assert before == await sorted_in_python(raw, ALICE, spec, 0, 20)


async def test_one_field_and_its_reverse_share_one_index(raw):
    """Ties (three notes a minute) keep their order when the index arrives, for the sort
    that made it; read backwards, ties come last row first, as MongoDB's index scans."""
    with caller(BOB):
        before = await db["notes"].find({"user_id": BOB}).sort("created_at", -1).to_list(None)
        await settled(raw)
        after = await db["notes"].find({"user_id": BOB}).sort("created_at", -1).to_list(None)
        await db["notes"].find({"user_id": BOB}, sort=[("created_at", 1)]).to_list(20)
        await settled(raw)
        ascending = await db["notes"].find({"user_id": BOB}).sort("created_at", 1).to_list(None)
    assert await names(raw) == {"_id_", "user_id_1", "user_id_1_created_at_-1"}
    assert after == before == await sorted_in_python(raw, BOB, [("created_at", -1)])
    key = sort_key([("created_at", 1)])
    assert [key(d) for d in ascending] == sorted(key(d) for d in before)


async def test_an_index_the_plugin_made_is_used_as_it_is(raw):
    await raw["notes"].create_index([("user_id", -1), ("created_at", 1), ("n", 1)])
    with caller(ALICE):
        await db["notes"].find({"user_id": ALICE}).sort("created_at", -1).to_list(20)
    await settled(raw)
    assert "user_id_1_created_at_-1" not in await names(raw)


@pytest.mark.parametrize(
    "sort",
    [
        [("user_id", 1)],
        [("a", 1), ("b", 1), ("c", 1), ("d", 1)],
        [("$natural", 1)],
    ],
)
async def test_sorts_outside_the_rule_get_no_index(raw, sort):
    with caller(ALICE):
        await db["notes"].find({"user_id": ALICE}).sort(sort).to_list(5)
    await settled(raw)
    assert await names(raw) == {"_id_", "user_id_1"}


async def test_shared_and_unsorted_reads_get_no_index(bind, raw):
    with caller(ALICE):
        await db["notes"].find({"user_id": ALICE}).to_list(5)
    await settled(raw)
    assert await names(raw) == {"_id_", "user_id_1"}
    bind(shared_collections=["board"])
    await raw["board"].insert_many([{"n": i} for i in range(5)])
    with caller(ALICE):
        await db["board"].find({}).sort("n", 1).to_list(5)
        await db["board"].find({"user_id": ALICE}).sort("n", 1).to_list(5)
    await settled(raw)
    assert await names(raw, "board") == {"_id_"}


async def test_large_collections_and_many_sorts_are_left_to_the_plugin(raw, monkeypatch, caplog):
    caplog.set_level(logging.INFO, "tessera.isolation")
    monkeypatch.setattr(indexes, "MAX_SORT_INDEXES", 2)
    with caller(ALICE):
        for field in ("created_at", "n", "other"):
            await db["notes"].find({"user_id": ALICE}).sort(field, 1).to_list(5)
            await settled(raw)
    assert await names(raw) == {"_id_", "user_id_1", "user_id_1_created_at_1", "user_id_1_n_1"}
    assert "create_index([('user_id', 1), ('other', 1)])" in caplog.text
    monkeypatch.setattr(indexes, "MAX_SORT_BUILD_DOCUMENTS", 50)
    with caller(ALICE):
        await db["big"].insert_many([{"k": i} for i in range(60)])
        assert len(await db["big"].find({"user_id": ALICE}).sort("k", -1).to_list(None)) == 60
    await settled(raw)
    assert await names(raw, "big") == {"_id_", "user_id_1"}
    assert "at 60 documents the runtime leaves the index to you" in caplog.text


async def test_a_plugin_makes_a_ttl_index_on_its_per_user_collection(raw):
    """A TTL index follows the index rules of per-user collections: allowed as any
    non-unique index, refused unique (it cannot lead with user_id: TTL is one field)."""
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    await raw["sessions"].insert_many(
        [{"user_id": ALICE, "at": old}, {"user_id": BOB, "at": old}, {"user_id": BOB}]
    )
    with caller(ALICE):
        with pytest.raises(IsolationError):
            await db["sessions"].create_index("at", expireAfterSeconds=60, unique=True)
        await db["sessions"].create_index("at", expireAfterSeconds=60)
    assert await TTLMonitor(bound().client).run_once() == 2
    assert await raw["sessions"].find({}, {"_id": 0}).to_list(None) == [{"user_id": BOB}]
