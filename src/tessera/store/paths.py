"""Dotted paths through embedded documents and arrays, read the way MongoDB reads them."""

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final


class _Missing:
    """The value at a path that a document does not have (distinct from null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


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
    out: list[Any] = []
    _collect(doc, parts, 0, out)
    return out


def _collect(value: Any, parts: tuple[str, ...], i: int, out: list[Any]) -> None:
    if i == len(parts):
        out.append(value)
        return
    part = parts[i]
    if isinstance(value, Mapping):
        _collect(value.get(part, MISSING), parts, i + 1, out)
    elif isinstance(value, list):
        index = array_index(part)
        if index is not None:
            if index < len(value):
                _collect(value[index], parts, i + 1, out)
            # Documents in the array may also hold a field named like a number.
            for element in value:
                if isinstance(element, Mapping) and part in element:
                    _collect(element[part], parts, i + 1, out)
            return
        for element in value:
            if isinstance(element, Mapping):
                _collect(element.get(part, MISSING), parts, i + 1, out)
    else:
        out.append(MISSING)


def get_path(doc: Any, parts: tuple[str, ...]) -> Any:
    """The single value at `parts`, indexing arrays only by numeric components; or MISSING."""
    value = doc
    for part in parts:
        if isinstance(value, Mapping):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            index = array_index(part)
            if index is None or index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value
