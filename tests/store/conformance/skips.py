"""Which conformance tests cannot run, and why: one rule per feature, each with its reason.

Three kinds of rule, checked in this order:
- the test's ``runOnRequirements`` against the server (the embedded store counts as a
  single MongoDB 7.0 server: not serverless, no auth, no CSFLE);
- what this runner does not do on any backend (sessions, transactions, fail points,
  command monitoring, client-level bulkWrite, unacknowledged writes, ``rawData``...);
- what the embedded store does not implement (options and stages outside issue 2's list).
  On MongoDB these tests run.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .cases import Case
from .operations import OPERATIONS

__all__ = ["EMBEDDED", "Server", "server_version", "skip_reason"]


@dataclass(frozen=True)
class Server:
    """What ``runOnRequirements`` are checked against."""

    version: tuple[int, ...]
    topology: str
    embedded: bool


EMBEDDED = Server(version=(7, 0, 0), topology="single", embedded=True)

TRANSACTION_OPERATIONS = {
    "startTransaction",
    "commitTransaction",
    "abortTransaction",
    "withTransaction",
}
FAIL_POINT_OPERATIONS = {"failPoint", "targetedFailPoint"}
EMBEDDED_STAGES = {
    "$match", "$project", "$addFields", "$set", "$unset", "$sort", "$skip", "$limit",
    "$group", "$count", "$unwind", "$lookup", "$replaceRoot", "$sortByCount", "$facet",
    "$bucketAuto", "$densify", "$fill", "$redact", "$setWindowFields",
}  # fmt: skip
# Options issue 2 leaves out of the embedded store, with the feature each one is.
EMBEDDED_OPTIONS = {
    "collation": "collation",
    "hint": "hint",
    "let": "let variables",
    "bypassDocumentValidation": "document validation (bypassDocumentValidation)",
}
# MongoDB 8.0 added ``sort`` to these; issue 2 emulates 7.0 and lists no such option.
SORTED_WRITES = {"updateOne", "replaceOne"}


def server_version(text: str) -> tuple[int, ...]:
    """A version string as numbers, padded so that "7.0" equals "7.0.0"."""
    parts = [int(part) for part in text.split("-")[0].split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _unmet(requirement: dict[str, Any], server: Server) -> str | None:
    """Why a single runOnRequirement is not met, or None when it is."""
    low, high = requirement.get("minServerVersion"), requirement.get("maxServerVersion")
    if low and server.version < server_version(low):
        return f"requires MongoDB >= {low}"
    if high and server.version > server_version(high):
        return f"only for MongoDB <= {high}"
    # A sharded topology satisfies "sharded-replicaset": MongoDB 3.6+ shards are replica sets.
    topology = "sharded-replicaset" if server.topology == "sharded" else server.topology
    topologies = requirement.get("topologies")
    if topologies and server.topology not in topologies and topology not in topologies:
        return f"requires topology {'/'.join(topologies)}"
    if requirement.get("serverless") == "require":
        return "requires serverless"
    if requirement.get("auth"):
        return "requires authentication"
    if requirement.get("csfle"):
        return "requires client-side field level encryption"
    if requirement.get("serverParameters"):
        return "requires server parameters"
    return None


def _requirements_reason(case: Case, server: Server) -> str | None:
    for requirements in (case.spec.get("runOnRequirements"), case.test.get("runOnRequirements")):
        if requirements:
            reasons = [_unmet(requirement, server) for requirement in requirements]
            if all(reasons):
                return f"runOnRequirements: {reasons[0]}"
    return None


def _operations(case: Case) -> Iterator[dict[str, Any]]:
    """Every operation of the test, and every request inside its bulk writes."""
    for operation in case.test["operations"]:
        yield operation
        for request in operation.get("arguments", {}).get("requests", []):
            ((name, arguments),) = request.items()
            yield {"name": name, "object": operation["object"], "arguments": arguments}


def _has_checks(case: Case) -> bool:
    operations = case.test["operations"]
    return "outcome" in case.test or any(
        "expectResult" in op or "expectError" in op for op in operations
    )


def _unacknowledged(entities: list[dict[str, Any]]) -> set[str]:
    """Ids of the entities that write with ``w: 0``, directly or through their parent."""
    ids: set[str] = set()
    for entity in entities:
        options = next(iter(entity.values()))
        settings = [options.get("uriOptions", {})] + [
            options.get(key, {}).get("writeConcern", {})
            for key in ("databaseOptions", "collectionOptions")
        ]
        parent = options.get("client") or options.get("database")
        if parent in ids or any(setting.get("w") == 0 for setting in settings):
            ids.add(options["id"])
    return ids


def _runner_reason(case: Case) -> str | None:
    """Features this runner does not provide on any backend."""
    entities = case.spec.get("createEntities", [])
    kinds = {kind for entity in entities for kind in entity}
    if "session" in kinds:
        return "sessions"
    if "expectEvents" in case.test and not _has_checks(case):
        return "command monitoring (expectEvents) with nothing else to check"
    unacknowledged = _unacknowledged(entities)
    for operation in _operations(case):
        name, arguments = operation["name"], operation.get("arguments") or {}
        if operation["object"] in unacknowledged:
            return "unacknowledged writes (w: 0)"
        if name in TRANSACTION_OPERATIONS:
            return "transactions"
        if name in FAIL_POINT_OPERATIONS:
            return "fail points"
        if name == "clientBulkWrite":
            return "client-level bulkWrite"
        if name == "modifyCollection":
            return "collection validators (modifyCollection)"
        if "rawData" in arguments:
            return "rawData option"
        if name not in OPERATIONS:
            return f"operation {name} (not in this runner)"
    return None


def _embedded_reason(case: Case) -> str | None:
    """Features issue 2 leaves out of the embedded store."""
    entities = case.spec.get("createEntities", [])
    databases = {entity["database"]["id"] for entity in entities if "database" in entity}
    for operation in _operations(case):
        name, arguments = operation["name"], operation.get("arguments") or {}
        if name == "aggregate" and operation["object"] in databases:
            return "database-level aggregate"
        if name == "createCollection" and "viewOn" in arguments:
            return "views (createCollection viewOn)"
        for option, feature in EMBEDDED_OPTIONS.items():
            if option in arguments:
                return feature
        if name in SORTED_WRITES and "sort" in arguments:
            return f"sort option of {name} (MongoDB 8.0)"
        for stage in arguments.get("pipeline", []):
            (stage_name,) = stage
            if stage_name in {"$out", "$merge"}:
                return "aggregate $out/$merge"
            if stage_name not in EMBEDDED_STAGES:
                return f"aggregate stage {stage_name}"
    return None


def skip_reason(case: Case, server: Server) -> str | None:
    """Why ``case`` cannot run on ``server``, naming the feature; None when it runs."""
    if "skipReason" in case.test:
        return f"skipped by the test file: {case.test['skipReason']}"
    reason = _requirements_reason(case, server) or _runner_reason(case)
    if reason is None and server.embedded:
        reason = _embedded_reason(case)
    return reason
