"""The scope check: does a MongoDB filter pin ``user_id`` to the caller?

A filter is scoped when every document it can match has ``user_id`` equal to the caller's
id. The check accepts only forms whose meaning is plain: a top-level ``user_id`` equality
(``u``, ``{"$eq": u}`` or ``{"$in": [u]}``), possibly next to other operators on the same
field, or such a clause inside a top-level ``$and``. Everything else (``$or``/``$nor``
around the pin, ``$expr``, ``$where``, ``$in`` naming other users, regular expressions) is
refused, because proving it safe would mean evaluating it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Server-side JavaScript: the check cannot see what it reads or returns.
SERVER_CODE = frozenset({"$where", "$function", "$accumulator"})
SERVER_CODE_PROBLEM = "server-side JavaScript ($where, $function, $accumulator) is not allowed"


def pins_user(query: Any, user_id: str) -> bool:
    """True when ``query`` can only match documents whose ``user_id`` is ``user_id``."""
    if not isinstance(query, Mapping):
        return False
    if "user_id" in query and _pins_value(query["user_id"], user_id):
        return True
    clauses = query.get("$and")
    if isinstance(clauses, list):
        return any(pins_user(clause, user_id) for clause in clauses)
    return False


def pins_by_equality(query: Any, user_id: str) -> bool:
    """True when the pin is an equality an upsert copies into the document it creates."""
    if not isinstance(query, Mapping):
        return False
    value = query.get("user_id")
    if _is_user(value, user_id):
        return True
    if (
        isinstance(value, Mapping)
        and _is_operator_document(value)
        and _is_user(value.get("$eq"), user_id)
    ):
        return True
    clauses = query.get("$and")
    if isinstance(clauses, list):
        return any(pins_by_equality(clause, user_id) for clause in clauses)
    return False


def runs_server_code(value: Any) -> bool:
    """True when ``value`` (a filter, a pipeline, an expression) holds server-side code."""
    if isinstance(value, Mapping):
        return any(
            (isinstance(key, str) and key in SERVER_CODE) or runs_server_code(item)
            for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return any(runs_server_code(item) for item in value)
    return False


def _pins_value(spec: Any, user_id: str) -> bool:
    # A plain string compares for equality; any other plain value (a list, a sub-document,
    # a regular expression) either matches differently or names someone else.
    if isinstance(spec, str):
        return _is_user(spec, user_id)
    if not isinstance(spec, Mapping) or not _is_operator_document(spec):
        return False
    if _is_user(spec.get("$eq"), user_id):
        return True
    members = spec.get("$in")
    return (
        isinstance(members, list) and bool(members) and all(_is_user(m, user_id) for m in members)
    )


def _is_user(value: Any, user_id: str) -> bool:
    # Exactly str: a subclass could redefine equality and still encode as another string.
    return type(value) is str and value == user_id


def _is_operator_document(spec: Mapping[str, Any]) -> bool:
    return bool(spec) and all(isinstance(key, str) and key.startswith("$") for key in spec)
