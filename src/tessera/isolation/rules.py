"""The rules one operation on one collection must follow, as sentences.

Each function takes the call's :class:`Policy`, the collection's name and the (snapshot)
arguments of the operation, and returns the problem as a sentence, or None when the
operation may run. :class:`~tessera.isolation.collection.ScopedCollection` decides what a
problem costs (refused, or logged in ``audit`` mode).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.operations import (
    DeleteMany,
    DeleteOne,
    IndexModel,
    InsertOne,
    ReplaceOne,
    UpdateMany,
    UpdateOne,
)

from tessera.isolation.ownership import FIELD, document_problem, update_problem
from tessera.isolation.policy import Policy
from tessera.isolation.scope import (
    SERVER_CODE_PROBLEM,
    pins_by_equality,
    pins_user,
    runs_server_code,
)

PIN = "the filter must include {'user_id': user_id}"
UPSERT_PIN = "an upsert's filter must pin user_id by equality: {'user_id': user_id}"
COLLATION = "collation is not allowed: it could make {'user_id': ...} match other users"
UNIQUE = (
    "a unique index on a per-user collection must start with user_id, so that values are "
    "unique per user: create_index([('user_id', 1), {keys}], unique=True); for app-wide "
    "uniqueness declare the collection in shared_collections or use db.as_admin(reason=...)"
)


def whole(operation: str, fix: str | None = None) -> str:
    """The problem of an operation that acts on every user's documents at once."""
    instead = f"use {fix} or db.as_admin(reason=...)" if fix else "use db.as_admin(reason=...)"
    return f"{operation}() acts on every user's documents; {instead}"


def collation_problem(policy: Policy, name: str, options: Mapping[str, Any]) -> str | None:
    if policy.scoped(name) and options.get("collation") is not None:
        return COLLATION
    return None


def filter_problem(
    policy: Policy, name: str, filter: Any, options: Mapping[str, Any]
) -> str | None:
    """A filter of a read, update or delete: it pins the caller on a per-user collection."""
    if runs_server_code(filter):
        return SERVER_CODE_PROBLEM
    if not policy.scoped(name):
        return None
    if not pins_user(filter, policy.user_id):
        return PIN
    return collation_problem(policy, name, options)


def insert_problem(policy: Policy, name: str, document: Any) -> str | None:
    """A document to insert or a replacement keeps the caller as owner."""
    return document_problem(document, policy.user_id) if policy.scoped(name) else None


def change_problem(
    policy: Policy,
    name: str,
    filter: Any,
    update: Any,
    upsert: bool,
    options: Mapping[str, Any],
) -> str | None:
    """An update: pinned filter, ``user_id`` unchanged, upserts that create the caller's."""
    problem = filter_problem(policy, name, filter, options)
    if problem is None and policy.scoped(name):
        problem = update_problem(update, policy.user_id)
    if problem is None and runs_server_code(update):
        problem = SERVER_CODE_PROBLEM
    return problem or upsert_problem(policy, name, filter, upsert)


def replace_problem(
    policy: Policy,
    name: str,
    filter: Any,
    replacement: Any,
    upsert: bool,
    options: Mapping[str, Any],
) -> str | None:
    return (
        filter_problem(policy, name, filter, options)
        or insert_problem(policy, name, replacement)
        or upsert_problem(policy, name, filter, upsert)
    )


def upsert_problem(policy: Policy, name: str, filter: Any, upsert: bool) -> str | None:
    if upsert and policy.scoped(name) and not pins_by_equality(filter, policy.user_id):
        return UPSERT_PIN
    return None


def request_problem(policy: Policy, name: str, request: Any) -> str | None:
    """A ``bulk_write`` request, checked as its own method would be."""
    options = {"collation": getattr(request, "_collation", None)}
    if isinstance(request, InsertOne):
        return insert_problem(policy, name, request._doc)
    if isinstance(request, UpdateOne | UpdateMany):
        return change_problem(
            policy, name, request._filter, request._doc, bool(request._upsert), options
        )
    if isinstance(request, ReplaceOne):
        return replace_problem(
            policy, name, request._filter, request._doc, bool(request._upsert), options
        )
    if isinstance(request, DeleteOne | DeleteMany):
        return filter_problem(policy, name, request._filter, options)
    return f"{type(request).__name__} is not a PyMongo write request"


def index_problem(policy: Policy, name: str, keys: Any, options: Mapping[str, Any]) -> str | None:
    """A unique index on a per-user collection would compare users' values with each other
    (an oracle, and a way to block others' writes): it must lead with ``user_id``."""
    if not options.get("unique") or not policy.scoped(name):
        return None
    fields = index_fields(keys)
    if fields and fields[0] == FIELD:
        return None
    named = ", ".join(repr((field, 1)) for field in fields if field != FIELD) or "..."
    return UNIQUE.format(keys=named)


def model_problem(policy: Policy, name: str, model: Any) -> str | None:
    """An ``IndexModel`` of ``create_indexes``, checked as ``create_index`` would be."""
    if not isinstance(model, IndexModel):
        return f"create_indexes() takes IndexModel objects, not {type(model).__name__}"
    document = model.document
    return index_problem(policy, name, list(document["key"]), document)


def index_fields(keys: Any) -> list[str]:
    """The field names of an index specification (a name, pairs, or a mapping)."""
    if isinstance(keys, str):
        return [keys]
    if isinstance(keys, Mapping):
        return [str(k) for k in keys]
    if isinstance(keys, list | tuple):
        return [item[0] if isinstance(item, list | tuple) else str(item) for item in keys]
    return []
