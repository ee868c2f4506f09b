"""`$fill`: null and missing fields filled with a value, the last value seen, or a line.

As MongoDB does, the stage becomes a `$setWindowFields` (``method: "locf"`` is `$locf`,
``"linear"`` is `$linearFill`, over the field itself) followed by a `$ifNull` of each
``value`` field; the documents come out in the order the window stage gives them.
"""

from collections.abc import Mapping
from typing import Any

from tessera.store.aggregation.expressions import compile_expression, failure, type_name
from tessera.store.aggregation.pipeline import Documents, Run, with_value
from tessera.store.aggregation.stages.window import window_stage
from tessera.store.bounds.deadlines import checked

_METHODS = {"locf": "$locf", "linear": "$linearFill"}


def fill_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """`docs` with the `output` fields filled (see the module)."""
    window, values = _parse(arg)
    if window is not None:
        docs = window_stage(docs, window, run)
    if not values:
        return docs
    fills = {field: compile_expression(expr) for field, expr in values.items()}
    run.footprint.forget()
    out = []
    for doc in checked(docs):
        for field, fill in fills.items():
            doc = with_value(doc, field.split("."), fill(doc, run.variables))
        out.append(doc)
    return out


def _parse(arg: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The `$setWindowFields` spec the methods need (None: no method) and the `$ifNull`
    expression of each ``value`` field."""
    if not isinstance(arg, Mapping):
        raise failure(9, f"The $fill stage specification must be an object, found {type_name(arg)}")
    for key in arg:
        if key not in ("partitionBy", "partitionByFields", "sortBy", "output"):
            raise failure(40415, f"BSON field '$fill.{key}' is an unknown field.")
    if "output" not in arg:
        raise failure(40414, "BSON field '$fill.output' is missing but a required field")
    output = arg["output"]
    if not isinstance(output, Mapping):
        raise failure(
            14,
            f"BSON field '$fill.output' is the wrong type '{type_name(output)}', "
            "expected type 'object'",
        )
    if not output:
        raise failure(
            6050203, "The output field in '$fill' must contain an object with at least one element"
        )
    methods: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for field, spec in output.items():
        if not isinstance(spec, Mapping):
            raise failure(
                6050200, "Each fill output specification must be an object with exactly one field"
            )
        for key in spec:
            if key not in ("method", "value"):
                raise failure(40415, f"BSON field '$fill.output.{key}' is an unknown field.")
        if "method" in spec:
            if "value" in spec:
                raise failure(
                    6050201,
                    "Each fill output specification must have exactly one of 'method' or "
                    "'value' fields, not both",
                )
            if spec["method"] not in _METHODS:
                raise failure(6050202, "Method must be either locf or linear")
            methods[field] = {_METHODS[spec["method"]]: f"${field}"}
        elif "value" in spec:
            values[field] = {"$ifNull": [f"${field}", spec["value"]]}
    window: dict[str, Any] = {"output": methods}
    if "sortBy" in arg:
        window["sortBy"] = arg["sortBy"]
    if "partitionBy" in arg:
        if "partitionByFields" in arg:
            raise failure(
                6050204,
                "Maximum one of 'partitionBy' and 'partitionByFields can be specified in '$fill'",
            )
        window["partitionBy"] = arg["partitionBy"]
    elif "partitionByFields" in arg:
        window["partitionBy"] = _partition_fields(arg["partitionByFields"])
    return (window if methods else None), values


def _partition_fields(fields: Any) -> dict[str, str]:
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise failure(14, "BSON field '$fill.partitionByFields' must be an array of strings")
    for name in fields:
        if not name or name.startswith("$"):
            raise failure(16410, f"FieldPath field names may not start with '$': {name!r}")
    return {name: f"${name}" for name in fields}
