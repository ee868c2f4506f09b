"""Sort specifications as PyMongo accepts them, and Python sort keys in BSON order."""

from collections.abc import Callable, Mapping
from typing import Any

from pymongo.errors import OperationFailure

from tessera.store.query.text import score_of
from tessera.store.values.ordering import (
    EMPTY_ARRAY_KEY,
    NULL,
    NUMBER,
    SortKey,
    sort_value,
    type_rank,
)
from tessera.store.values.paths import MISSING, path_values, split_path

SortSpec = list[tuple[str, int]]


class _TextScore(int):
    """The direction of a ``{"$meta": "textScore"}`` sort: its own object, so a plain 2
    given as a direction is still refused."""


#: Sorts by text score, highest first.
TEXT_SCORE = _TextScore(2)

_NULL_KEY = (NULL,)


def normalize_sort(spec: Any, direction: Any = None) -> SortSpec:
    """``[(field, 1 | -1), ...]`` from any form PyMongo's ``sort()`` accepts.

    That is a field name (with an optional direction), a list of ``(field, direction)``
    pairs or of field names, or a mapping; None means no sort.
    """
    if spec is None:
        return []
    if isinstance(spec, str):
        return [(spec, _direction(spec, 1 if direction is None else direction))]
    if direction is not None:
        raise TypeError("a sort direction goes with a single field name, not with a list")
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        items = [_pair(item) for item in spec]
    else:
        raise TypeError(
            f"sort must be a field name, a list of (field, direction) pairs or a dict, "
            f"not {type(spec).__name__}"
        )
    normalized = []
    for field, value in items:
        if not isinstance(field, str) or not field:
            raise TypeError(f"sort field names must be non-empty strings, not {field!r}")
        normalized.append((field, _direction(field, value)))
    return normalized


def _pair(item: Any) -> tuple[Any, Any]:
    if isinstance(item, str):
        return (item, 1)
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return (item[0], item[1])
    raise TypeError(f"sort list items must be (field, direction) pairs, not {item!r}")


def _direction(field: str, value: Any) -> int:
    if value is TEXT_SCORE:  # a sort normalized before
        return TEXT_SCORE
    if type_rank(value) == NUMBER and not isinstance(value, bool):
        key = sort_value(value)
        if key in (sort_value(1), sort_value(-1)):
            return int(key[2])
    if isinstance(value, Mapping) and value.get("$meta") is not None:
        if dict(value) == {"$meta": "textScore"}:
            return TEXT_SCORE
        raise OperationFailure(f"$meta sort {value!r} on {field!r} is not supported", 2)
    message = (
        f"$sort key ordering must be 1 (for ascending) or -1 (for descending), "
        f"got {value!r} for {field!r}"
    )
    raise OperationFailure(message, 15975, {"ok": 0, "errmsg": message, "code": 15975})


def _field_sort_key(value: Any, descending: bool) -> tuple:
    """The key one reached value sorts by: an array by its smallest element ascending,
    by its largest descending, an empty array below null."""
    if value.__class__ is not list:
        return sort_value(value)
    if not value:
        return EMPTY_ARRAY_KEY
    keys = [sort_value(item) for item in value]
    return max(keys) if descending else min(keys)


def _path_sort_key(doc: Mapping[str, Any], parts: tuple[str, ...], descending: bool) -> tuple:
    if len(parts) == 1:
        return _field_sort_key(doc.get(parts[0], MISSING), descending)
    keys = [_field_sort_key(value, descending) for value in path_values(doc, parts)]
    if not keys:
        return _NULL_KEY
    return max(keys) if descending else min(keys)


def sort_key(spec: SortSpec) -> Callable[[Mapping[str, Any]], Any]:
    """A key function for Python's ``sorted`` that orders documents as MongoDB sorts them."""
    if any(direction is TEXT_SCORE for _, direction in spec):
        return _scored_key(spec)
    fields = [(split_path(field), direction < 0) for field, direction in spec]
    if len(fields) == 1 and not fields[0][1]:
        parts = fields[0][0]
        return lambda doc: _path_sort_key(doc, parts, False)
    if all(not descending for _, descending in fields):
        return lambda doc: tuple(_path_sort_key(doc, parts, False) for parts, _ in fields)

    def key(doc: Mapping[str, Any]) -> tuple:
        return tuple(
            SortKey.from_key(_path_sort_key(doc, parts, descending), descending)
            for parts, descending in fields
        )

    return key


def _scored_key(spec: SortSpec) -> Callable[[Mapping[str, Any]], Any]:
    """The key of a sort with a textScore part (which reads the score, not a field)."""
    parts = [
        (lambda doc: -score_of(doc)) if direction is TEXT_SCORE else sort_key([(name, direction)])
        for name, direction in spec
    ]
    return lambda doc: tuple(part(doc) for part in parts)
