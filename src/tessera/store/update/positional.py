"""What the positional ``$`` of an update stands for: the position of the array element
the filter matched."""

from collections.abc import Callable, Mapping
from typing import Any

from tessera.store.query.filters import Condition, field_conditions, logical_list
from tessera.store.values.paths import MISSING, path_values, split_path


def compile_positional(
    query: Mapping[str, Any] | None,
) -> Callable[[Mapping[str, Any]], int | None]:
    """A function giving the index the positional ``$`` update operator stands for.

    That is the position, in the first array a filter path crosses, of the first element
    that satisfies the path's conditions; None when no condition crosses an array.
    """
    fields = _positional_fields(query or {})

    def position(doc: Mapping[str, Any]) -> int | None:
        for parts, conditions in fields:
            found = _first_matching_element(doc, parts, conditions)
            if found is not None:
                return found
        return None

    return position


def _positional_fields(query: Mapping[str, Any]) -> list[tuple[tuple[str, ...], list[Condition]]]:
    fields = []
    for key, spec in query.items():
        if key == "$and":
            for sub in logical_list(key, spec):
                fields.extend(_positional_fields(sub))
        elif not key.startswith("$"):
            fields.append((split_path(key), field_conditions(spec)))
    return fields


def _first_matching_element(
    doc: Mapping[str, Any], parts: tuple[str, ...], conditions: list[Condition]
) -> int | None:
    value: Any = doc
    for depth, part in enumerate(parts):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part, MISSING)
        if isinstance(value, list):
            rest = parts[depth + 1 :]
            for index, item in enumerate(value):
                if rest and not isinstance(item, Mapping):
                    continue
                # Alone in an array, the element still satisfies array operators.
                values = path_values(item, rest) if rest else [[item]]
                if all(c.many(values) for c in conditions):
                    return index
            return None
    return None
