"""The unified test format's rules for matching an expected value against an actual one.

``match`` follows "Evaluating Matches": special ``$$`` operators, extra fields allowed only
in root documents, arrays of equal length, numbers equal across int, long and double.
``match_exact`` is the stricter comparison the format asks for collection outcomes.
"""

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson import Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp

__all__ = ["MISSING", "Mismatch", "match", "match_each", "match_exact"]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""Stands for an absent field, so that operators like ``$$exists`` can see the absence."""


class Mismatch(AssertionError):
    """An actual value that does not match the expected one; the message names the path."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int32(value: Any) -> bool:
    return _is_int(value) and not isinstance(value, Int64) and -(2**31) <= value < 2**31


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "double": lambda v: isinstance(v, float),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
    "binData": lambda v: isinstance(v, bytes),
    "objectId": lambda v: isinstance(v, ObjectId),
    "bool": lambda v: isinstance(v, bool),
    "date": lambda v: isinstance(v, datetime.datetime),
    "null": lambda v: v is None,
    "regex": lambda v: isinstance(v, Regex | re.Pattern),
    "javascript": lambda v: isinstance(v, Code) and v.scope is None,
    "javascriptWithScope": lambda v: isinstance(v, Code) and v.scope is not None,
    "int": _is_int32,
    "long": lambda v: _is_int(v) and not _is_int32(v),
    "timestamp": lambda v: isinstance(v, Timestamp),
    "decimal": lambda v: isinstance(v, Decimal128),
    "minKey": lambda v: isinstance(v, MinKey),
    "maxKey": lambda v: isinstance(v, MaxKey),
    "number": lambda v: _is_number(v) or isinstance(v, Decimal128),
}


def _scalar_equal(expected: Any, actual: Any) -> bool:
    """Equality of two non-container values, numbers compared by value across types."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if _is_number(expected) and _is_number(actual):
        return bool(expected == actual)
    if isinstance(expected, bytes) and isinstance(actual, bytes):
        subtype = getattr(expected, "subtype", 0), getattr(actual, "subtype", 0)
        return subtype[0] == subtype[1] and bytes(expected) == bytes(actual)
    if isinstance(expected, Regex | re.Pattern) and isinstance(actual, Regex | re.Pattern):
        return _as_regex(expected) == _as_regex(actual)
    return type(expected) is type(actual) and bool(expected == actual)


def _as_regex(value: Regex[Any] | re.Pattern[Any]) -> tuple[Any, int]:
    regex = value if isinstance(value, Regex) else Regex.from_native(value)
    # Python adds re.UNICODE to every str pattern; BSON has no such flag.
    return regex.pattern, int(regex.flags) & ~re.UNICODE


def _operator(expected: Any) -> str | None:
    """The ``$$`` operator an expected value is, if it is one."""
    if isinstance(expected, Mapping) and len(expected) == 1:
        (key,) = expected
        if isinstance(key, str) and key.startswith("$$"):
            return key
    return None


def _fail(path: str, message: str) -> None:
    raise Mismatch(f"at {path}: {message}")


def match(
    expected: Any,
    actual: Any,
    *,
    root: bool = True,
    entities: Mapping[str, Any] | None = None,
    path: str = "result",
) -> None:
    """Assert ``actual`` matches ``expected``; raise ``Mismatch`` naming the first difference.

    ``root`` says whether ``actual`` is a root-level document, which may hold fields that
    ``expected`` does not name. ``entities`` resolves ``$$matchesEntity``.
    """
    entities = entities or {}
    operator = _operator(expected)
    if operator is not None:
        _apply(operator, expected[operator], actual, root, entities, path)
        return
    if actual is MISSING:
        _fail(path, f"expected {expected!r}, field is missing")
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            _fail(path, f"expected a document, got {actual!r}")
        for key, value in expected.items():
            child = actual.get(key, MISSING)
            match(value, child, root=False, entities=entities, path=f"{path}.{key}")
        extra = [key for key in actual if key not in expected]
        if not root and extra:
            _fail(path, f"unexpected fields {extra} in {actual!r}")
        return
    if isinstance(expected, list):
        _match_list(expected, actual, path, lambda e, a, p: match(e, a, root=False, path=p))
        return
    if not _scalar_equal(expected, actual):
        _fail(path, f"expected {expected!r}, got {actual!r}")


def match_each(
    expected: Sequence[Any],
    actual: Any,
    *,
    entities: Mapping[str, Any] | None = None,
    path: str = "result",
) -> None:
    """Match an iterable result (``find``, ``aggregate``): each document is root-level."""
    _match_list(
        expected, actual, path, lambda e, a, p: match(e, a, root=True, entities=entities, path=p)
    )


def match_exact(expected: Any, actual: Any, *, path: str = "outcome") -> None:
    """Assert equality with no extra fields anywhere; key order and number types are free."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            _fail(path, f"expected a document, got {actual!r}")
        missing = [key for key in expected if key not in actual]
        extra = [key for key in actual if key not in expected]
        if missing or extra:
            _fail(path, f"missing fields {missing}, extra fields {extra}, got {actual!r}")
        for key, value in expected.items():
            match_exact(value, actual[key], path=f"{path}.{key}")
    elif isinstance(expected, list):
        _match_list(expected, actual, path, lambda e, a, p: match_exact(e, a, path=p))
    elif not _scalar_equal(expected, actual):
        _fail(path, f"expected {expected!r}, got {actual!r}")


def _match_list(
    expected: Sequence[Any], actual: Any, path: str, item: Callable[[Any, Any, str], None]
) -> None:
    if not isinstance(actual, list):
        _fail(path, f"expected an array, got {actual!r}")
    if len(actual) != len(expected):
        _fail(path, f"expected {len(expected)} elements, got {len(actual)}: {actual!r}")
    for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
        item(e, a, f"{path}[{index}]")


def _apply(
    operator: str, argument: Any, actual: Any, root: bool, entities: Mapping[str, Any], path: str
) -> None:
    """Evaluate one special operator of the format against ``actual``."""
    if operator == "$$exists":
        if (actual is not MISSING) != argument:
            _fail(path, f"expected the field {'present' if argument else 'absent'}")
    elif operator == "$$unsetOrMatches":
        if actual is not MISSING:
            match(argument, actual, root=root, entities=entities, path=path)
    elif operator == "$$type":
        names = [argument] if isinstance(argument, str) else argument
        if actual is MISSING or not any(_TYPES[name](actual) for name in names):
            _fail(path, f"expected a value of type {names}, got {actual!r}")
    elif operator == "$$lte":
        if not (_is_number(actual) and actual <= argument):
            _fail(path, f"expected a number <= {argument!r}, got {actual!r}")
    elif operator == "$$matchesEntity":
        match(entities[argument], actual, root=root, entities=entities, path=path)
    elif operator == "$$matchAsRoot":
        match(argument, actual, root=True, entities=entities, path=path)
    else:
        raise ValueError(f"special operator {operator} is not supported by this runner")
