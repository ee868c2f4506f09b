"""Dotted paths through embedded documents and arrays, read the way MongoDB reads them."""

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from pymongo.errors import WriteError

PATH_NOT_VIABLE = 28


class _Missing:
    """The value at a path that a document does not have (distinct from null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

# Classes that cannot hold fields, checked before the slower Mapping test.
_SCALARS = frozenset([_Missing, type(None), str, int, float, bool])


@lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str, ...]:
    """The components of a dotted path: ``"a.0.b"`` -> ``("a", "0", "b")``."""
    return tuple(path.split("."))


def array_index(part: str) -> int | None:
    """The array position a path component names, or None when it is a field name."""
    if part.isdigit() and part.isascii():
        return int(part)
    return None


def path_values(doc: Any, parts: tuple[str, ...]) -> list[Any]:
    """Every value a query condition on `parts` must consider, before leaf arrays expand.

    A document without the field gives MISSING; an array on the way is crossed: each of
    its documents is followed, and a numeric component also picks that element. Scalars
    inside a crossed array give nothing, as in MongoDB (``{"a.b": null}`` does not match
    ``{a: [1]}`` but matches ``{a: [{}]}``).
    """
    value = doc
    for i, part in enumerate(parts):
        kind = value.__class__
        if kind is dict:
            value = value.get(part, MISSING)
        elif kind is list or (kind not in _SCALARS and isinstance(value, Mapping)):
            out: list[Any] = []
            _collect(value, parts, i, out)
            return out
        else:
            return [MISSING]
    return [value]


def _collect(value: Any, parts: tuple[str, ...], i: int, out: list[Any]) -> None:
    if i == len(parts):
        out.append(value)
        return
    part = parts[i]
    if _is_document(value):
        _collect(value.get(part, MISSING), parts, i + 1, out)
    elif value.__class__ is list:
        index = array_index(part)
        if index is not None:
            if index < len(value):
                _collect(value[index], parts, i + 1, out)
            # Documents in the array may also hold a field named like a number.
            for element in value:
                if _is_document(element) and part in element:
                    _collect(element[part], parts, i + 1, out)
            return
        for element in value:
            if _is_document(element):
                _collect(element.get(part, MISSING), parts, i + 1, out)
    else:
        out.append(MISSING)


def _is_document(value: Any) -> bool:
    kind = value.__class__
    return kind is dict or (
        kind not in _SCALARS and kind is not list and isinstance(value, Mapping)
    )


# --- writing -----------------------------------------------------------------------------


def _not_viable(message: str) -> WriteError:
    return WriteError(
        message, PATH_NOT_VIABLE, {"index": 0, "code": PATH_NOT_VIABLE, "errmsg": message}
    )


def get_at(container: Any, key: str | int) -> Any:
    """The value under `key` in a document or array, or MISSING."""
    if isinstance(container, list):
        return container[key] if isinstance(key, int) and key < len(container) else MISSING
    return container.get(key, MISSING)


def put_at(container: Any, key: str | int, value: Any) -> None:
    """Store `value` under `key`; an array too short is padded with null, as MongoDB does."""
    if isinstance(container, list):
        assert isinstance(key, int)
        if key >= len(container):
            container.extend([None] * (key + 1 - len(container)))
    container[key] = value


def container_of(
    doc: dict[str, Any], parts: tuple[str, ...], create: bool
) -> tuple[Any, str | int] | None:
    """The container holding the last component of `parts`, and its key there.

    With `create`, missing documents on the way are made (and short arrays padded with
    null); without it, None means the path does not exist.
    """
    current: Any = doc
    for depth, part in enumerate(parts):
        key: str | int = part
        if isinstance(current, list):
            index = array_index(part)
            if index is None:
                if not create:
                    return None
                raise _not_viable(
                    f"Cannot create field '{part}' in element {{{parts[depth - 1]}: {current!r}}}"
                )
            key = index
        if depth == len(parts) - 1:
            return current, key
        child = get_at(current, key)
        if child is MISSING:
            if not create:
                return None
            child = {}
            put_at(current, key, child)
        elif not isinstance(child, (dict, list)):
            if not create:
                return None
            raise _not_viable(
                f"Cannot create field '{parts[depth + 1]}' in element {{{part}: {child!r}}}"
            )
        current = child
    raise AssertionError("unreachable: paths have at least one component")
