"""The aggregation check: a pipeline starts inside the caller's documents and reads or
writes other collections only when they are shared, always within the app's database."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tessera.isolation.policy import Policy
from tessera.isolation.scope import SERVER_CODE_PROBLEM, pins_user, runs_server_code

# Stages that report on the server or other sessions rather than on documents.
SERVER_STAGES = frozenset(
    {
        "$currentOp",
        "$listLocalSessions",
        "$listSessions",
        "$changeStream",
        "$planCacheStats",
        "$listSearchIndexes",
        "$queryStats",
        "$collStats",
        "$indexStats",
    }
)
FIRST_MATCH = "the pipeline must start with {'$match': {'user_id': user_id}}"


def boundary_problem(pipeline: Any) -> str | None:
    """Why ``pipeline`` would leave the app's database or reach the server's own data; such
    a pipeline is refused in every mode, ``audit`` included."""
    for stage, target in targets(pipeline):
        if stage in SERVER_STAGES:
            return f"the {stage} stage is not allowed"
        if target is None:
            continue
        if not isinstance(target, str):
            return (
                f"{stage} must name a collection of the app's database as a string, not {target!r}"
            )
        named = collection_problem(target)
        if named is not None:
            return named
    return None


def pipeline_problem(pipeline: Any, collection: str, policy: Policy) -> str | None:
    """Why ``pipeline`` on ``collection`` could reach other users' documents, or None."""
    if not isinstance(pipeline, list | tuple):
        return None  # the store refuses it with its own error
    if runs_server_code(pipeline):
        return SERVER_CODE_PROBLEM
    if policy.scoped(collection) and not _starts_scoped(pipeline, policy.user_id):
        return FIRST_MATCH
    for stage, target in targets(pipeline):
        if isinstance(target, str) and policy.scoped(target):
            return (
                f"{stage} into {target!r} is refused: it is not a shared collection (declare "
                "it in the manifest's shared_collections, or use db.as_admin(reason=...))"
            )
    return None


def collection_problem(name: Any) -> str | None:
    """Collection names a plugin may not use: the server's own ``system.*`` collections."""
    if isinstance(name, str) and name.startswith("system."):
        return f"the collection {name!r} belongs to the server"
    return None


def _starts_scoped(pipeline: list[Any] | tuple[Any, ...], user_id: str) -> bool:
    first = pipeline[0] if pipeline else None
    return (
        isinstance(first, Mapping)
        and list(first) == ["$match"]
        and pins_user(first["$match"], user_id)
    )


def targets(pipeline: Any) -> Iterator[tuple[str, Any]]:
    """Every stage name with the other collection it reads or writes (None if none),
    sub-pipelines of ``$lookup``, ``$unionWith`` and ``$facet`` included."""
    if not isinstance(pipeline, list | tuple):
        return
    for stage in pipeline:
        if not isinstance(stage, Mapping):
            continue
        for name, arg in stage.items():
            yield name, _target(name, arg)
            if name in ("$lookup", "$unionWith") and isinstance(arg, Mapping):
                yield from targets(arg.get("pipeline"))
            elif name == "$facet" and isinstance(arg, Mapping):
                for sub in arg.values():
                    yield from targets(sub)


def _target(name: str, arg: Any) -> Any:
    if name in ("$lookup", "$graphLookup"):
        return arg.get("from") if isinstance(arg, Mapping) else None
    if name in ("$unionWith", "$out"):
        return arg.get("coll", arg) if isinstance(arg, Mapping) and "db" not in arg else arg
    if name == "$merge":
        into = arg.get("into") if isinstance(arg, Mapping) else arg
        return into.get("coll", into) if isinstance(into, Mapping) and "db" not in into else into
    return None
