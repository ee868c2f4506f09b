"""Skip rules: each names its feature, and only what cannot run is skipped."""

from typing import Any

import pytest

from .cases import Case, load_cases, required_dir
from .skips import EMBEDDED, Server, server_version, skip_reason

MONGODB_8 = Server(version=(8, 0, 4), topology="replicaset", embedded=False)
SHARDED = Server(version=(7, 0, 0), topology="sharded", embedded=False)
ENTITIES = [
    {"client": {"id": "client0"}},
    {"database": {"id": "database0", "client": "client0", "databaseName": "db"}},
    {"collection": {"id": "collection0", "database": "database0", "collectionName": "c"}},
]


def case(*operations: dict[str, Any], test: Any = None, entities: Any = None, **spec: Any) -> Case:
    body = {"description": "t", "operations": list(operations), **(test or {})}
    document = {"createEntities": entities or ENTITIES, "tests": [body], **spec}
    return Case("file", document, body)


def op(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "object": "collection0", "arguments": arguments}


FIND = op("find", filter={})
UNACKNOWLEDGED = {
    "collection": {
        "id": "collection1",
        "database": "database0",
        "collectionName": "c",
        "collectionOptions": {"writeConcern": {"w": 0}},
    }
}


@pytest.mark.parametrize(
    ("requirements", "reason"),
    [
        ([{"minServerVersion": "4.4"}], None),
        ([{"minServerVersion": "7.0"}], None),
        ([{"maxServerVersion": "7.0"}], None),
        ([{"minServerVersion": "8.0"}], "runOnRequirements: requires MongoDB >= 8.0"),
        ([{"maxServerVersion": "4.2.99"}], "runOnRequirements: only for MongoDB <= 4.2.99"),
        ([{"maxServerVersion": "4.2.99"}, {"minServerVersion": "5.0"}], None),
        ([{"topologies": ["single", "replicaset"]}], None),
        ([{"topologies": ["replicaset"]}], "runOnRequirements: requires topology replicaset"),
        ([{"serverless": "forbid"}], None),
        ([{"serverless": "require"}], "runOnRequirements: requires serverless"),
        ([{"auth": True}], "runOnRequirements: requires authentication"),
    ],
)
def test_requirements_on_the_embedded_store(requirements: Any, reason: str | None) -> None:
    assert skip_reason(case(FIND, runOnRequirements=requirements), EMBEDDED) == reason
    assert skip_reason(case(FIND, test={"runOnRequirements": requirements}), EMBEDDED) == reason


def test_sharded_server_meets_sharded_replicaset() -> None:
    sharded_replicaset = case(FIND, runOnRequirements=[{"topologies": ["sharded-replicaset"]}])
    assert skip_reason(sharded_replicaset, SHARDED) is None


def test_versions_compare_numerically() -> None:
    assert server_version("4.0.10") > server_version("4.0.9")
    assert server_version("7.0") == server_version("7.0.0") == server_version("7.0.0-rc1")


@pytest.mark.parametrize(
    ("test_case", "reason"),
    [
        (case(FIND, test={"expectEvents": []}), "command monitoring (expectEvents) with nothing "
         "else to check"),
        (case(FIND, test={"expectEvents": [], "outcome": []}), None),
        (case({**FIND, "expectResult": []}, test={"expectEvents": []}), None),
        (case(FIND, entities=[*ENTITIES, {"session": {"id": "s", "client": "client0"}}]),
         "sessions"),
        (case({"name": "failPoint", "object": "testRunner", "arguments": {}}), "fail points"),
        (case({"name": "clientBulkWrite", "object": "client0", "arguments": {}}),
         "client-level bulkWrite"),
        (case(op("listCollections")), "operation listCollections (not in this runner)"),
        (case(op("find", filter={}, rawData=True)), "rawData option"),
        (case(FIND, entities=[*ENTITIES, UNACKNOWLEDGED]), None),
        (case({**FIND, "object": "collection1"}, entities=[*ENTITIES, UNACKNOWLEDGED]),
         "unacknowledged writes (w: 0)"),
        (case(FIND, entities=[{"client": {"id": "client0", "uriOptions": {"w": 0}}},
                              *ENTITIES[1:]]),
         "unacknowledged writes (w: 0)"),
    ],
)  # fmt: skip
def test_runner_limits_apply_to_every_backend(test_case: Case, reason: str | None) -> None:
    assert skip_reason(test_case, EMBEDDED) == reason
    assert skip_reason(test_case, MONGODB_8) == reason


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        (op("find", filter={}, comment="no-op", batchSize=2), None),
        (op("find", filter={}, hint="_id_"), "hint"),
        (op("find", filter={}, collation={"locale": "fr"}), "collation"),
        (op("find", filter={}, let={"x": 1}), "let variables"),
        (op("updateOne", filter={}, update=[{"$set": {"x": 1}}]), None),
        (op("updateOne", filter={}, update={"$set": {"x": 1}}, sort={"x": 1}),
         "sort option of updateOne (MongoDB 8.0)"),
        (op("bulkWrite", requests=[{"deleteOne": {"filter": {}, "hint": "_id_"}}]), "hint"),
        (op("aggregate", pipeline=[{"$match": {}}, {"$out": "other"}]), "aggregate $out/$merge"),
        (op("aggregate", pipeline=[{"$bucket": {}}]), "aggregate stage $bucket"),
        (op("aggregate", pipeline=[{"$match": {}}, {"$group": {"_id": 1}}]), None),
        ({"name": "aggregate", "object": "database0", "arguments": {"pipeline": []}},
         "database-level aggregate"),
        ({"name": "createCollection", "object": "database0",
          "arguments": {"collection": "v", "viewOn": "c", "pipeline": []}},
         "views (createCollection viewOn)"),
    ],
)  # fmt: skip
def test_embedded_limits_do_not_apply_to_mongodb(operation: Any, reason: str | None) -> None:
    assert skip_reason(case(operation), EMBEDDED) == reason
    assert skip_reason(case(operation), MONGODB_8) is None


def test_the_test_files_skipped_on_mongodb_are_a_subset() -> None:
    cases = load_cases(required_dir())
    on_mongodb = {c.id for c in cases if skip_reason(c, MONGODB_8) is None}
    on_embedded = {c.id for c in cases if skip_reason(c, EMBEDDED) is None}
    assert on_embedded - on_mongodb <= {
        c.id for c in cases if "maxServerVersion" in str(c.test.get("runOnRequirements"))
    }
    assert len(on_embedded) > 100
