"""`$redact`: prune, keep or descend into each level of a document by an expression.

The expression runs once per embedded document with ``$$CURRENT`` at that level and
``$$ROOT`` at the top; arrays are walked element by element, so a document inside an
array is judged on its own, as MongoDB does.
"""

from collections.abc import Mapping
from typing import Any

from tessera.store.aggregation.expressions import failure
from tessera.store.aggregation.expressions.core import Scope
from tessera.store.aggregation.pipeline import Documents, Run
from tessera.store.bounds.deadlines import checked
from tessera.store.values.paths import MISSING

# MongoDB's values for $$DESCEND, $$PRUNE and $$KEEP: an expression may return them as such.
_DESCEND, _PRUNE, _KEEP = "descend", "prune", "keep"
_MARKS = {"DESCEND": _DESCEND, "PRUNE": _PRUNE, "KEEP": _KEEP}


def redact_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    """The documents left after `arg` decided each level; a pruned top level drops it."""
    variables = {**run.variables, **_MARKS}
    out: Documents = []
    for doc in checked(docs):
        kept = _redact_object(doc, doc, arg, variables)
        if kept is not MISSING:
            out.append(kept)
    return out


def _redact_object(
    current: Mapping[str, Any], root: Mapping[str, Any], expr: Any, variables: dict[str, Any]
) -> Any:
    verdict = Scope({**variables, "ROOT": root, "CURRENT": current}).eval(expr)
    if verdict == _KEEP:
        return dict(current)
    if verdict == _PRUNE:
        return MISSING
    if verdict != _DESCEND:
        raise failure(
            17053,
            "$redact's expression should not return anything aside from the variables "
            f"$$KEEP, $$DESCEND, and $$PRUNE, but returned {verdict!r}",
        )
    out: dict[str, Any] = {}
    for key, value in current.items():
        value = _redact_value(value, root, expr, variables)
        if value is not MISSING:
            out[key] = value
    return out


def _redact_value(value: Any, root: Mapping[str, Any], expr: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return _redact_object(value, root, expr, variables)
    if isinstance(value, list):
        kept = (
            _redact_value(v, root, expr, variables) if isinstance(v, Mapping | list) else v
            for v in value
        )
        return [v for v in kept if v is not MISSING]
    return value
