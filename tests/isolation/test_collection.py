"""Scoped collections against the embedded store: what a plugin call may read and write."""

from __future__ import annotations

import logging

import pytest
from pymongo import InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import OperationFailure

from tessera.isolation.errors import IsolationError
from tessera.services.database import NotBound, db
from tessera.services.recipients import recipient_app
from tests.isolation.conftest import caller

ALICE, BOB = "alice", "bob"


@pytest.fixture
async def raw(bind):
    """The app database without isolation, seeded with one note of alice and one of bob."""
    database = bind()
    await database["notes"].insert_many(
        [{"_id": 1, "user_id": ALICE, "n": 1}, {"_id": 2, "user_id": BOB, "n": 2}]
    )
    return database


async def owners(raw, name="notes"):
    return sorted((d["_id"], d.get("user_id")) for d in await raw[name].find({}).to_list(None))


async def test_reads_pinned_to_the_caller_see_only_their_documents(raw):
    with caller(ALICE):
        notes = db["notes"]
        assert await notes.find({"user_id": ALICE}).to_list(None) == [
            {"_id": 1, "user_id": ALICE, "n": 1}
        ]
        assert await notes.find_one({"$and": [{"user_id": ALICE}, {"_id": 2}]}) is None
        assert await notes.count_documents({"user_id": {"$in": [ALICE]}}) == 1
        assert await notes.distinct("n", {"user_id": {"$eq": ALICE}}) == [1]
        found = [d["_id"] async for d in notes.find({"user_id": ALICE}).sort("n", -1).limit(5)]
        assert found == [1]


async def test_streamed_cursors_stay_on_the_callers_documents(raw):
    """Batches after the first, a spilled sort and a streamed pipeline read alice's only."""
    await raw["notes"].insert_many(
        [{"_id": 10 + i, "user_id": ALICE if i % 2 else BOB, "n": i} for i in range(40)]
    )
    mine = [1, *(10 + i for i in range(1, 40, 2))]
    with caller(ALICE):
        notes = db["notes"]
        cursor = notes.find({"user_id": ALICE}).sort("_id", 1).batch_size(3)
        assert [d["_id"] async for d in cursor] == mine
        cursor = notes.find({"user_id": ALICE}).sort("n", 1).allow_disk_use(True).batch_size(4)
        assert sorted([d["_id"] async for d in cursor]) == mine
        pipeline = [{"$match": {"user_id": ALICE}}, {"$sort": {"_id": 1}}, {"$set": {"k": 1}}]
        found = notes.aggregate(pipeline, batchSize=2, allowDiskUse=True)
        assert [d["_id"] async for d in found] == mine


@pytest.mark.parametrize(
    ("call", "operation"),
    [
        (lambda c: c.find({}).to_list(None), "find"),
        (lambda c: c.find().to_list(None), "find"),
        (lambda c: c.find_one({"_id": 2}), "find_one"),
        (lambda c: c.find_one(2), "find_one"),
        (lambda c: c.count_documents({}), "count_documents"),
        (lambda c: c.distinct("n"), "distinct"),
        (lambda c: c.estimated_document_count(), "estimated_document_count"),
        (lambda c: c.find({"$or": [{"user_id": ALICE}, {"_id": 2}]}).to_list(None), "find"),
        (lambda c: c.find({"user_id": {"$ne": ALICE}}).to_list(None), "find"),
        (lambda c: c.find({"user_id": {"$in": [ALICE, BOB]}}).to_list(None), "find"),
        (lambda c: c.find({"$expr": {"$eq": [1, 1]}}).to_list(None), "find"),
        (lambda c: c.find({"user_id": ALICE, "$where": "true"}).to_list(None), "find"),
        (
            lambda c: c.find({"user_id": ALICE}, collation={"locale": "en", "strength": 1}),
            "find",
        ),
        (lambda c: c.aggregate([{"$match": {}}]).to_list(None), "aggregate"),
        (lambda c: c.aggregate([]).to_list(None), "aggregate"),
    ],
)
async def test_unscoped_reads_are_refused_before_reaching_the_store(raw, call, operation):
    with caller(ALICE), pytest.raises(IsolationError) as refused:
        await call(db["notes"])
    message = str(refused.value)
    assert message.startswith(f"db['notes'].{operation}(): ")
    assert "docs/isolation.md" in message
    assert isinstance(refused.value, OperationFailure)
    assert refused.value.code == 13


async def test_the_error_names_the_collection_the_operation_and_the_fix(raw):
    with caller(ALICE), pytest.raises(IsolationError) as refused:
        db["notes"].find({"title": "x"})
    assert str(refused.value) == (
        "db['notes'].find(): the filter must include {'user_id': user_id} "
        "(isolation is enforced; see docs/isolation.md)"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.update_one({"_id": 2}, {"$set": {"n": 9}}),
        lambda c: c.update_many({}, {"$set": {"n": 9}}),
        lambda c: c.replace_one({"_id": 2}, {"n": 9}),
        lambda c: c.delete_one({"_id": 2}),
        lambda c: c.delete_many({"user_id": {"$ne": ALICE}}),
        lambda c: c.find_one_and_update({"_id": 2}, {"$set": {"n": 9}}),
        lambda c: c.find_one_and_replace({"_id": 2}, {"n": 9}),
        lambda c: c.find_one_and_delete({"_id": 2}),
        lambda c: c.insert_one({"_id": 3, "user_id": BOB}),
        lambda c: c.insert_many([{"_id": 3}, {"_id": 4, "user_id": BOB}]),
        lambda c: c.update_one({"user_id": ALICE}, {"$set": {"user_id": BOB}}),
        lambda c: c.update_one({"user_id": ALICE}, {"$unset": {"user_id": ""}}),
        lambda c: c.update_one({"user_id": ALICE}, {"$rename": {"user_id": "owner"}}),
        lambda c: c.update_one({"user_id": ALICE}, {"$rename": {"n": "user_id"}}),
        lambda c: c.update_one({"user_id": ALICE}, [{"$replaceWith": {"user_id": BOB}}]),
        lambda c: c.update_one({"user_id": ALICE}, [{"$set": {"user_id": BOB}}]),
        lambda c: c.replace_one({"user_id": ALICE}, {"user_id": BOB, "n": 1}),
        lambda c: c.update_one({"user_id": BOB}, {"$set": {"n": 1}}, upsert=True),
        lambda c: c.update_one(
            {"user_id": {"$in": [ALICE]}, "_id": 7}, {"$set": {"n": 1}}, upsert=True
        ),
        lambda c: c.update_one(
            {"user_id": ALICE, "_id": 7}, {"$setOnInsert": {"user_id": BOB}}, upsert=True
        ),
        lambda c: c.find_one_and_update(
            {"_id": 7, "user_id": ALICE}, {"$set": {"user_id": BOB}}, upsert=True
        ),
        lambda c: c.bulk_write([InsertOne({"_id": 5}), UpdateOne({"_id": 2}, {"$set": {"n": 0}})]),
        lambda c: c.bulk_write([ReplaceOne({"user_id": ALICE}, {"user_id": BOB})]),
        lambda c: c.drop(),
        lambda c: c.rename("renamed"),
        lambda c: c.database.drop_collection("notes"),
    ],
)
async def test_writes_that_could_touch_another_user_change_nothing(raw, call):
    before = await owners(raw)
    with caller(ALICE), pytest.raises(IsolationError):
        await call(db["notes"])
    assert await owners(raw) == before
    assert await raw["notes"].find_one({"_id": 1}) == {"_id": 1, "user_id": ALICE, "n": 1}


async def test_inserts_get_the_callers_user_id(raw):
    with caller(ALICE):
        doc = {"_id": 3, "title": "t"}
        await db["notes"].insert_one(doc)
        await db["notes"].insert_many([{"_id": 4}, {"_id": 5, "user_id": ALICE}])
        await db["notes"].bulk_write([InsertOne({"_id": 6})])
    assert doc == {"_id": 3, "title": "t", "user_id": ALICE}
    assert await owners(raw) == [
        (1, ALICE),
        (2, BOB),
        (3, ALICE),
        (4, ALICE),
        (5, ALICE),
        (6, ALICE),
    ]


async def test_scoped_writes_change_only_the_callers_documents(raw):
    with caller(ALICE):
        notes = db["notes"]
        assert (await notes.update_many({"user_id": ALICE}, {"$inc": {"n": 10}})).matched_count == 1
        await notes.update_one({"user_id": ALICE, "_id": 1}, {"$set": {"user_id": ALICE}})
        await notes.replace_one({"user_id": ALICE, "_id": 1}, {"n": 5})
        got = await notes.find_one_and_update(
            {"user_id": ALICE}, {"$inc": {"n": 1}}, return_document=True
        )
        assert got == {"_id": 1, "n": 6, "user_id": ALICE}
        assert (await notes.delete_many({"user_id": ALICE})).deleted_count == 1
    assert await owners(raw) == [(2, BOB)]
    assert (await raw["notes"].find_one({"_id": 2}))["n"] == 2


async def test_upserts_create_documents_for_the_caller_only(raw):
    with caller(ALICE):
        notes = db["notes"]
        await notes.update_one({"user_id": ALICE, "_id": 10}, {"$set": {"n": 1}}, upsert=True)
        await notes.update_one(
            {"$and": [{"_id": 11}, {"user_id": {"$eq": ALICE}}]}, {"$set": {"n": 1}}, upsert=True
        )
        await notes.replace_one({"user_id": ALICE, "_id": 12}, {"n": 1}, upsert=True)
        await notes.find_one_and_replace({"user_id": ALICE, "_id": 13}, {"n": 1}, upsert=True)
    assert await owners(raw) == [
        (1, ALICE),
        (2, BOB),
        (10, ALICE),
        (11, ALICE),
        (12, ALICE),
        (13, ALICE),
    ]


async def test_aggregations_start_inside_the_callers_documents(raw):
    await raw["tags"].insert_many([{"note": 1, "tag": "a"}, {"note": 2, "tag": "b"}])
    with caller(ALICE):
        notes = db["notes"]
        totals = await notes.aggregate(
            [{"$match": {"user_id": ALICE}}, {"$group": {"_id": None, "n": {"$sum": "$n"}}}]
        ).to_list(None)
        assert totals == [{"_id": None, "n": 1}]
        cursor = await notes.aggregate([{"$match": {"user_id": ALICE}}, {"$project": {"n": 1}}])
        assert [d async for d in cursor] == [{"_id": 1, "n": 1}]
        for stage in (
            {"$lookup": {"from": "tags", "localField": "_id", "foreignField": "note", "as": "t"}},
            {"$unionWith": "tags"},
            {"$unionWith": {"coll": "tags", "pipeline": []}},
            {"$facet": {"x": [{"$lookup": {"from": "tags", "pipeline": [], "as": "t"}}]}},
            {"$out": "copy"},
            {"$merge": {"into": "copy"}},
            {"$out": {"db": "_tessera", "coll": "accounts"}},
            {"$lookup": {"from": {"db": "_tessera", "coll": "accounts"}, "as": "a"}},
            {"$lookup": {"from": "system.users", "pipeline": [], "as": "a"}},
        ):
            with pytest.raises(IsolationError):
                notes.aggregate([{"$match": {"user_id": ALICE}}, stage])


async def test_shared_collections_need_no_user_filter_but_stay_in_the_app(bind):
    raw = bind(shared_collections=["catalog"])
    await raw["notes"].insert_one({"_id": 1, "user_id": BOB, "sku": "a"})
    with caller(ALICE):
        catalog = db["catalog"]
        await catalog.insert_one({"_id": "a", "price": 3})
        assert await catalog.find({}).to_list(None) == [{"_id": "a", "price": 3}]
        assert await catalog.estimated_document_count() == 1
        joined = await catalog.aggregate(
            [
                {
                    "$lookup": {
                        "from": "catalog",
                        "localField": "_id",
                        "foreignField": "_id",
                        "as": "x",
                    }
                }
            ]
        ).to_list(None)
        assert len(joined) == 1
        with pytest.raises(IsolationError):  # a shared collection cannot pull in user data
            catalog.aggregate([{"$lookup": {"from": "notes", "pipeline": [], "as": "n"}}])
        with pytest.raises(IsolationError):
            await db["notes"].find_one({"sku": "a"})
        mine = (
            await db["notes"]
            .aggregate(
                [
                    {"$match": {"user_id": ALICE}},
                    {"$lookup": {"from": "catalog", "pipeline": [], "as": "c"}},
                ]
            )
            .to_list(None)
        )
        assert mine == []
        await catalog.drop()
    assert await raw["catalog"].count_documents({}) == 0


@pytest.mark.parametrize(
    ("roles", "superadmin"), [(("support",), False), ((), True)], ids=["role", "superadmin"]
)
async def test_escalation_reaches_every_user_of_the_app_and_is_logged(
    bind, caplog, roles, superadmin
):
    raw = bind(escalation_roles=["support"])
    await raw["notes"].insert_many([{"user_id": ALICE}, {"user_id": BOB}])
    caplog.set_level(logging.INFO, "tessera.isolation")
    with caller("admin", roles=roles, superadmin=superadmin):
        admin = db.as_admin(reason="support ticket 42")
        assert await admin["notes"].count_documents({}) == 2
        with pytest.raises(AttributeError):
            admin.client  # noqa: B018
    lines = [r.getMessage() for r in caplog.records if "escalation" in r.getMessage()]
    assert any("user=admin" in line and "support ticket 42" in line for line in lines)
    assert any("db['notes'].count_documents()" in line for line in lines)


async def test_escalation_is_refused_to_ordinary_callers(bind):
    bind(escalation_roles=["support"])
    with caller(ALICE, roles=("editor",)), pytest.raises(IsolationError, match="support"):
        db.as_admin(reason="curious")
    with caller(ALICE), pytest.raises(ValueError, match="reason"):
        db.as_admin(reason=" ")


async def test_audit_mode_logs_one_line_per_attempt_and_lets_it_through(bind, caplog):
    raw = bind(isolation="audit")
    await raw["notes"].insert_one({"_id": 2, "user_id": BOB})
    caplog.set_level(logging.WARNING, "tessera.isolation")
    with caller(ALICE):
        assert len(await db["notes"].find({}).to_list(None)) == 1
        await db["notes"].update_one({"_id": 2}, {"$set": {"user_id": ALICE}})
        await db["notes"].find({"user_id": ALICE}).to_list(None)  # scoped: no line
    lines = [r.getMessage() for r in caplog.records if r.name == "tessera.isolation"]
    assert len(lines) == 2
    assert all(
        line.startswith("isolation audit (plugin=p user=alice) db['notes'].") for line in lines
    )
    assert await raw["notes"].find_one({"_id": 2}) == {"_id": 2, "user_id": ALICE}


async def test_off_mode_hands_out_the_plain_database(bind):
    raw = bind(isolation="off")
    await raw["notes"].insert_one({"user_id": BOB})
    with caller(ALICE):
        assert await db["notes"].count_documents({}) == 1


async def test_outside_a_call_db_refuses_every_operation(raw):
    with pytest.raises(NotBound, match="no caller"):
        await db["notes"].count_documents({})
    with pytest.raises(NotBound, match="no caller"):
        db.current()


@pytest.mark.parametrize(
    "walk",
    [
        lambda: db.client,
        lambda: db._client,
        lambda: db.__dict__,
        lambda: db.current().client,
        lambda: db.current()._database,
        lambda: db.command,
        lambda: db.aggregate,
        lambda: db.get_database,
        lambda: db["notes"].database.client,
        lambda: db["notes"].database.__dict__,
        lambda: db["notes"]._collection,
        lambda: db["notes"]._engine,
        lambda: db["notes"].__dict__,
        lambda: db["notes"].watch,
        lambda: db["notes"].find_raw_batches,
        lambda: db.notes.database.client,
        lambda: db.get_collection("notes").database.client,
        lambda: db["notes"].find({"user_id": ALICE}).collection,
        lambda: db["notes"].find({"user_id": ALICE}).__dict__,
        lambda: db["notes"].find({"user_id": ALICE})._collection,
    ],
)
async def test_no_attribute_walk_reaches_the_client(raw, walk):
    with caller(ALICE), pytest.raises(AttributeError):
        walk()


@pytest.mark.parametrize("name", ["system.users", "system.js"])
async def test_the_servers_own_collections_are_refused(raw, name):
    with caller(ALICE), pytest.raises(IsolationError, match="belongs to the server"):
        await db[name].find_one({"user_id": ALICE})


async def test_plugins_cannot_rebind_db(raw):
    with caller(ALICE):
        for name in ("bind", "unbind"):
            with pytest.raises(TypeError, match="not callable"):
                getattr(db, name)(None)


async def test_every_touched_collection_gets_a_user_id_index_once(raw, caplog):
    with caller(ALICE):
        await db["fresh"].find({"user_id": ALICE}).to_list(None)
        await db["fresh"].insert_one({})
        await db.other.count_documents({"user_id": ALICE})
    assert "user_id_1" in await raw["fresh"].index_information()
    assert "user_id_1" in await raw["other"].index_information()
    await raw["fresh"].drop_index("user_id_1")
    with caller(ALICE):
        await db["fresh"].find_one({"user_id": ALICE})
    assert "user_id_1" not in await raw["fresh"].index_information()


async def test_messages_to_other_users_need_the_escalation_right(bind, caplog):
    bind(escalation_roles=["support"])
    caplog.set_level(logging.INFO, "tessera.isolation")
    with pytest.raises(NotBound, match="no caller"):  # plugin code with no caller
        recipient_app(BOB, "send_to_user")
    with caller(ALICE):
        assert recipient_app(ALICE, "send_to_user") == "shop"
        with pytest.raises(IsolationError, match=r"^send_to_user\(user_id='bob'\): "):
            recipient_app(BOB, "send_to_user")
    with caller(ALICE, roles=("support",)):
        assert recipient_app(BOB, "create_notification") == "shop"
    assert any(
        "escalation (plugin=p user=alice) create_notification(user_id='bob')" in r.getMessage()
        for r in caplog.records
    )


async def test_a_kept_collection_or_escalation_follows_the_caller_using_it(bind):
    raw = bind(escalation_roles=["support"])
    await raw["notes"].insert_many([{"user_id": ALICE}, {"user_id": BOB}])
    notes = db["notes"]  # kept from import time, as plugins do
    with caller("admin", roles=("support",)):
        admin = db.as_admin(reason="kept across calls")
        assert await admin["notes"].count_documents({}) == 2
    with caller(BOB):
        assert await notes.count_documents({"user_id": BOB}) == 1
        with pytest.raises(IsolationError):
            await notes.count_documents({})
        with pytest.raises(IsolationError, match="escalation"):
            await admin["notes"].count_documents({})


async def test_a_read_only_document_is_stored_as_the_callers(raw):
    from types import MappingProxyType

    with caller(ALICE):
        await db["notes"].insert_one(MappingProxyType({"_id": 7, "secret": "x"}))
        await db["notes"].insert_many([MappingProxyType({"_id": 8})])
    assert (await owners(raw))[-2:] == [(7, ALICE), (8, ALICE)]


async def test_stages_that_create_or_redact_documents_stay_on_the_callers(raw):
    """$densify makes documents and $redact walks them: only from alice's, and none stored."""
    await raw["notes"].insert_many(
        [{"_id": 3, "user_id": ALICE, "n": 4}, {"_id": 4, "user_id": BOB, "n": 9}]
    )
    before = await owners(raw)
    with caller(ALICE):
        notes = db["notes"]
        densify = {
            "$densify": {
                "field": "n",
                "partitionByFields": ["user_id"],
                "range": {"step": 1, "bounds": "full"},
            }
        }
        found = await notes.aggregate(
            [{"$match": {"user_id": ALICE}}, {"$project": {"_id": 0}}, densify]
        ).to_list(None)
        assert found == [{"user_id": ALICE, "n": n} for n in range(1, 5)]
        redacted = await notes.aggregate(
            [{"$match": {"user_id": ALICE}}, {"$redact": "$$KEEP"}]
        ).to_list(None)
        assert sorted(d["_id"] for d in redacted) == [1, 3]
        with pytest.raises(IsolationError):
            notes.aggregate([densify])
    assert await owners(raw) == before


async def test_text_search_stays_on_the_callers_documents(raw):
    """A scoped $text search finds the caller's documents only, however many of another
    user's hold the words; the scope's user_id narrows the FTS5 read to them."""
    await raw["notes"].insert_many(
        [{"_id": 100 + i, "user_id": BOB, "body": "secret coffee plans"} for i in range(30)]
        + [{"_id": 200, "user_id": ALICE, "body": "my coffee notes"}]
    )
    await raw["notes"].create_index([("body", "text")])
    with caller(ALICE):
        notes = db["notes"]
        search = {"$text": {"$search": "coffee secret"}, "user_id": ALICE}
        found = await notes.find(search, {"score": {"$meta": "textScore"}}).to_list(None)
        assert [(d["_id"], d["user_id"]) for d in found] == [(200, ALICE)]
        assert await notes.count_documents(search) == 1
        pipeline = [{"$match": search}, {"$project": {"user_id": 1}}]
        assert await notes.aggregate(pipeline).to_list(None) == [{"_id": 200, "user_id": ALICE}]
        with pytest.raises(IsolationError):
            notes.find({"$text": {"$search": "secret"}})
    explained = await raw["notes"].find(search).explain()
    assert explained["queryPlanner"]["winningPlan"]["inputStage"]["stage"] == "IXSCAN"
