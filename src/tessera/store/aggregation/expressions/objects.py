"""Object operators: merging, to and from arrays, fields by name, sizes, `$rand`, and
the text score `$meta` reads."""

import random
from collections.abc import Mapping
from typing import Any

import bson

from tessera.store.aggregation.expressions.core import (
    Scope,
    failure,
    named_args,
    nullish,
    operator,
    special,
    type_name,
)
from tessera.store.bounds.limits import INTERNAL_DOCUMENT_BYTES, approximate_size, value_error
from tessera.store.query.text import score_of
from tessera.store.values.paths import MISSING


@operator("$mergeObjects")
def _merge_objects(*values: Any) -> dict[str, Any]:
    return merge_documents(values)


def merge_documents(values: Any) -> dict[str, Any]:
    """MongoDB's $mergeObjects: later fields win, null and missing inputs are skipped."""
    out: dict[str, Any] = {}
    for v in values:
        if nullish(v):
            continue
        if not isinstance(v, Mapping):
            raise failure(
                40400,
                f"$mergeObjects requires object inputs, but input {v!r} is of type {type_name(v)}",
            )
        out.update(v)
    return out


@operator("$objectToArray", 1)
def _object_to_array(value: Any) -> Any:
    if nullish(value):
        return None
    if not isinstance(value, Mapping):
        raise failure(40390, f"$objectToArray requires a document input, found: {type_name(value)}")
    return [{"k": k, "v": v} for k, v in value.items()]


@operator("$arrayToObject", 1)
def _array_to_object(value: Any) -> Any:
    if nullish(value):
        return None
    if not isinstance(value, list):
        raise failure(40386, f"$arrayToObject requires an array input, found: {type_name(value)}")
    out: dict[str, Any] = {}
    for item in value:
        if isinstance(item, list):
            if len(item) != 2:
                raise failure(
                    40397,
                    "$arrayToObject requires an array of size 2 arrays, "
                    f"found array of size: {len(item)}",
                )
            key, val = item
        elif isinstance(item, Mapping):
            if set(item) != {"k", "v"}:
                raise failure(40393, "$arrayToObject requires an object with keys 'k' and 'v'.")
            key, val = item["k"], item["v"]
        else:
            raise failure(
                40398, f"Unrecognised input type format for $arrayToObject: {type_name(item)}"
            )
        if not isinstance(key, str):
            raise failure(
                40395,
                "$arrayToObject requires an array of key-value pairs, where the key must be of "
                f"type string. Found key type: {type_name(key)}",
            )
        out[key] = val
    return out


def _field_spec(
    name: str, raw: Any, scope: Scope, extra: tuple[str, ...]
) -> tuple[str, Any, dict[str, Any]]:
    if not isinstance(raw, Mapping) or not any(k in raw for k in ("field", "input")):
        raw = {"field": raw}
    spec = named_args(name, raw, ("field",), ("input", *extra))
    field = scope.eval(spec["field"])
    if not isinstance(field, str):
        raise failure(
            3041704,
            f"{name} requires 'field' to evaluate to type String, but got {type_name(field)}",
        )
    source = scope.eval(spec.get("input", "$$CURRENT"))
    return field, source, spec


@special("$getField")
def _get_field(raw: Any, scope: Scope) -> Any:
    field, source, _ = _field_spec("$getField", raw, scope, ())
    if nullish(source):
        return None
    if not isinstance(source, Mapping):
        return MISSING
    return source.get(field, MISSING)


@special("$setField")
def _set_field(raw: Any, scope: Scope) -> Any:
    field, source, spec = _field_spec("$setField", raw, scope, ("value",))
    if "value" not in spec:
        raise failure(4161102, "$setField requires 'value' to be specified")
    if nullish(source):
        return None
    if not isinstance(source, Mapping):
        raise failure(
            4161105,
            f"$setField requires 'input' to evaluate to type Object, but got {type_name(source)}",
        )
    value = scope.eval(spec["value"])
    out = dict(source)
    if value is MISSING:
        out.pop(field, None)
    else:
        out[field] = value
    return out


@special("$unsetField")
def _unset_field(raw: Any, scope: Scope) -> Any:
    field, source, _ = _field_spec("$unsetField", raw, scope, ())
    if nullish(source):
        return None
    if not isinstance(source, Mapping):
        raise failure(
            4161105,
            f"$unsetField requires 'input' to evaluate to type Object, but got {type_name(source)}",
        )
    return {k: v for k, v in source.items() if k != field}


@operator("$bsonSize", 1)
def _bson_size(value: Any) -> Any:
    if nullish(value):
        return None
    if not isinstance(value, Mapping):
        raise failure(31393, f"$bsonSize requires a document input, found: {type_name(value)}")
    estimate = approximate_size(value)  # encoding copies each shared part
    if estimate > 2 * INTERNAL_DOCUMENT_BYTES:
        raise value_error(estimate)
    return len(bson.encode(value))


@operator("$binarySize", 1)
def _binary_size(value: Any) -> Any:
    if nullish(value):
        return None
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes):
        return len(value)
    raise failure(
        51276, f"$binarySize requires a string or BinData argument, found: {type_name(value)}"
    )


@special("$rand")
def _rand(raw: Any, scope: Scope) -> float:
    return random.random()


@special("$meta")
def _meta(raw: Any, scope: Scope) -> Any:
    """The document's text score: kept through stages that pass the documents a text
    search found (``$sort``, ``$limit``, ``$match``), lost where a stage makes new ones."""
    if raw != "textScore":
        raise failure(
            17308,
            f"Unsupported argument to $meta: {raw!r} (the embedded store knows textScore only)",
        )
    return score_of(scope.variables.get("ROOT"))
