"""MongoDB update documents: validated once, then applied to documents in place.

`compile_update` checks the whole update before any document is touched and returns a
function that applies it; `apply_update` does both for one document. Operators work on a
copy that replaces the document's contents only when all of them succeeded, so a failing
update leaves the document as it was. An update given as a list is an aggregation pipeline
(MongoDB 4.2+), which rebuilds the document as a replacement would. Errors are PyMongo's
`WriteError` with MongoDB's codes (a failing pipeline expression raises `OperationFailure`).
The array operators live in `update_arrays`, an upsert's starting document in `upserts`.
"""

import datetime
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.timestamp import Timestamp

from tessera.store.aggregation.aggregate import apply_update_pipeline, check_update_pipeline
from tessera.store.aggregation.expressions import type_name
from tessera.store.bounds.limits import DOCUMENT_BYTES, OBJECT_TOO_LARGE, approximate_size
from tessera.store.query.filters import compile_filter
from tessera.store.update import update_arrays
from tessera.store.update.positional import compile_positional
from tessera.store.update.update_values import (
    BAD_VALUE,
    CONFLICTING_UPDATE,
    DOLLAR_PREFIXED_FIELD,
    EMPTY_PATH,
    FAILED_TO_PARSE,
    IMMUTABLE_FIELD,
    TYPE_MISMATCH,
    Path,
    Run,
    arithmetic,
    dotted,
    is_number,
    stored_copy,
    write_error,
)
from tessera.store.values.ordering import (
    compare,
    identical,
)
from tessera.store.values.paths import (
    MISSING,
    array_index,
    container_of,
    get_at,
    put_at,
    split_path,
)

_TIMESTAMP_INCREMENTS = itertools.count(1)

Apply = Callable[..., bool]


# --- one operator on one field -----------------------------------------------------------


class _Context:
    """What applying an update to one document needs beyond the update itself."""

    __slots__ = ("_position", "filters", "inserting", "original", "positional")

    def __init__(
        self,
        original: Mapping[str, Any],
        positional: Callable[[Mapping[str, Any]], int | None] | None,
        filters: dict[str, Callable[[Any], bool]],
        inserting: bool,
    ) -> None:
        self.original = original
        self.positional = positional
        self.filters = filters
        self.inserting = inserting
        self._position: int | None = None

    def position(self) -> int:
        if self._position is None:
            found = self.positional(self.original) if self.positional else None
            if found is None:
                raise write_error(
                    "The positional operator did not find the match needed from the query.",
                    BAD_VALUE,
                )
            self._position = found
        return self._position

    def expand(self, doc: dict[str, Any], step: "_Step") -> list[Path]:
        """The concrete paths a path with ``$``, ``$[]`` or ``$[id]`` stands for."""
        if not step.positional:
            return [step.parts]
        out: list[Path] = []
        self._expand(doc, step.parts, 0, (), out)
        return out

    def _expand(self, value: Any, parts: Path, i: int, prefix: Path, out: list[Path]) -> None:
        if i == len(parts):
            out.append(prefix)
            return
        part = parts[i]
        if part == "$":
            part = str(self.position())
        elif part.startswith("$["):
            if not isinstance(value, list):
                raise write_error(
                    f"The path '{dotted(prefix)}' must exist in the document in order to "
                    f"apply array updates.",
                    BAD_VALUE,
                )
            test = self.filters.get(part[2:-1]) if part != "$[]" else None
            for index, item in enumerate(value):
                if test is None or test(item):
                    self._expand(item, parts, i + 1, (*prefix, str(index)), out)
            return
        if isinstance(value, Mapping):
            child = value.get(part, MISSING)
        elif isinstance(value, list) and array_index(part) is not None:
            child = get_at(value, array_index(part))  # type: ignore[arg-type]
        else:
            child = MISSING
        self._expand(child, parts, i + 1, (*prefix, part), out)


class _Step:
    """One field of one operator, e.g. ``{"$inc": {"n": 1}}``'s ``n``."""

    __slots__ = ("parts", "path", "positional", "run", "targets")

    def __init__(self, path: str, run: Run, targets: list[Path]) -> None:
        self.path = path
        self.parts = split_path(path)
        self.run = run
        self.targets = targets
        self.positional = any(p == "$" or p.startswith("$[") for p in self.parts)


def _check_path(path: Any) -> Path:
    if not isinstance(path, str) or not path:
        raise write_error("An empty update path is not valid.", EMPTY_PATH)
    parts = split_path(path)
    if "" in parts:
        raise write_error(
            f"The update path '{path}' contains an empty field name, which is not allowed.",
            EMPTY_PATH,
        )
    if parts[0].startswith("$"):
        raise write_error(
            f"The dollar ($) prefixed field '{parts[0]}' in '{path}' is not valid for storage.",
            DOLLAR_PREFIXED_FIELD,
        )
    if parts.count("$") > 1:
        raise write_error(f"Too many positional (i.e. '$') elements found in path '{path}'", 2)
    for part in parts:
        if part.startswith("$") and part != "$" and not (part.startswith("$[") and part[-1] == "]"):
            raise write_error(
                f"The dollar ($) prefixed field '{part}' in '{path}' is not valid for storage.",
                DOLLAR_PREFIXED_FIELD,
            )
    return parts


def _step(op: str, path: Any, arg: Any) -> _Step:
    parts = _check_path(path)
    targets = [parts]
    if op == "$rename":
        dest = _rename_target(path, arg)
        targets.append(dest)
        return _Step(path, _rename(parts, dest), targets)
    return _Step(path, _BUILDERS[op](path, arg), targets)


def _set_value(value: Any) -> Run:
    def run(doc: dict[str, Any], parts: Path, context: _Context) -> bool:
        container, key = container_of(doc, parts, True)  # type: ignore[misc]
        if identical(get_at(container, key), value):
            return False
        put_at(container, key, stored_copy(value))
        return True

    return run


def _set(path: str, arg: Any) -> Run:
    return _set_value(stored_copy(arg))


def _set_on_insert(path: str, arg: Any) -> Run:
    set_value = _set_value(stored_copy(arg))
    return lambda doc, parts, context: context.inserting and set_value(doc, parts, context)


def _unset(path: str, arg: Any) -> Run:
    def run(doc: dict[str, Any], parts: Path, context: _Context) -> bool:
        found = container_of(doc, parts, False)
        if found is None:
            return False
        container, key = found
        if get_at(container, key) is MISSING:
            return False
        if isinstance(container, list):
            # Removing an element would shift the others: MongoDB sets it to null.
            was_null = container[key] is None  # type: ignore[index]
            container[key] = None  # type: ignore[index]
            return not was_null
        del container[key]
        return True

    return run


def _arithmetic_step(op: str) -> Callable[[str, Any], Run]:
    verb = "increment" if op == "$inc" else "multiply"

    def build(path: str, arg: Any) -> Run:
        if not is_number(arg):
            raise write_error(
                f"Cannot {verb} with non-numeric argument: {{{path}: {arg!r}}}", TYPE_MISMATCH
            )

        def run(doc: dict[str, Any], parts: Path, context: _Context) -> bool:
            container, key = container_of(doc, parts, True)  # type: ignore[misc]
            old = get_at(container, key)
            if old is MISSING:
                new = arg if op == "$inc" else _zero_like(arg)
            elif not is_number(old):
                raise write_error(
                    f"Cannot apply {op} to a value of non-numeric type. "
                    f"{{_id: {doc.get('_id')!r}}} has the field '{dotted(parts)}' of "
                    f"non-numeric type {type_name(old)}",
                    TYPE_MISMATCH,
                )
            else:
                new = arithmetic(op, old, arg)
            if identical(old, new):
                return False
            put_at(container, key, new)
            return True

        return run

    return build


def _zero_like(number: Any) -> Any:
    if isinstance(number, Decimal128):
        return Decimal128("0")
    if isinstance(number, float):
        return 0.0
    return Int64(0) if isinstance(number, Int64) else 0


def _extreme(op: str) -> Callable[[str, Any], Run]:
    wanted = -1 if op == "$min" else 1

    def build(path: str, arg: Any) -> Run:
        value = stored_copy(arg)

        def run(doc: dict[str, Any], parts: Path, context: _Context) -> bool:
            container, key = container_of(doc, parts, True)  # type: ignore[misc]
            old = get_at(container, key)
            if old is not MISSING and compare(value, old) != wanted:
                return False
            put_at(container, key, stored_copy(value))
            return True

        return run

    return build


def _current_date(path: str, arg: Any) -> Run:
    if isinstance(arg, Mapping):
        kind = arg.get("$type")
        if set(arg) != {"$type"} or kind not in ("date", "timestamp"):
            raise write_error(
                "The '$type' string field is required to be 'date' or 'timestamp': "
                "{$currentDate: {field : {$type: 'date'}}}",
                BAD_VALUE,
            )
    elif isinstance(arg, bool):
        kind = "date"
    else:
        raise write_error(
            f"{path} is not valid to set as a $currentDate: use true or {{$type: 'date'}}",
            BAD_VALUE,
        )

    def run(doc: dict[str, Any], parts: Path, context: _Context) -> bool:
        if kind == "timestamp":
            now: Any = Timestamp(int(time.time()), next(_TIMESTAMP_INCREMENTS) % 2**32)
        else:
            now = stored_copy(datetime.datetime.now(datetime.UTC))
        return _set_value(now)(doc, parts, context)

    return run


def _rename_target(path: str, arg: Any) -> Path:
    if not isinstance(arg, str):
        raise write_error(f"The 'to' field for $rename must be a string: {path}: {arg!r}", 2)
    dest = _check_path(arg)
    source = split_path(path)
    if any(p.startswith("$") for p in source + dest):
        raise write_error(f"The source and target field for $rename may not be dynamic: {path}", 2)
    if source == dest:
        raise write_error(f"The source and target field for $rename must differ: {path}", 2)
    shorter = min(len(source), len(dest))
    if source[:shorter] == dest[:shorter]:
        raise write_error(
            f"The source and target field for $rename must not be on the same path: "
            f"{path}: {arg!r}",
            2,
        )
    return dest


def _rename(source: Path, dest: Path) -> Run:
    def run(doc: dict[str, Any], parts: Path, context: _Context) -> bool:
        found = _no_array_parent(doc, source, "source")
        if found is None or get_at(*found) is MISSING:
            return False
        container, key = found
        value = container.pop(key)
        _no_array_parent(doc, dest, "destination")
        target, name = container_of(doc, dest, True)  # type: ignore[misc]
        put_at(target, name, value)
        return True

    return run


def _no_array_parent(doc: dict[str, Any], parts: Path, role: str) -> tuple[Any, Any] | None:
    current: Any = doc
    for part in parts[:-1]:
        current = current.get(part, MISSING) if isinstance(current, Mapping) else MISSING
        if isinstance(current, list):
            raise write_error(
                f"The {role} field cannot be an array element, '{dotted(parts)}' in doc with "
                f"{part}: {current!r}",
                2,
            )
        if current is MISSING:
            return None
    return (current, parts[-1]) if isinstance(current, dict) else None


_BUILDERS: dict[str, Callable[[str, Any], Run]] = {
    "$set": _set,
    "$setOnInsert": _set_on_insert,
    "$unset": _unset,
    "$inc": _arithmetic_step("$inc"),
    "$mul": _arithmetic_step("$mul"),
    "$min": _extreme("$min"),
    "$max": _extreme("$max"),
    "$currentDate": _current_date,
    "$push": update_arrays.push,
    "$addToSet": update_arrays.add_to_set,
    "$pop": update_arrays.pop,
    "$pull": update_arrays.pull,
    "$pullAll": update_arrays.pull_all,
}
OPERATORS = frozenset([*_BUILDERS, "$rename"])


# --- whole updates -----------------------------------------------------------------------


def _check_conflicts(steps: list[_Step]) -> None:
    targets = sorted((t, step.path) for step in steps for t in step.targets)
    for (first, _), (second, _) in itertools.pairwise(targets):
        if second[: len(first)] == first:
            raise write_error(
                f"Updating the path '{dotted(second)}' would create a conflict at "
                f"'{dotted(first)}'",
                CONFLICTING_UPDATE,
            )


def _array_filters(array_filters: Sequence[Mapping[str, Any]] | None) -> dict[str, Callable]:
    filters: dict[str, Callable[[Any], bool]] = {}
    for spec in array_filters or []:
        if not isinstance(spec, Mapping) or not spec:
            raise write_error("Cannot use an expression without a top-level field name", 9)
        names = {split_path(key)[0] for key in spec}
        if len(names) != 1:
            raise write_error(
                f"Error parsing array filter: expected a single top-level field name, found "
                f"{sorted(names)}",
                9,
            )
        (name,) = names
        if not (name[:1].islower() and name.isalnum() and name.isascii()):
            raise write_error(
                f"Error parsing array filter: the top-level field name must be an "
                f"alphanumeric string beginning with a lowercase letter, found '{name}'",
                BAD_VALUE,
            )
        if name in filters:
            raise write_error(
                f"Found multiple array filters with the same top-level field name {name}", 9
            )
        filters[name] = _array_filter(name, compile_filter(spec))
    return filters


def _array_filter(name: str, matches: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda item: matches({name: item})


def _check_identifiers(steps: list[_Step], filters: dict[str, Callable]) -> None:
    used = set()
    for step in steps:
        for part in step.parts:
            if part.startswith("$[") and part != "$[]":
                name = part[2:-1]
                if name not in filters:
                    raise write_error(
                        f"No array filter found for identifier '{name}' in path '{step.path}'",
                        BAD_VALUE,
                    )
                used.add(name)
    for name in filters:
        if name not in used:
            raise write_error(
                f"The array filter for identifier '{name}' was not used in the update", 9
            )


def compile_update(
    update: Any,
    *,
    query: Mapping[str, Any] | None = None,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
) -> Apply:
    """Validate `update` and return ``apply(doc, inserting=False) -> changed``.

    Compile once for ``update_many``: nothing is parsed again per document.
    """
    if isinstance(update, list):
        return _compile_pipeline(update, array_filters)
    steps = _parse(update)
    filters = _array_filters(array_filters)
    _check_identifiers(steps, filters)
    positional = compile_positional(query) if any(s.positional for s in steps) else None

    def apply(doc: dict[str, Any], inserting: bool = False) -> bool:
        work = stored_copy(doc)
        context = _Context(doc, positional, filters, inserting)
        changed = False
        for step in steps:
            for parts in context.expand(work, step):
                changed = step.run(work, parts, context) or changed
        if not changed:
            return False
        if not inserting and "_id" in doc and not identical(work.get("_id", MISSING), doc["_id"]):
            raise write_error(
                "Performing an update on the path '_id' would modify the immutable field '_id'",
                IMMUTABLE_FIELD,
            )
        doc.clear()
        doc.update(work)
        return True

    return apply


def _compile_pipeline(
    pipeline: list[Any], array_filters: Sequence[Mapping[str, Any]] | None
) -> Apply:
    """An update pipeline's ``apply``: the pipeline's output replaces the document, which
    keeps its `_id` (changing it is error 66) and counts as unchanged when identical."""
    if array_filters:
        raise write_error(
            "arrayFilters may not be specified for pipeline-style updates", FAILED_TO_PARSE
        )
    stages = check_update_pipeline(pipeline)

    def apply(doc: dict[str, Any], inserting: bool = False) -> bool:
        made = apply_update_pipeline(doc, stages)
        if approximate_size(made) > 2 * DOCUMENT_BYTES:  # about twice its BSON at most
            # Refused before copying: a pipeline's values may share parts, each copied.
            message = f"Resulting document after update is larger than {DOCUMENT_BYTES}"
            raise write_error(message, OBJECT_TOO_LARGE)
        new = stored_copy(made)
        # An upsert's new document may take its `_id` from the pipeline, as from $set.
        if not (inserting and "_id" in new):
            new = _keep_id(doc, new)
        if identical(new, doc):
            return False
        doc.clear()
        doc.update(new)
        return True

    return apply


def _parse(update: Any) -> list[_Step]:
    if not isinstance(update, Mapping) or not update:
        raise write_error("an update must be a non-empty document of update operators", 9)
    steps: list[_Step] = []
    for op, fields in update.items():
        if op not in OPERATORS:
            if isinstance(op, str) and op.startswith("$"):
                message = f"Unknown modifier: {op}. Expected a valid update modifier"
            else:
                message = f"an update document may only contain operators, not the field {op!r}"
            raise write_error(message, FAILED_TO_PARSE)
        if not isinstance(fields, Mapping):
            raise write_error(
                f"Modifiers operate on fields but we found type {type_name(fields)} "
                f"instead. For example: {{$mod: {{<field>: ...}}}} not {{{op}: ...}}",
                FAILED_TO_PARSE,
            )
        steps.extend(_step(op, path, arg) for path, arg in fields.items())
    _check_conflicts(steps)
    # MongoDB applies fields in name order, so new fields appear in that order.
    steps.sort(key=lambda step: step.parts)
    return steps


def validate_update(update: Any, array_filters: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Raise WriteError if `update` is not a valid update document (nothing is touched).

    The ``$[<id>]`` identifiers are checked against `array_filters` only when given.
    """
    if isinstance(update, list):
        _compile_pipeline(update, array_filters)
        return
    steps = _parse(update)
    if array_filters is not None:
        _check_identifiers(steps, _array_filters(array_filters))


def apply_update(
    doc: dict[str, Any],
    update: Mapping[str, Any] | list[Any],
    *,
    query: Mapping[str, Any] | None = None,
    array_filters: Sequence[Mapping[str, Any]] | None = None,
    inserting: bool = False,
) -> bool:
    """Apply `update` to `doc` in place; True when the document changed.

    `query` is the filter that selected the document (for the positional ``$``);
    `inserting` is True for the document an upsert creates (``$setOnInsert`` applies).
    """
    return compile_update(update, query=query, array_filters=array_filters)(doc, inserting)


def apply_replacement(old: Mapping[str, Any], replacement: Mapping[str, Any]) -> dict[str, Any]:
    """The document that replaces `old`: `replacement` with `old`'s ``_id`` first."""
    if not isinstance(replacement, Mapping):
        raise write_error("a replacement must be a document", BAD_VALUE)
    for key in replacement:
        if isinstance(key, str) and key.startswith("$"):
            raise write_error(
                f"a replacement document cannot contain update operators, found {key!r}: "
                f"use update_one for operators",
                BAD_VALUE,
            )
    return _keep_id(old, stored_copy(replacement))


def _keep_id(old: Mapping[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` with `old`'s `_id` first; WriteError 66 when `new` has a different one."""
    if "_id" not in old:
        return new
    if "_id" in new and not identical(new["_id"], old["_id"]):
        raise write_error(
            f"After applying the update, the (immutable) field '_id' was found to have been "
            f"altered to _id: {new['_id']!r}",
            IMMUTABLE_FIELD,
        )
    new.pop("_id", None)
    return {"_id": old["_id"], **new}
