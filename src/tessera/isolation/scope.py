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


def pin_first(query: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    """``query``, which pins ``user_id``, with the plain pin ``{"user_id": user_id}`` as its
    first clause, and the pins it made elsewhere (in ``$and``, as ``$eq`` or ``$in``)
    taken out, since the first one says them all (an upsert would refuse them twice).

    A store that evaluates clauses in order then tests the owner before anything else, so
    no other user's document ever meets the rest of the filter: an error it raised there
    (``$toInt`` of a secret), or the time it took, would tell the caller about that document.
    """
    if next(iter(query), None) == "user_id" and _is_user(query["user_id"], user_id):
        return query if isinstance(query, dict) else dict(query)
    rest = _without_pins(query, user_id)
    others = rest.pop("user_id", None)
    if others is not None:
        clauses = rest.get("$and", [])
        clauses = clauses if isinstance(clauses, list) else [{"$and": clauses}]
        rest["$and"] = [{"user_id": others}, *clauses]
    return {"user_id": user_id, **rest}


def _without_pins(query: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    rest: dict[str, Any] = {}
    for key, value in query.items():
        if key == "user_id":
            others = _without_pin_operators(value, user_id)
            if others:
                rest["user_id"] = others
        elif key == "$and" and isinstance(value, list):
            clauses = [_without_pins(c, user_id) if isinstance(c, Mapping) else c for c in value]
            clauses = [c for c in clauses if c != {}]
            if clauses:
                rest["$and"] = clauses
        else:
            rest[key] = value
    return rest


def _without_pin_operators(spec: Any, user_id: str) -> Any:
    """What a ``user_id`` condition asks beyond equality with the caller (None: nothing)."""
    if _is_user(spec, user_id):
        return None
    if not isinstance(spec, Mapping) or not _is_operator_document(spec):
        return spec
    others = {
        k: v for k, v in spec.items() if k not in ("$eq", "$in") or not _pins_value({k: v}, user_id)
    }
    return others or None


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
