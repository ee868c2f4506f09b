"""MongoDB aggregation pipelines run over plain Python documents.

`run_pipeline` applies the stages in order to a list of documents. It never changes the
documents it is given: stages that add or remove fields build new ones. `$lookup` and
`$unionWith` read other collections through the `resolve` callable the engine passes.
Here are the stages that run sub-pipelines or are a few lines each; the others live in
`group` and `stages/` (reshaping, windows, `$fill`, `$bucketAuto`, `$densify`, `$redact`).
"""

import heapq
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import bson
from bson.decimal128 import Decimal128
from bson.errors import InvalidDocument
from bson.int64 import Int64

from tessera.store.aggregation.expressions import (
    check_field_name,
    failure,
    field_path,
    is_number,
    type_name,
)
from tessera.store.aggregation.group import bucket_stage, group_stage
from tessera.store.aggregation.pipeline import (
    Documents,
    Footprint,
    Resolve,
    Run,
    sort_spec_key,
    with_value,
)
from tessera.store.aggregation.stages.bucket_auto import bucket_auto_stage
from tessera.store.aggregation.stages.densify import densify_stage
from tessera.store.aggregation.stages.fill import fill_stage
from tessera.store.aggregation.stages.redact import redact_stage
from tessera.store.aggregation.stages.reshape import (
    add_fields_stage,
    is_expression_object,
    project_stage,
    replace_root_stage,
    replace_with_stage,
    unset_stage,
)
from tessera.store.aggregation.stages.window import window_stage
from tessera.store.bounds.deadlines import checked
from tessera.store.bounds.limits import (
    BLOCKING_BYTES,
    DOCUMENT_BYTES,
    INTERNAL_DOCUMENT_BYTES,
    approximate_size,
    document_error,
    sort_error,
)
from tessera.store.query.filters import compile_filter
from tessera.store.values.ordering import hash_key
from tessera.store.values.paths import MISSING, path_values, split_path

# MongoDB stages the embedded store knowingly lacks; they fail with a clear message.
UNSUPPORTED_STAGES = frozenset(
    {
        "$geoNear",
        "$search",
        "$searchMeta",
        "$vectorSearch",
        "$documents",
        "$changeStream",
        "$collStats",
        "$indexStats",
        "$currentOp",
        "$listSessions",
        "$planCacheStats",
    }
)

_Stage = Callable[[Documents, Any, Run], Documents]
# Stages defined in their own modules; the rest register below with `_stage`.
_STAGES: dict[str, _Stage] = {
    "$group": group_stage,
    "$bucket": bucket_stage,
    "$bucketAuto": bucket_auto_stage,
    "$setWindowFields": window_stage,
    "$redact": redact_stage,
    "$densify": densify_stage,
    "$fill": fill_stage,
    "$project": project_stage,
    "$addFields": add_fields_stage,
    "$set": add_fields_stage,
    "$unset": unset_stage,
    "$replaceRoot": replace_root_stage,
    "$replaceWith": replace_with_stage,
}


def _stage(name: str) -> Callable[[_Stage], _Stage]:
    def register(fn: _Stage) -> _Stage:
        _STAGES[name] = fn
        return fn

    return register


def supported_stages() -> list[str]:
    """The names of the stages the embedded store runs (its docs list each one)."""
    return sorted(_STAGES)


def run_pipeline(
    docs: Iterable[dict[str, Any]],
    pipeline: Sequence[Mapping[str, Any]],
    *,
    resolve: Resolve,
    stored_bytes: int | None = None,
) -> Documents:
    """The documents that `pipeline` produces from `docs`.

    `resolve(name)` yields the documents of another collection of the same database, for
    `$lookup` and `$unionWith`. `stored_bytes`, the BSON size of `docs` as stored, lets
    the memory limits skip estimating sizes (see `pipeline.Footprint`). Raises
    `OperationFailure` with MongoDB's code for an unknown stage or a malformed one, and
    for a stage or a result over MongoDB's memory limits (see `limits`).
    """
    run = Run(resolve, {}, {}, Footprint(stored_bytes))
    out = _run(list(docs), pipeline, run)
    if run.footprint.stored is None:
        for doc in out:
            _check_document_size(doc)
    return out


def _check_document_size(doc: Mapping[str, Any]) -> None:
    """Refuse a result larger than MongoDB builds, measured exactly unless the estimate is
    far below (it counts a character as a byte, which UTF-8 may take four for)."""
    estimate = approximate_size(doc)
    if estimate <= DOCUMENT_BYTES // 4:
        return
    if estimate > 2 * INTERNAL_DOCUMENT_BYTES:  # about twice the BSON size at most
        raise document_error(estimate, doc)  # encoding shared parts copied each of them
    try:
        size = len(bson.encode(doc))
    except (InvalidDocument, TypeError, OverflowError):
        return  # not BSON: the caller receives it as it is
    if size > INTERNAL_DOCUMENT_BYTES:
        raise document_error(size, doc)


# The stages an update may use as its pipeline (MongoDB 4.2+ "updates with aggregation").
_UPDATE_STAGES = frozenset(
    {"$addFields", "$set", "$project", "$unset", "$replaceRoot", "$replaceWith"}
)


def check_update_pipeline(pipeline: Any) -> list[Mapping[str, Any]]:
    """The stages of an update's `pipeline`; OperationFailure unless each is one an update
    may use (code 72 for a stage that only ``aggregate`` allows)."""
    stages = _stages(pipeline)
    for stage in stages:
        name, _ = _stage_parts(stage)
        if name not in _UPDATE_STAGES:
            raise failure(
                72,
                f"{name} is not allowed to be used within an update: an update pipeline may "
                "only use $addFields, $set, $project, $unset, $replaceRoot and $replaceWith",
            )
    return stages


def apply_update_pipeline(
    doc: Mapping[str, Any],
    pipeline: Sequence[Mapping[str, Any]],
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document an update whose update is an aggregation `pipeline` makes of `doc`.

    Only the reshaping stages are allowed; `variables` are the update's ``let``. The caller
    still checks that `_id` did not change.
    """
    stages = check_update_pipeline(pipeline)
    (updated,) = _run([dict(doc)], stages, Run(_no_collections, variables or {}, {}))
    return updated


def _no_collections(name: str) -> Iterable[dict[str, Any]]:
    raise failure(72, "an update pipeline cannot read other collections")


def _run(docs: Documents, pipeline: Any, run: Run) -> Documents:
    stages = [_stage_parts(stage) for stage in _stages(pipeline)]
    i = 0
    while i < len(stages):
        name, arg = stages[i]
        if name == "$sort" and i + 1 < len(stages) and stages[i + 1][0] == "$limit":
            # A sort feeding a limit keeps only the first documents: no need to sort them all.
            limit = _limit_argument(stages[i + 1][1])
            docs = heapq.nsmallest(limit, docs, key=sort_spec_key(arg))
            if run.footprint.exceeds(docs, BLOCKING_BYTES):
                raise sort_error()
            i += 2
            continue
        docs = _STAGES[name](docs, arg, run)
        i += 1
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
    if name in UNSUPPORTED_STAGES:
        raise failure(40324, f"{name} is not supported by the embedded store")
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
                spec: Any = {"coll": arg} if isinstance(arg, str) else arg
                if isinstance(spec, Mapping):
                    if isinstance(spec.get("coll"), str):
                        names.add(spec["coll"])
                    names |= pipeline_collections(spec.get("pipeline") or [])
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
    if any("$text" in later for later in filters[1:]):
        raise failure(17313, "$match with $text is only allowed as the first pipeline stage")
    return {"$and": [dict(f) for f in filters]}, rest


def _is_match(stage: Any) -> bool:
    return (
        isinstance(stage, Mapping)
        and list(stage) == ["$match"]
        and isinstance(stage["$match"], Mapping)
    )


@_stage("$match")
def _match(docs: Documents, arg: Any, run: Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(15959, "the match filter must be an expression in an object")
    if "$text" in arg:
        raise failure(17313, "$match with $text is only allowed as the first pipeline stage")
    if run.variables:
        arg = _bind_variables(arg, run.variables)
    matches = compile_filter(arg)
    return [doc for doc in checked(docs) if matches(doc)]


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
def _sort(docs: Documents, arg: Any, run: Run) -> Documents:
    key = sort_spec_key(arg)
    if run.footprint.exceeds(docs, BLOCKING_BYTES):
        raise sort_error()
    return sorted(docs, key=key)


def _count_argument(stage: str, arg: Any, codes: tuple[int, int]) -> int:
    not_number, negative = codes
    number = arg.to_decimal() if isinstance(arg, Decimal128) else arg
    if not is_number(arg) or number != int(number):
        raise failure(not_number, f"{stage} requires an integral number, not {arg!r}")
    if number < 0:
        raise failure(negative, f"{stage} requires a non-negative number, not {arg!r}")
    return int(number)


@_stage("$skip")
def _skip(docs: Documents, arg: Any, run: Run) -> Documents:
    return docs[_count_argument("$skip", arg, (15972, 15956)) :]


def _limit_argument(arg: Any) -> int:
    limit = _count_argument("$limit", arg, (15957, 15958))
    if limit == 0:
        raise failure(15958, "the limit must be positive")
    return limit


@_stage("$limit")
def _limit(docs: Documents, arg: Any, run: Run) -> Documents:
    return docs[: _limit_argument(arg)]


@_stage("$sample")
def _sample(docs: Documents, arg: Any, run: Run) -> Documents:
    if not isinstance(arg, Mapping) or "size" not in arg:
        raise failure(28749, "$sample stage must specify a size")
    size = _count_argument("$sample", arg["size"], (28746, 28747))
    return random.sample(docs, min(size, len(docs)))


@_stage("$count")
def _count(docs: Documents, arg: Any, run: Run) -> Documents:
    if not isinstance(arg, str) or not arg:
        raise failure(40156, "the count field must be a non-empty string")
    if arg.startswith("$"):
        raise failure(40158, "the count field cannot be a $-prefixed path")
    if "." in arg:
        raise failure(40160, "the count field cannot contain '.'")
    return [{arg: len(docs)}] if docs else []


@_stage("$sortByCount")
def _sort_by_count(docs: Documents, arg: Any, run: Run) -> Documents:
    path = isinstance(arg, str) and arg.startswith("$")
    if not path and not is_expression_object(arg):
        raise failure(
            40148, "the sortByCount field must be defined as a $-prefixed path or an expression"
        )
    grouped = group_stage(docs, {"_id": arg, "count": {"$sum": 1}}, run)
    return sorted(grouped, key=lambda doc: -doc["count"])


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


@_stage("$unwind")
def _unwind(docs: Documents, arg: Any, run: Run) -> Documents:
    parts, index_field, preserve = _unwind_spec(arg)
    index_parts = index_field.split(".") if index_field else None
    run.footprint.forget()  # each element takes a copy of the rest of its document
    out = []
    for doc in checked(docs):
        value = _get(doc, parts)
        if isinstance(value, list) and value:
            for i, item in enumerate(value):
                unwound = with_value(doc, parts, item)
                out.append(with_value(unwound, index_parts, i) if index_parts else unwound)
        elif isinstance(value, list) or value is None or value is MISSING:
            if preserve:
                kept = with_value(doc, parts, MISSING) if isinstance(value, list) else doc
                out.append(with_value(kept, index_parts, None) if index_parts else kept)
        else:
            out.append(with_value(doc, index_parts, None) if index_parts else doc)
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
    for position, doc in enumerate(checked(docs)):
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
def _lookup(docs: Documents, arg: Any, run: Run) -> Documents:
    spec = _lookup_spec(arg)
    foreign = run.collection(spec["from"])
    as_parts = spec["as"].split(".")
    index = _equality_index(foreign, spec["foreignField"]) if "localField" in spec else None
    pipeline = _stages(spec["pipeline"]) if "pipeline" in spec else None
    let = spec.get("let") or {}
    if not isinstance(let, Mapping):
        raise failure(9, "$lookup argument 'let' must be an object")
    out = []
    for doc in checked(docs):
        matched = foreign
        if index is not None:
            positions: set[int] = set()
            for value in _local_values(doc, spec["localField"]):
                positions.update(index.get(hash_key(value), ()))
            matched = [foreign[i] for i in sorted(positions)]
        if pipeline is not None:
            variables = {name: run.evaluate(expr, doc) for name, expr in let.items()}
            matched = _run(matched, pipeline, run.with_variables(variables))
        out.append(with_value(doc, as_parts, list(matched)))
    return out


_GRAPH_OPTIONS = ("from", "startWith", "connectFromField", "connectToField", "as")


@_stage("$graphLookup")
def _graph_lookup(docs: Documents, arg: Any, run: Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(40327, "the $graphLookup specification must be an object")
    for key in _GRAPH_OPTIONS:
        if key not in arg:
            raise failure(40105, f"$graphLookup requires '{key}'")
    for key in arg:
        if key not in (*_GRAPH_OPTIONS, "maxDepth", "depthField", "restrictSearchWithMatch"):
            raise failure(40104, f"Unknown argument to $graphLookup: {key}")
    max_depth = arg.get("maxDepth")
    if max_depth is not None and (not is_number(max_depth) or max_depth < 0):
        raise failure(40101, "maxDepth must be a non-negative integer")
    foreign = run.collection(arg["from"])
    if arg.get("restrictSearchWithMatch"):
        allowed = compile_filter(arg["restrictSearchWithMatch"])
        foreign = [doc for doc in checked(foreign) if allowed(doc)]
    index = _equality_index(foreign, arg["connectToField"])
    as_parts = arg["as"].split(".")
    depth_field = arg.get("depthField")
    out = []
    for doc in checked(docs):
        start = run.evaluate(arg["startWith"], doc)
        found = _graph_search(foreign, index, start, arg["connectFromField"], max_depth)
        if depth_field:
            matches = [with_value(foreign[i], depth_field.split("."), Int64(d)) for i, d in found]
        else:
            matches = [foreign[i] for i, _ in found]
        out.append(with_value(doc, as_parts, matches))
    return out


def _graph_search(
    foreign: Documents, index: dict[Any, list[int]], start: Any, connect_from: str, max_depth: Any
) -> list[tuple[int, int]]:
    """Breadth-first search: (position, depth) of each document reached, each once."""
    seen: dict[int, int] = {}
    frontier = [
        v for v in (start if isinstance(start, list) else [start]) if v not in (None, MISSING)
    ]
    depth = 0
    while frontier and (max_depth is None or depth <= max_depth):
        reached = []
        for value in frontier:
            for position in index.get(hash_key(value), ()):
                if position not in seen:
                    seen[position] = depth
                    reached.extend(_local_values(foreign[position], connect_from))
        frontier = [v for v in reached if v is not None]
        depth += 1
    return list(seen.items())


@_stage("$unionWith")
def _union_with(docs: Documents, arg: Any, run: Run) -> Documents:
    spec = {"coll": arg} if isinstance(arg, str) else arg
    if not isinstance(spec, Mapping) or not isinstance(spec.get("coll"), str):
        raise failure(9, "$unionWith requires 'coll' as a string or an object with 'coll'")
    for key in spec:
        if key not in ("coll", "pipeline"):
            raise failure(40415, f"BSON field '$unionWith.{key}' is an unknown field.")
    other = _run(run.collection(spec["coll"]), spec.get("pipeline") or [], run)
    return docs + other


@_stage("$facet")
def _facet(docs: Documents, arg: Any, run: Run) -> Documents:
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
    run.footprint.forget()  # one document holding them all
    return [out]
