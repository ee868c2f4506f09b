"""Running one unified-format test: entities, initial data, operations, expectations, outcome."""

import copy
from collections.abc import Mapping
from typing import Any

from bson.errors import BSONError
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from tessera.store import mongo

from .cases import Case
from .matching import match, match_each, match_exact
from .operations import RunnerError, bulk_result, execute, shape
from .skips import EMBEDDED, Server, server_version

__all__ = ["run_case", "server_of"]

# What an operation may raise as its answer: server errors, and PyMongo's client-side
# checks (TypeError/ValueError for bad arguments, InvalidDocument for bad documents).
OPERATION_ERRORS = (PyMongoError, BSONError, TypeError, ValueError)
ITERABLE_RESULTS = {"find", "aggregate", "listIndexes"}
EXPECTED_ERROR_FIELDS = {
    "isError",
    "isClientError",
    "errorContains",
    "errorCode",
    "errorCodeName",
    "errorLabelsContain",
    "errorLabelsOmit",
    "errorResponse",
    "expectResult",
}
TOPOLOGIES = {
    "Single": "single",
    "ReplicaSetWithPrimary": "replicaset",
    "ReplicaSetNoPrimary": "replicaset",
    "Sharded": "sharded",
    "LoadBalanced": "load-balanced",
}


async def server_of(client: Any) -> Server:
    """The server ``client`` talks to; the embedded store counts as MongoDB 7.0, single."""
    if not isinstance(client, mongo.Client):
        return EMBEDDED
    info = await client.server_info()
    version = server_version(info["version"])
    topology = TOPOLOGIES[client.topology_description.topology_type_name]
    return Server(version=version, topology=topology, embedded=False)


def _entities(definitions: list[Mapping[str, Any]], client: Any) -> dict[str, Any]:
    """Every client entity is the test's client; databases and collections hang from it."""
    entities: dict[str, Any] = {}
    for definition in definitions:
        ((kind, options),) = definition.items()
        if kind == "client":
            entities[options["id"]] = client
        elif kind == "database":
            entities[options["id"]] = entities[options["client"]][options["databaseName"]]
        elif kind == "collection":
            database = entities[options["database"]]
            entities[options["id"]] = database[options["collectionName"]]
        else:
            raise RunnerError(f"entity type {kind} is not supported by this runner")
    return entities


async def _load(initial_data: list[Mapping[str, Any]], client: Any) -> None:
    for data in initial_data:
        database = client[data["databaseName"]]
        await database.drop_collection(data["collectionName"])
        if data["documents"]:
            await database[data["collectionName"]].insert_many(data["documents"])
        else:
            await database.create_collection(data["collectionName"])


def _error_code(error: OperationFailure) -> tuple[Any, Any]:
    """The code and code name of an error; a bulk write error reports its first write error's."""
    details = error.details or {}
    if isinstance(error, BulkWriteError) and details.get("writeErrors"):
        details = details["writeErrors"][0]
        return details.get("code"), details.get("codeName")
    return error.code, details.get("codeName")


def _check_error(expected: Mapping[str, Any], error: Exception, where: str) -> None:
    """Assert ``error`` is the error ``expected`` (an expectedError object) describes."""
    unsupported = set(expected) - EXPECTED_ERROR_FIELDS
    if unsupported:
        raise RunnerError(f"expectError {sorted(unsupported)} is not supported by this runner")
    server = isinstance(error, OperationFailure)
    failure = f"{where}: {type(error).__name__}: {error}"
    if "isClientError" in expected:
        assert expected["isClientError"] == (not server), f"{failure} (isClientError)"
    if "errorContains" in expected:
        assert expected["errorContains"].lower() in str(error).lower(), failure
    if "errorCode" in expected or "errorCodeName" in expected:
        assert isinstance(error, OperationFailure), f"{failure} (not a server error)"
        code, code_name = _error_code(error)
        if "errorCode" in expected:
            assert code == expected["errorCode"], f"{failure} (code {code})"
        if "errorCodeName" in expected:
            assert str(code_name).lower() == expected["errorCodeName"].lower(), failure
    for label in expected.get("errorLabelsContain", []):
        assert isinstance(error, PyMongoError) and error.has_error_label(label), failure
    for label in expected.get("errorLabelsOmit", []):
        assert not (isinstance(error, PyMongoError) and error.has_error_label(label)), failure
    if "errorResponse" in expected:
        assert isinstance(error, OperationFailure), f"{failure} (no server response)"
        match(expected["errorResponse"], error.details, path=f"{where} errorResponse")
    if "expectResult" in expected:
        assert isinstance(error, BulkWriteError), f"{failure} (carries no result)"
        match(expected["expectResult"], bulk_result(error.details), path=f"{where} result")


async def _run_operation(
    operation: Mapping[str, Any], entities: dict[str, Any], where: str
) -> None:
    name = operation["name"]
    try:
        raw = await execute(entities[operation["object"]], name, operation.get("arguments") or {})
    except OPERATION_ERRORS as error:
        if operation.get("ignoreResultAndError"):
            return
        if "expectError" not in operation:
            raise
        _check_error(operation["expectError"], error, where)
        return
    assert "expectError" not in operation, f"{where}: expected an error, got {raw!r}"
    result = shape(raw)
    if "expectResult" in operation:
        expected = operation["expectResult"]
        if name in ITERABLE_RESULTS and isinstance(expected, list):
            match_each(expected, result, entities=entities, path=where)
        else:
            match(expected, result, entities=entities, path=where)
    if "saveResultAsEntity" in operation:
        entities[operation["saveResultAsEntity"]] = result


async def _check_outcome(outcome: list[Mapping[str, Any]], client: Any) -> None:
    for data in outcome:
        collection = client[data["databaseName"]][data["collectionName"]]
        actual = await collection.find({}, sort=[("_id", 1)]).to_list()
        where = f"outcome {data['databaseName']}.{data['collectionName']}"
        match_exact(data["documents"], actual, path=where)


async def run_case(case: Case, client: Any) -> None:
    """Run one test on ``client``; raise AssertionError at the first difference."""
    # Operations write into their arguments (insert_one adds _id): work on a copy.
    spec, test = copy.deepcopy(case.spec), copy.deepcopy(case.test)
    entities = _entities(spec.get("createEntities", []), client)
    await _load(spec.get("initialData", []), client)
    for index, operation in enumerate(test["operations"]):
        await _run_operation(operation, entities, f"operations[{index}] {operation['name']}")
    await _check_outcome(test.get("outcome", []), client)
