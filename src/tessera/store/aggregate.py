"""MongoDB aggregation pipelines run over plain Python documents.

`run_pipeline` applies the stages in order to a list of documents. It never changes the
documents it is given: stages that add or remove fields build new ones. `$lookup` and
`$unionWith` read other collections through the `resolve` callable the engine passes.
"""

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bson.decimal128 import Decimal128

from tessera.store.expressions import (
    average,
    check_field_name,
    evaluate,
    extreme,
    failure,
    field_path,
    is_number,
    merge_documents,
    std_dev,
    sum_numbers,
    type_name,
)
from tessera.store.ordering import hash_key
from tessera.store.paths import MISSING, path_values, split_path
from tessera.store.query import compile_filter
from tessera.store.sorting import normalize_sort, sort_key

Resolve = Callable[[str], Iterable[dict[str, Any]]]
Documents = list[dict[str, Any]]


class _Run:
    """What every stage of one pipeline run shares: other collections and variables."""

    __slots__ = ("cache", "resolve", "variables")

    def __init__(
        self, resolve: Resolve, variables: Mapping[str, Any], cache: dict[str, Documents]
    ) -> None:
        self.resolve = resolve
        self.variables = variables
        self.cache = cache

    def collection(self, name: Any) -> Documents:
        """The documents of collection `name`, read once per run."""
        if not isinstance(name, str) or not name:
            raise failure(2, f"collection name must be a non-empty string, not {name!r}")
        if name not in self.cache:
            self.cache[name] = list(self.resolve(name))
        return self.cache[name]

    def evaluate(self, expr: Any, doc: Mapping[str, Any]) -> Any:
        return evaluate(expr, doc, self.variables)

    def with_variables(self, variables: Mapping[str, Any]) -> "_Run":
        return _Run(self.resolve, {**self.variables, **variables}, self.cache)


_Stage = Callable[[Documents, Any, _Run], Documents]
_STAGES: dict[str, _Stage] = {}


def _stage(name: str) -> Callable[[_Stage], _Stage]:
    def register(fn: _Stage) -> _Stage:
        _STAGES[name] = fn
        return fn

    return register


def run_pipeline(
    docs: Iterable[dict[str, Any]], pipeline: Sequence[Mapping[str, Any]], *, resolve: Resolve
) -> Documents:
    """The documents that `pipeline` produces from `docs`.

    `resolve(name)` yields the documents of another collection of the same database, for
    `$lookup` and `$unionWith`. Raises `OperationFailure` with MongoDB's code for an
    unknown stage or a malformed one.
    """
    return _run(list(docs), pipeline, _Run(resolve, {}, {}))


def _run(docs: Documents, pipeline: Any, run: _Run) -> Documents:
    for stage in _stages(pipeline):
        name, arg = _stage_parts(stage)
        docs = _STAGES[name](docs, arg, run)
    return docs


def _stages(pipeline: Any) -> list[Mapping[str, Any]]:
    if not isinstance(pipeline, (list, tuple)):
        raise failure(14, f"'pipeline' option must be specified as an array, not {pipeline!r}")
    for stage in pipeline:
        _stage_parts(stage)
    return list(pipeline)


def _stage_parts(stage: Any) -> tuple[str, Any]:
    if not isinstance(stage, Mapping) or len(stage) != 1:
        raise failure(
            40323, "A pipeline stage specification object must contain exactly one field."
        )
    ((name, arg),) = stage.items()
    if name in ("$out", "$merge"):
        raise failure(
            40324, f"{name} is not supported by the embedded store: insert the results instead"
        )
    if name not in _STAGES:
        raise failure(40324, f"Unrecognized pipeline stage name: '{name}'")
    return name, arg


def pipeline_collections(pipeline: Sequence[Mapping[str, Any]]) -> set[str]:
    """Every collection `pipeline` reads besides its own: `$lookup`, `$unionWith`,
    `$graphLookup` sources, including those inside sub-pipelines and `$facet`."""
    names: set[str] = set()
    for stage in pipeline:
        if not isinstance(stage, Mapping):
            continue
        for name, arg in stage.items():
            if name in ("$lookup", "$graphLookup") and isinstance(arg, Mapping):
                if isinstance(arg.get("from"), str):
                    names.add(arg["from"])
                names |= pipeline_collections(arg.get("pipeline") or [])
            elif name == "$unionWith":
                coll = (
                    arg
                    if isinstance(arg, str)
                    else arg.get("coll")
                    if isinstance(arg, Mapping)
                    else None
                )
                if isinstance(coll, str):
                    names.add(coll)
                if isinstance(arg, Mapping):
                    names |= pipeline_collections(arg.get("pipeline") or [])
            elif name == "$facet" and isinstance(arg, Mapping):
                for sub in arg.values():
                    if isinstance(sub, (list, tuple)):
                        names |= pipeline_collections(sub)
    return names


def split_leading_match(
    pipeline: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, Any] | None, list[Mapping[str, Any]]]:
    """The filter of the pipeline's leading `$match` stages (joined with `$and`), which an
    engine can answer with an index, and the stages that remain."""
    filters: list[Mapping[str, Any]] = []
    rest = list(pipeline)
    while rest and _is_match(rest[0]):
        filters.append(rest.pop(0)["$match"])
    if not filters:
        return None, rest
    if len(filters) == 1:
        return dict(filters[0]), rest
    return {"$and": [dict(f) for f in filters]}, rest


def _is_match(stage: Any) -> bool:
    return (
        isinstance(stage, Mapping)
        and list(stage) == ["$match"]
        and isinstance(stage["$match"], Mapping)
    )


# --- filtering, ordering and paging --------------------------------------------------------


@_stage("$match")
def _match(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(15959, "the match filter must be an expression in an object")
    if run.variables:
        arg = _bind_variables(arg, run.variables)
    matches = compile_filter(arg)
    return [doc for doc in docs if matches(doc)]


def _bind_variables(query: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    """`query` with each `$expr` wrapped in a `$let` that binds `variables` (for `$lookup`)."""
    bound: dict[str, Any] = {}
    names = {name: {"$literal": value} for name, value in variables.items()}
    for key, value in query.items():
        if key == "$expr":
            bound[key] = {"$let": {"vars": names, "in": value}}
        elif key in ("$and", "$or", "$nor") and isinstance(value, list):
            bound[key] = [
                _bind_variables(q, variables) if isinstance(q, Mapping) else q for q in value
            ]
        else:
            bound[key] = value
    return bound


@_stage("$sort")
def _sort(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(15973, "the $sort key specification must be an object")
    if not arg:
        raise failure(15976, "$sort stage must have at least one sort key")
    return sorted(docs, key=sort_key(normalize_sort(arg)))


def _count_argument(stage: str, arg: Any, codes: tuple[int, int]) -> int:
    not_number, negative = codes
    number = arg.to_decimal() if isinstance(arg, Decimal128) else arg
    if not is_number(arg) or number != int(number):
        raise failure(not_number, f"{stage} requires an integral number, not {arg!r}")
    if number < 0:
        raise failure(negative, f"{stage} requires a non-negative number, not {arg!r}")
    return int(number)


@_stage("$skip")
def _skip(docs: Documents, arg: Any, run: _Run) -> Documents:
    return docs[_count_argument("$skip", arg, (15972, 15956)) :]


@_stage("$limit")
def _limit(docs: Documents, arg: Any, run: _Run) -> Documents:
    limit = _count_argument("$limit", arg, (15957, 15958))
    if limit == 0:
        raise failure(15958, "the limit must be positive")
    return docs[:limit]


@_stage("$sample")
def _sample(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping) or "size" not in arg:
        raise failure(28749, "$sample stage must specify a size")
    size = _count_argument("$sample", arg["size"], (28746, 28747))
    return random.sample(docs, min(size, len(docs)))


@_stage("$count")
def _count(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, str) or not arg:
        raise failure(40156, "the count field must be a non-empty string")
    if arg.startswith("$"):
        raise failure(40158, "the count field cannot be a $-prefixed path")
    if "." in arg:
        raise failure(40160, "the count field cannot contain '.'")
    return [{arg: len(docs)}] if docs else []


# --- reshaping documents -------------------------------------------------------------------

_INCLUDE = "include"
_EXCLUDE = "exclude"


class _Computed:
    """A field whose value is an expression."""

    __slots__ = ("expr",)

    def __init__(self, expr: Any) -> None:
        self.expr = expr


# A field tree: field name -> _INCLUDE, _EXCLUDE, _Computed or a nested tree.
_Tree = dict[str, Any]


def _is_expression_object(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and next(iter(value)).startswith("$")


def _field_tree(stage: str, spec: Mapping[str, Any], flags: bool) -> _Tree:
    """Parse a `$project` (`flags`: 0/1 mean exclude/include) or `$addFields` spec."""
    tree: _Tree = {}
    for path, value in spec.items():
        if not isinstance(path, str) or not path:
            raise failure(40352, f"{stage}: field paths must be non-empty strings, not {path!r}")
        parts = path.split(".")
        for part in parts:
            check_field_name(part)
        if isinstance(value, Mapping) and not _is_expression_object(value):
            if not value:
                if flags:
                    raise failure(
                        51270,
                        f"An empty sub-projection is not a valid value. Found empty object at path {path}",
                    )
                node: Any = _Computed({})
            else:
                node = _field_tree(stage, value, flags)
        elif flags and (isinstance(value, bool) or is_number(value)):
            node = _INCLUDE if value else _EXCLUDE
        else:
            node = _Computed(value)
        _insert(tree, parts, node, path)
    return tree


def _insert(tree: _Tree, parts: list[str], node: Any, path: str) -> None:
    for part in parts[:-1]:
        child = tree.setdefault(part, {})
        if not isinstance(child, dict):
            raise failure(31250, f"Invalid specification: path collision at {path}")
        tree = child
    last = parts[-1]
    if last in tree:
        existing = tree[last]
        if isinstance(existing, dict) and isinstance(node, dict):
            for key, value in node.items():
                _insert(existing, [key], value, f"{path}.{key}")
            return
        raise failure(31250, f"Invalid specification: path collision at {path}")
    tree[last] = node


def _tree_kinds(tree: _Tree, top: bool = True) -> set[str]:
    kinds = set()
    for name, node in tree.items():
        if isinstance(node, dict):
            kinds |= _tree_kinds(node, top=False)
        elif isinstance(node, _Computed):
            kinds.add("computed")
        elif not (top and name == "_id"):
            kinds.add(node)
    return kinds


@_stage("$project")
def _project(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(15969, "$project specification must be an object")
    if not arg:
        raise failure(
            51272,
            "Invalid $project :: caused by :: projection specification must have at least one field",
        )
    tree = _field_tree("$project", arg, flags=True)
    kinds = _tree_kinds(tree)
    if _EXCLUDE in kinds:
        if _INCLUDE in kinds:
            raise failure(
                31254,
                "Invalid $project :: caused by :: Cannot do exclusion on field in inclusion projection",
            )
        if "computed" in kinds:
            raise failure(
                31252,
                "Invalid $project :: caused by :: Cannot use expression other than $meta in exclusion projection",
            )
        return [_exclude(doc, tree) for doc in docs]
    if not kinds and tree.get("_id") == _EXCLUDE:
        return [_exclude(doc, tree) for doc in docs]
    tree.setdefault("_id", _INCLUDE)
    if tree["_id"] == _EXCLUDE:
        del tree["_id"]
    return [_include(doc, tree, run, doc) for doc in docs]


def _include(
    doc: Mapping[str, Any], tree: _Tree, run: _Run, root: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        node = tree.get(name)
        if node is _INCLUDE:
            out[name] = value
        elif isinstance(node, dict):
            projected = _include_value(value, node, run, root)
            if projected is not MISSING:
                out[name] = projected
    for name, node in tree.items():
        if isinstance(node, _Computed):
            value = run.evaluate(node.expr, root)
            if value is not MISSING:
                out[name] = value
        elif isinstance(node, dict) and name not in doc and "computed" in _tree_kinds(node, False):
            out[name] = _include({}, node, run, root)
    return out


def _include_value(value: Any, tree: _Tree, run: _Run, root: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return _include(value, tree, run, root)
    if isinstance(value, list):
        out = [_include_value(item, tree, run, root) for item in value]
        return [item for item in out if item is not MISSING]
    if "computed" in _tree_kinds(tree, False):
        return _include({}, tree, run, root)
    return MISSING


def _exclude(doc: Mapping[str, Any], tree: _Tree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        node = tree.get(name)
        if node is _EXCLUDE:
            continue
        out[name] = _exclude_value(value, node) if isinstance(node, dict) else value
    return out


def _exclude_value(value: Any, tree: _Tree) -> Any:
    if isinstance(value, Mapping):
        return _exclude(value, tree)
    if isinstance(value, list):
        return [_exclude_value(item, tree) for item in value]
    return value


@_stage("$unset")
def _unset(docs: Documents, arg: Any, run: _Run) -> Documents:
    fields = [arg] if isinstance(arg, str) else arg
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise failure(
            31002, "$unset specification must be a string or an array containing only string values"
        )
    tree = _field_tree("$unset", dict.fromkeys(fields, 0), flags=True)
    return [_exclude(doc, tree) for doc in docs]


@_stage("$addFields")
def _add_fields(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(40272, "$addFields specification stage must be an object")
    tree = _field_tree("$addFields", arg, flags=False)
    return [_set_fields(doc, tree, run, doc) for doc in docs]


_STAGES["$set"] = _add_fields


def _set_fields(
    doc: Mapping[str, Any], tree: _Tree, run: _Run, root: Mapping[str, Any]
) -> dict[str, Any]:
    out = dict(doc)
    for name, node in tree.items():
        if isinstance(node, _Computed):
            value = run.evaluate(node.expr, root)
        else:
            value = _set_value(doc.get(name, MISSING), node, run, root)
        if value is MISSING:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _set_value(value: Any, tree: _Tree, run: _Run, root: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return _set_fields(value, tree, run, root)
    if isinstance(value, list):
        return [_set_value(item, tree, run, root) for item in value]
    return _set_fields({}, tree, run, root)


def _new_root(stage: str, docs: Documents, expr: Any, run: _Run) -> Documents:
    out = []
    for doc in docs:
        value = run.evaluate(expr, doc)
        if not isinstance(value, Mapping):
            shown = "missing" if value is MISSING else repr(value)
            raise failure(
                40228,
                f"'newRoot' expression must evaluate to an object, but resulting value was: "
                f"{shown}. Type of resulting value: '{type_name(value)}'. Input document: {doc!r}",
            )
        out.append(dict(value))
    return out


@_stage("$replaceRoot")
def _replace_root(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping) or "newRoot" not in arg:
        raise failure(40231, "no newRoot specified for the $replaceRoot stage")
    for key in arg:
        if key != "newRoot":
            raise failure(40415, f"BSON field '$replaceRoot.{key}' is an unknown field.")
    return _new_root("$replaceRoot", docs, arg["newRoot"], run)


@_stage("$replaceWith")
def _replace_with(docs: Documents, arg: Any, run: _Run) -> Documents:
    return _new_root("$replaceWith", docs, arg, run)


# --- grouping ------------------------------------------------------------------------------


def _first(values: list[Any]) -> Any:
    return None if values[0] is MISSING else values[0]


def _last(values: list[Any]) -> Any:
    return None if values[-1] is MISSING else values[-1]


def _add_to_set(values: list[Any]) -> list[Any]:
    distinct: dict[Any, Any] = {}
    for value in values:
        if value is not MISSING:
            distinct.setdefault(hash_key(value), value)
    return list(distinct.values())


# Each accumulator folds the list of values its expression took over a group's documents.
_ACCUMULATORS: dict[str, Callable[[list[Any]], Any]] = {
    "$sum": sum_numbers,
    "$avg": average,
    "$min": lambda values: extreme(values, -1),
    "$max": lambda values: extreme(values, 1),
    "$first": _first,
    "$last": _last,
    "$push": lambda values: [v for v in values if v is not MISSING],
    "$addToSet": _add_to_set,
    "$count": len,
    "$mergeObjects": merge_documents,
    "$stdDevPop": lambda values: std_dev(values, sample=False),
    "$stdDevSamp": lambda values: std_dev(values, sample=True),
}


def _accumulator(field: str, spec: Any) -> tuple[str, Any]:
    if "." in field:
        raise failure(40235, f"The field name '{field}' cannot contain '.'")
    check_field_name(field)
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise failure(40234, f"The field '{field}' must be an accumulator object")
    ((name, expr),) = spec.items()
    if name not in _ACCUMULATORS:
        raise failure(15952, f"unknown group operator '{name}'")
    if isinstance(expr, list):
        raise failure(40237, f"The {name} accumulator is a unary operator")
    if name == "$count":
        if expr != {}:
            raise failure(2, "$count takes no arguments, i.e. $count:{}")
        expr = 1
    return name, expr


@_stage("$group")
def _group(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(15947, "a group's fields must be specified in an object")
    if "_id" not in arg:
        raise failure(15955, "a group specification must include an _id")
    fields = {f: _accumulator(f, spec) for f, spec in arg.items() if f != "_id"}
    groups: dict[Any, tuple[Any, dict[str, list[Any]]]] = {}
    for doc in docs:
        key = run.evaluate(arg["_id"], doc)
        if key is MISSING:
            key = None
        hashed = hash_key(key)
        if hashed not in groups:
            groups[hashed] = (key, {f: [] for f in fields})
        values = groups[hashed][1]
        for field, (_, expr) in fields.items():
            values[field].append(run.evaluate(expr, doc))
    return [
        {"_id": key, **{f: _ACCUMULATORS[fields[f][0]](v) for f, v in values.items()}}
        for key, values in groups.values()
    ]


@_stage("$sortByCount")
def _sort_by_count(docs: Documents, arg: Any, run: _Run) -> Documents:
    path = isinstance(arg, str) and arg.startswith("$")
    if not path and not _is_expression_object(arg):
        raise failure(
            40148, "the sortByCount field must be defined as a $-prefixed path or an expression"
        )
    grouped = _group(docs, {"_id": arg, "count": {"$sum": 1}}, run)
    return sorted(grouped, key=lambda doc: -doc["count"])


@_stage("$bucket")
def _bucket(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping) or "groupBy" not in arg or "boundaries" not in arg:
        raise failure(40198, "$bucket requires 'groupBy' and 'boundaries' to be specified.")
    boundaries = arg["boundaries"]
    if not isinstance(boundaries, list) or len(boundaries) < 2:
        raise failure(40192, "The $bucket 'boundaries' field must have at least 2 values")
    keys = [hash_key(b) for b in boundaries]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise failure(40194, "The 'boundaries' option to $bucket must be sorted in ascending order")
    output = arg.get("output") or {"count": {"$sum": 1}}
    buckets: dict[int, Documents] = {}
    for doc in docs:
        value = run.evaluate(arg["groupBy"], doc)
        key = hash_key(None if value is MISSING else value)
        index = next((i for i in range(len(keys) - 1) if keys[i] <= key < keys[i + 1]), -1)
        if index < 0 and "default" not in arg:
            raise failure(
                40066,
                "$switch could not find a matching branch for an input, and no default was "
                f"specified. ($bucket value {value!r} is outside the boundaries)",
            )
        buckets.setdefault(index, []).append(doc)
    out = []
    for index in [*range(len(keys) - 1), -1]:
        if index in buckets:
            bucket_id = boundaries[index] if index >= 0 else arg["default"]
            (result,) = _group(buckets[index], {"_id": {"$literal": bucket_id}, **output}, run)
            out.append(result)
    return out


# --- arrays and joins ----------------------------------------------------------------------


def _unwind_spec(arg: Any) -> tuple[list[str], str | None, bool]:
    if isinstance(arg, str):
        arg = {"path": arg}
    if not isinstance(arg, Mapping):
        raise failure(
            15981,
            f"expected either a string or an object as specification for $unwind stage, "
            f"got {type_name(arg)}",
        )
    for key in arg:
        if key not in ("path", "includeArrayIndex", "preserveNullAndEmptyArrays"):
            raise failure(28811, f"unrecognized option to $unwind stage: {key}")
    path = arg.get("path")
    if not isinstance(path, str):
        raise failure(28812, "no path specified to $unwind stage")
    if not path.startswith("$") or len(path) < 2:
        raise failure(28818, f"path option to $unwind stage should be prefixed with a '$': {path}")
    index = arg.get("includeArrayIndex")
    if index is not None and (not isinstance(index, str) or not index):
        raise failure(28810, "expected a non-empty string for the includeArrayIndex option")
    if index is not None and index.startswith("$"):
        raise failure(
            28822,
            f"includeArrayIndex option to $unwind stage should not be prefixed with a '$': {index}",
        )
    preserve = arg.get("preserveNullAndEmptyArrays", False)
    if not isinstance(preserve, bool):
        raise failure(28809, "expected a boolean for the preserveNullAndEmptyArrays option")
    return path[1:].split("."), index, preserve


def _get(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(doc, Mapping):
            return MISSING
        doc = doc.get(part, MISSING)
    return doc


def _with(doc: Mapping[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    """A copy of `doc` with `value` at `parts` (MISSING removes it), copying only that path."""
    out = dict(doc)
    head = parts[0]
    if len(parts) == 1:
        if value is MISSING:
            out.pop(head, None)
        else:
            out[head] = value
        return out
    child = out.get(head)
    out[head] = _with(child if isinstance(child, Mapping) else {}, parts[1:], value)
    return out


@_stage("$unwind")
def _unwind(docs: Documents, arg: Any, run: _Run) -> Documents:
    parts, index_field, preserve = _unwind_spec(arg)
    index_parts = index_field.split(".") if index_field else None
    out = []
    for doc in docs:
        value = _get(doc, parts)
        if isinstance(value, list) and value:
            for i, item in enumerate(value):
                unwound = _with(doc, parts, item)
                out.append(_with(unwound, index_parts, i) if index_parts else unwound)
        elif isinstance(value, list) or value is None or value is MISSING:
            if preserve:
                kept = _with(doc, parts, MISSING) if isinstance(value, list) else doc
                out.append(_with(kept, index_parts, None) if index_parts else kept)
        else:
            out.append(_with(doc, index_parts, None) if index_parts else doc)
    return out


def _lookup_spec(arg: Any) -> dict[str, Any]:
    if not isinstance(arg, Mapping):
        raise failure(9, "the $lookup specification must be an Object")
    allowed = ("from", "localField", "foreignField", "as", "let", "pipeline")
    for key in arg:
        if key not in allowed:
            raise failure(9, f"unknown argument to $lookup: {key}")
    if not isinstance(arg.get("as"), str) or not arg["as"]:
        raise failure(9, "must specify 'as' field for a $lookup")
    if ("localField" in arg) != ("foreignField" in arg):
        raise failure(9, "$lookup requires both or neither of 'localField' and 'foreignField'")
    if "localField" not in arg and "pipeline" not in arg:
        raise failure(9, "$lookup requires either 'pipeline' or 'localField' and 'foreignField'")
    for key in ("from", "localField", "foreignField"):
        if key in arg and not isinstance(arg[key], str):
            raise failure(
                9, f"$lookup argument '{key}' must be a string, is type {type_name(arg[key])}"
            )
    if "pipeline" not in arg and "let" in arg:
        raise failure(9, "$lookup with 'let' must also specify 'pipeline'")
    if "from" not in arg:
        raise failure(9, "missing 'from' option to $lookup stage specification")
    return dict(arg)


def _equality_index(docs: Documents, path: str) -> dict[Any, list[int]]:
    """Positions of the documents holding each value at `path`, as `{path: value}` matches
    them: array elements count, and a missing field counts as null."""
    index: dict[Any, list[int]] = {}
    parts = split_path(path)
    for position, doc in enumerate(docs):
        keys = set()
        for value in path_values(doc, parts):
            keys.add(hash_key(value))
            if isinstance(value, list):
                keys.update(hash_key(item) for item in value)
        for key in keys:
            index.setdefault(key, []).append(position)
    return index


def _local_values(doc: Mapping[str, Any], path: str) -> list[Any]:
    value = field_path(doc, path.split("."))
    if value is MISSING:
        return [None]
    return value if isinstance(value, list) else [value]


@_stage("$lookup")
def _lookup(docs: Documents, arg: Any, run: _Run) -> Documents:
    spec = _lookup_spec(arg)
    foreign = run.collection(spec["from"])
    as_parts = spec["as"].split(".")
    index = _equality_index(foreign, spec["foreignField"]) if "localField" in spec else None
    pipeline = _stages(spec["pipeline"]) if "pipeline" in spec else None
    let = spec.get("let") or {}
    if not isinstance(let, Mapping):
        raise failure(9, "$lookup argument 'let' must be an object")
    out = []
    for doc in docs:
        matched = foreign
        if index is not None:
            positions: set[int] = set()
            for value in _local_values(doc, spec["localField"]):
                positions.update(index.get(hash_key(value), ()))
            matched = [foreign[i] for i in sorted(positions)]
        if pipeline is not None:
            variables = {name: run.evaluate(expr, doc) for name, expr in let.items()}
            matched = _run(matched, pipeline, run.with_variables(variables))
        out.append(_with(doc, as_parts, list(matched)))
    return out


@_stage("$unionWith")
def _union_with(docs: Documents, arg: Any, run: _Run) -> Documents:
    spec = {"coll": arg} if isinstance(arg, str) else arg
    if not isinstance(spec, Mapping) or not isinstance(spec.get("coll"), str):
        raise failure(9, "$unionWith requires 'coll' as a string or an object with 'coll'")
    for key in spec:
        if key not in ("coll", "pipeline"):
            raise failure(40415, f"BSON field '$unionWith.{key}' is an unknown field.")
    other = _run(run.collection(spec["coll"]), spec.get("pipeline") or [], run)
    return docs + other


@_stage("$facet")
def _facet(docs: Documents, arg: Any, run: _Run) -> Documents:
    if not isinstance(arg, Mapping) or not arg:
        raise failure(40169, "the $facet specification must be a non-empty object")
    out = {}
    for name, pipeline in arg.items():
        check_field_name(name)
        stages = _stages(pipeline)
        if not stages:
            raise failure(40170, f"sub-pipeline in $facet stage cannot be empty: {name}")
        for stage in stages:
            stage_name = next(iter(stage))
            if stage_name in ("$facet", "$out", "$merge", "$indexStats", "$collStats"):
                raise failure(
                    40600, f"{stage_name} is not allowed to be used within a $facet stage"
                )
        out[name] = _run(docs, stages, run)
    return [out]
