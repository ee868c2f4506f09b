"""What is checked is what runs: for every operation, a plugin that changes its filter,
update, pipeline or documents at any point while the operation is in flight (before it
starts, between its awaits, while the store works in its threads) still reads and changes
only the caller's documents."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import DeleteMany, InsertOne, UpdateMany

from tessera.auth.identity import Identity
from tessera.context import CallContext, current_call
from tessera.isolation.modes import CollectionModes
from tessera.services.database import Databases, db
from tessera.services.database import bind as bind_databases
from tessera.services.database import unbind as unbind_databases
from tessera.store import open_client

ALICE, BOB = "alice", "bob"
SEED = [
    {"_id": 1, "user_id": ALICE, "secret": "a1", "n": 1},
    {"_id": 2, "user_id": ALICE, "secret": "a2", "n": 2},
    {"_id": 3, "user_id": BOB, "secret": "b1", "n": 1},
    {"_id": 4, "user_id": BOB, "secret": "b2", "n": 2},
]


class Arguments:
    """An operation's mutable arguments, and the ways a plugin could change them."""

    def __init__(self) -> None:
        self.filter: dict[str, Any] = {"user_id": ALICE, "n": {"$gte": 0}}
        self.update: dict[str, Any] = {"$set": {"touched": True}}
        self.document: dict[str, Any] = {"secret": "new"}
        self.stage: dict[str, Any] = {"$match": {"user_id": ALICE}}
        self.pipeline: list[Any] = [self.stage, {"$project": {"secret": 1, "user_id": 1}}]

    def mutations(self) -> dict[str, Callable[[], None]]:
        return {
            "clear filter": self.filter.clear,
            "filter to bob": lambda: self.filter.__setitem__("user_id", BOB),
            "filter widened": lambda: self.filter.__setitem__("user_id", {"$ne": "nobody"}),
            "filter or": lambda: self.filter.__setitem__("$or", [{"user_id": BOB}]),
            "nested condition": lambda: self.filter["n"].__setitem__("$lt", 100),
            "update hands over": lambda: self.update["$set"].__setitem__("user_id", BOB),
            "update unsets owner": lambda: self.update.__setitem__("$unset", {"user_id": ""}),
            "document to bob": lambda: self.document.__setitem__("user_id", BOB),
            "stage cleared": lambda: self.stage.__setitem__("$match", {}),
            "stage to bob": lambda: self.stage["$match"].__setitem__("user_id", BOB),
            "pipeline replaced": lambda: self.pipeline.__setitem__(0, {"$match": {}}),
            "pipeline lookup": lambda: self.pipeline.append(
                {"$lookup": {"from": "notes", "pipeline": [], "as": "all"}}
            ),
        }


async def _cursor(cursor: Any, how: str) -> list[Any]:
    if how == "iterate":
        return [d async for d in cursor]
    return await cursor.to_list(None)


OPERATIONS: dict[str, Callable[[Any, Arguments], Any]] = {
    "find": lambda c, a: _cursor(c.find(a.filter), "list"),
    "find iterated": lambda c, a: _cursor(c.find(a.filter).sort("n", 1), "iterate"),
    "find rewound": lambda c, a: _cursor(c.find(a.filter).rewind(), "list"),
    "find_one": lambda c, a: c.find_one(a.filter),
    "count_documents": lambda c, a: c.count_documents(a.filter),
    "distinct": lambda c, a: c.distinct("secret", a.filter),
    "update_one": lambda c, a: c.update_one(a.filter, a.update),
    "update_many": lambda c, a: c.update_many(a.filter, a.update),
    "upsert": lambda c, a: c.update_many(a.filter, a.update, upsert=True),
    "replace_one": lambda c, a: c.replace_one(a.filter, a.document),
    "delete_one": lambda c, a: c.delete_one(a.filter),
    "delete_many": lambda c, a: c.delete_many(a.filter),
    "find_one_and_update": lambda c, a: c.find_one_and_update(a.filter, a.update),
    "find_one_and_replace": lambda c, a: c.find_one_and_replace(a.filter, a.document),
    "find_one_and_delete": lambda c, a: c.find_one_and_delete(a.filter),
    "insert_one": lambda c, a: c.insert_one(a.document),
    "insert_many": lambda c, a: c.insert_many([a.document, {"secret": "second"}]),
    "aggregate": lambda c, a: _cursor(c.aggregate(a.pipeline), "list"),
    "bulk_write": lambda c, a: c.bulk_write(
        [UpdateMany(a.filter, a.update), InsertOne(a.document), DeleteMany(a.filter)]
    ),
}


def _owners(value: Any) -> set[Any]:
    """Every user_id in a result, however nested (documents, lists, $lookup arrays)."""
    if isinstance(value, dict):
        found = {value["user_id"]} if "user_id" in value else set()
        return found.union(*(_owners(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_owners(v) for v in value))
    return set()


async def _scenario(operation: str, mutation: str, ticks: int) -> None:
    client = open_client("sqlite://:memory:")
    databases = Databases(client, default_app="shop", modes=CollectionModes())
    bind_databases(databases)
    raw = databases.app()["notes"]
    await raw.insert_many([dict(d) for d in SEED])
    bobs = await raw.find({"user_id": BOB}).sort("_id", 1).to_list(None)
    arguments = Arguments()
    loop = asyncio.get_running_loop()

    def tick(remaining: int) -> None:
        if remaining == 0:
            arguments.mutations()[mutation]()
        else:
            loop.call_soon(tick, remaining - 1)

    token = current_call.set(CallContext(Identity(ALICE, ALICE, "shop"), "p"))
    try:
        tick(ticks) if ticks == 0 else loop.call_soon(tick, ticks - 1)
        try:
            result = await OPERATIONS[operation](db["notes"], arguments)
        except Exception:  # refused or invalid: allowed, as long as nothing crossed
            result = None
        await asyncio.sleep(0)
    finally:
        current_call.reset(token)
        unbind_databases(databases)
    try:
        assert _owners(result) <= {ALICE}, (operation, mutation, ticks, result)
        if operation == "distinct":
            assert set(result or []) <= {"a1", "a2", "new", "second"}, result
        if operation == "count_documents":
            assert result is None or result <= 2
        after = await raw.find({"user_id": {"$ne": ALICE}}).sort("_id", 1).to_list(None)
        assert after == bobs, (operation, mutation, ticks, after)
    finally:
        await client.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    operation=st.sampled_from(sorted(OPERATIONS)),
    mutation=st.sampled_from(sorted(Arguments().mutations())),
    ticks=st.integers(min_value=0, max_value=12),
)
def test_changes_at_any_await_point_reach_only_the_callers_documents(
    operation: str, mutation: str, ticks: int
) -> None:
    asyncio.run(_scenario(operation, mutation, ticks))
