"""The update operators on arrays: `$push` (with `$each`, `$position`, `$sort`, `$slice`),
`$addToSet`, `$pop`, `$pull` and `$pullAll`.

Each builder checks its argument once and returns the function that applies it to one
field of one document (see `update`); a field that is not an array is refused with
MongoDB's code.
"""

from collections.abc import Callable, Mapping
from typing import Any

from pymongo.errors import OperationFailure

from tessera.store.aggregation.expressions import is_number, type_name
from tessera.store.query.filters import (
    compile_conditions,
    compile_filter,
    equality_test,
    is_element_condition,
)
from tessera.store.query.query_regex import compile_regex, is_regex, regex_test
from tessera.store.query.sorting import normalize_sort, sort_key
from tessera.store.update.update_values import (
    BAD_VALUE,
    FAILED_TO_PARSE,
    TYPE_MISMATCH,
    Path,
    Run,
    dotted,
    stored_copy,
    write_error,
)
from tessera.store.values.ordering import SortKey, compare, hash_key, identical, sort_value
from tessera.store.values.paths import MISSING, container_of, get_at, put_at


def _array_at(doc: dict[str, Any], parts: Path, op: str, create: bool) -> Any:
    """The array at `parts` (MISSING when absent), refusing a non-array value."""
    found = container_of(doc, parts, create)
    if found is None:
        return MISSING
    value = get_at(*found)
    if value is not MISSING and not isinstance(value, list):
        code = TYPE_MISMATCH if op == "$pop" else BAD_VALUE
        raise write_error(
            f"Cannot apply {op} to a non-array value: the field '{dotted(parts)}' has type "
            f"{type_name(value)} in document {{_id: {doc.get('_id')!r}}}",
            code,
        )
    return value


def _replace_array(doc: dict[str, Any], parts: Path, old: Any, new: list[Any]) -> bool:
    if old is not MISSING and identical(old, new):
        return False
    container, key = container_of(doc, parts, True)  # type: ignore[misc]
    put_at(container, key, new)
    return True


def push(path: str, arg: Any) -> Run:
    if isinstance(arg, Mapping) and "$each" in arg:
        items, position, order, size = _push_modifiers(path, arg)
    else:
        items, position, order, size = [arg], None, None, None
    items = stored_copy(items)

    def run(doc: dict[str, Any], parts: Path, context: Any) -> bool:
        old = _array_at(doc, parts, "$push", True)
        new = list(old) if old is not MISSING else []
        added = stored_copy(items)
        at = len(new) if position is None else position
        if at < 0:
            at = max(0, len(new) + at)
        new[at:at] = added
        if order is not None:
            new.sort(key=order)
        if size is not None:
            new = new[:size] if size >= 0 else new[size:]
        return _replace_array(doc, parts, old, new)

    return run


def _push_modifiers(
    path: str, arg: Mapping[str, Any]
) -> tuple[list[Any], int | None, Callable[[Any], Any] | None, int | None]:
    for name in arg:
        if name not in ("$each", "$slice", "$sort", "$position"):
            raise write_error(f"Unrecognized clause in $push: {name}", BAD_VALUE)
    items = arg["$each"]
    if not isinstance(items, list):
        raise write_error(
            f"The argument to $each in $push must be an array but it was of type: "
            f"{type_name(items)}",
            BAD_VALUE,
        )
    position = _whole_number(arg, "$position")
    size = _whole_number(arg, "$slice")
    order = None
    if "$sort" in arg:
        order = _push_order(arg["$sort"])
    return items, position, order, size


def _whole_number(arg: Mapping[str, Any], name: str) -> int | None:
    if name not in arg:
        return None
    value = arg[name]
    key = sort_value(value) if is_number(value) else ()
    if len(key) != 3 or key[2] in (float("inf"), float("-inf")) or key[2] != int(key[2]):
        raise write_error(f"The value for {name} must be an integer value, not {value!r}", 2)
    return int(key[2])


def _push_order(spec: Any) -> Callable[[Any], Any]:
    if is_number(spec) and compare(spec, 1) == 0:
        return SortKey
    if is_number(spec) and compare(spec, -1) == 0:
        return lambda item: SortKey(item, reverse=True)
    if isinstance(spec, Mapping) and spec:
        try:
            key = sort_key(normalize_sort(spec))
        except (TypeError, OperationFailure):
            raise write_error(f"The $sort in $push is invalid: {spec!r}", BAD_VALUE) from None
        return lambda item: key(item if isinstance(item, Mapping) else {})
    raise write_error(
        f"The $sort in $push is invalid: use 1, -1 or a document of fields, not {spec!r}",
        BAD_VALUE,
    )


def add_to_set(path: str, arg: Any) -> Run:
    if isinstance(arg, Mapping) and "$each" in arg:
        if set(arg) != {"$each"}:
            raise write_error("Found unexpected fields after $each in $addToSet", BAD_VALUE)
        items = arg["$each"]
        if not isinstance(items, list):
            raise write_error(
                f"The argument to $each in $addToSet must be an array but it was of type "
                f"{type_name(items)}",
                BAD_VALUE,
            )
    else:
        items = [arg]
    items = stored_copy(items)

    def run(doc: dict[str, Any], parts: Path, context: Any) -> bool:
        old = _array_at(doc, parts, "$addToSet", True)
        new = list(old) if old is not MISSING else []
        seen = {hash_key(item) for item in new}
        for item in items:
            key = hash_key(item)
            if key not in seen:
                seen.add(key)
                new.append(stored_copy(item))
        return _replace_array(doc, parts, old, new)

    return run


def pop(path: str, arg: Any) -> Run:
    if not is_number(arg) or (compare(arg, 1) != 0 and compare(arg, -1) != 0):
        raise write_error(f"$pop expects 1 or -1, found: {arg!r}", FAILED_TO_PARSE)
    first = compare(arg, -1) == 0

    def run(doc: dict[str, Any], parts: Path, context: Any) -> bool:
        old = _array_at(doc, parts, "$pop", False)
        if old is MISSING or not old:
            return False
        return _replace_array(doc, parts, old, old[1:] if first else old[:-1])

    return run


def _pull_test(arg: Any) -> Callable[[Any], bool]:
    if is_element_condition(arg):
        conditions = compile_conditions(arg)
        return lambda item: all(c.element(item) for c in conditions)
    if isinstance(arg, Mapping):
        matches = compile_filter(arg)
        return lambda item: isinstance(item, Mapping) and matches(item)
    if is_regex(arg):
        return regex_test(compile_regex(arg, None))
    return equality_test(arg)


def _removing(op: str, test: Callable[[Any], bool]) -> Run:
    def run(doc: dict[str, Any], parts: Path, context: Any) -> bool:
        old = _array_at(doc, parts, op, False)
        if old is MISSING:
            return False
        kept = [item for item in old if not test(item)]
        return len(kept) != len(old) and _replace_array(doc, parts, old, kept)

    return run


def pull(path: str, arg: Any) -> Run:
    return _removing("$pull", _pull_test(arg))


def pull_all(path: str, arg: Any) -> Run:
    if not isinstance(arg, list):
        raise write_error(
            f"$pullAll requires an array argument but was given a {type_name(arg)}",
            BAD_VALUE,
        )
    keys = {hash_key(item) for item in arg}
    return _removing("$pullAll", lambda item: hash_key(item) in keys)
