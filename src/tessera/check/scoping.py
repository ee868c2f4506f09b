"""Contract rule 3: every query pins ``user_id`` and every insert carries it.

A filter pins ``user_id`` when it is a dict with a ``"user_id"`` key whose value is not an
operator other than ``$eq`` (also inside ``$and``, or in every branch of ``$or``),
``dict(user_id=...)``, a name whose assignments that reach the call are such dicts (or that
is given a ``["user_id"]`` item on the way), or a call of a module function that returns
one. What cannot be resolved is a warning; a filter seen not to pin ``user_id`` is an
error. Collections the manifest lists in ``shared_collections`` are app-wide and exempt.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from enum import Enum

from tessera.check.dbcalls import (
    FILTERED,
    INSERTS,
    PIPELINES,
    UNSCOPABLE,
    UNVERIFIABLE,
    DbCall,
    db_calls,
)
from tessera.check.findings import Finding
from tessera.check.source import Scope, Source

USER_KEY = "user_id"


class Pin(Enum):
    """Whether an expression pins ``user_id``: yes, no, or cannot tell."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def check_scoping(source: Source, shared: frozenset[str]) -> Iterator[Finding]:
    """Findings for database calls not scoped to the calling user."""
    for call in db_calls(source):
        if call.collection in shared:
            continue
        yield from _check_call(source, call, bool(shared))


def _check_call(source: Source, call: DbCall, has_shared: bool) -> Iterator[Finding]:
    where = f"{call.method} on {_shown(call.collection)}"
    if call.method in UNSCOPABLE:
        yield source.finding(
            call.node,
            "query-unscoped",
            f"{where} counts every user's documents: use "
            f'count_documents({{"user_id": user_id}}) or list the collection in the '
            "manifest's shared_collections",
        )
        return
    if call.method in UNVERIFIABLE or call.opaque:
        yield source.finding(
            call.node,
            "scope-unverified",
            f"{where}: its arguments cannot be checked statically; prefer single-document "
            'methods with a {"user_id": user_id} filter',
        )
        return
    pin, what, argument = _pin_of_call(source, call)
    if pin is Pin.YES:
        return
    at = argument if argument is not None else call.node
    insert = call.method in INSERTS
    if pin is Pin.UNKNOWN:
        yield source.finding(
            at,
            "scope-unverified",
            f"{where}: cannot tell whether the {what} includes {USER_KEY!r}; "
            f"write it as a dict literal with a {USER_KEY!r} key",
        )
    elif has_shared and call.collection is None:
        yield source.finding(
            at,
            "scope-unverified",
            f"{where}: the {what} has no {USER_KEY!r} and the collection's name is not "
            "known, so it cannot be matched with shared_collections: name the collection "
            "with a literal or a module constant",
        )
    elif insert:
        yield source.finding(
            at,
            "insert-unscoped",
            f'{where}: the {what} has no "user_id": Tessera stores the caller\'s; add '
            '"user_id": user_id so the plugin also works where the runtime does not (the '
            "reference), or list the collection in the manifest's shared_collections",
        )
    else:
        yield source.finding(
            at,
            "query-unscoped",
            f"{where}: the {what} does not pin user_id, so it reaches other users' "
            'documents: add "user_id": user_id to it (or list the collection in the '
            "manifest's shared_collections)",
        )


def _pin_of_call(source: Source, call: DbCall) -> tuple[Pin, str, ast.expr | None]:
    """How the call pins the user, what was looked at, and that argument (None if absent)."""
    if call.method in FILTERED:
        position = 1 if call.method == "distinct" else 0
        found = call.argument(position, "filter")
        return (pin_of(source, found, call.scope) if found else Pin.NO), "filter", found
    if call.method in PIPELINES:
        pipeline = call.argument(0, "pipeline")
        pin = _pin_of_pipeline(source, pipeline, call.scope)
        return pin, "first $match stage", pipeline
    if call.method == "insert_one":
        document = call.argument(0, "document")
        return (pin_of(source, document, call.scope) if document else Pin.NO), "document", document
    documents = call.argument(0, "documents")
    return _pin_of_documents(source, documents, call.scope), "document", documents


def pin_of(source: Source, expr: ast.expr, scope: Scope, depth: int = 0) -> Pin:
    """Whether the dict that ``expr`` evaluates to pins ``user_id``; a call of a module
    function is judged by what that function returns."""
    if depth > 5:
        return Pin.UNKNOWN
    if isinstance(expr, ast.Dict):
        return _pin_of_dict(source, expr, scope, depth)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "dict":
        if any(kw.arg == USER_KEY for kw in expr.keywords):
            return Pin.YES
        if expr.args or any(kw.arg is None for kw in expr.keywords):
            return Pin.UNKNOWN
        return Pin.NO
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        callee = source.functions.get(expr.func.id)
        if callee is not None:
            returned = [n.value for n in source.walk(callee) if isinstance(n, ast.Return)]
            if not returned or None in returned:
                return Pin.UNKNOWN
            return _weakest(pin_of(source, v, callee, depth + 1) for v in returned if v)
    if isinstance(expr, ast.IfExp):
        return _weakest(
            pin_of(source, branch, scope, depth + 1) for branch in (expr.body, expr.orelse)
        )
    if isinstance(expr, ast.Name):
        return _pin_of_name(source, expr, scope, depth)
    return Pin.UNKNOWN


def _pin_of_dict(source: Source, expr: ast.Dict, scope: Scope, depth: int) -> Pin:
    result = Pin.NO
    for key, value in zip(expr.keys, expr.values, strict=True):
        name = source.constant_str(key, scope) if key is not None else None
        if name == USER_KEY:
            return _pin_of_value(source, value, scope)
        if key is None:
            pin = pin_of(source, value, scope, depth + 1)
        elif name in ("$and", "$or") and isinstance(value, ast.List | ast.Tuple):
            pins = [pin_of(source, item, scope, depth + 1) for item in value.elts]
            pin = _strongest(pins) if name == "$and" else _weakest(pins) if pins else Pin.NO
        else:
            continue
        if pin is Pin.YES:
            return Pin.YES
        if pin is Pin.UNKNOWN:
            result = Pin.UNKNOWN
    return result


def _pin_of_value(source: Source, value: ast.expr, scope: Scope) -> Pin:
    """``"user_id": value`` pins one user unless ``value`` is an operator such as
    ``{"$ne": ...}`` or ``{"$in": [...]}``; ``{"$eq": ...}`` still pins."""
    if not isinstance(value, ast.Dict):
        return Pin.YES
    keys = [source.constant_str(k, scope) if k is not None else None for k in value.keys]
    return Pin.YES if keys == ["$eq"] else Pin.NO


def _pin_of_name(source: Source, use: ast.Name, scope: Scope, depth: int) -> Pin:
    if _sets_user_key(source, scope, use):
        return Pin.YES
    values = source.bindings(scope, use.id, use)
    if not values or None in values:
        return Pin.UNKNOWN
    pin = _weakest(pin_of(source, v, scope, depth + 1) for v in values if v is not None)
    if pin is Pin.NO and _mutated(source, scope, use):
        return Pin.UNKNOWN
    return pin


def _sets_user_key(source: Source, scope: Scope, use: ast.Name) -> bool:
    """``name["user_id"] = ...`` on the way to ``use``."""
    name = use.id
    for node in source.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == name
                    and source.constant_str(target.slice, scope) == USER_KEY
                    and source.reaches(node, use)
                ):
                    return True
    return False


def _mutated(source: Source, scope: Scope, use: ast.Name) -> bool:
    """A method call (``update``, ``setdefault``...) or an item set on the name of ``use``
    on the way to it."""
    name = use.id
    for node in source.walk(scope):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            target = node.value
        elif isinstance(node, ast.AugAssign):
            target = node.target
        if isinstance(target, ast.Name) and target.id == name and source.reaches(node, use):
            return True
    return False


def _pin_of_pipeline(source: Source, pipeline: ast.expr | None, scope: Scope) -> Pin:
    if isinstance(pipeline, ast.Name):
        values = source.bindings(scope, pipeline.id, pipeline)
        if len(values) != 1 or values[0] is None or _mutated(source, scope, pipeline):
            return Pin.UNKNOWN
        pipeline = values[0]
    if pipeline is None:
        return Pin.NO
    if not isinstance(pipeline, ast.List | ast.Tuple):
        return Pin.UNKNOWN
    if not pipeline.elts:
        return Pin.NO
    first = pipeline.elts[0]
    if not isinstance(first, ast.Dict):
        return Pin.UNKNOWN
    keys = [source.constant_str(k, scope) if k is not None else None for k in first.keys]
    if "$match" not in keys:
        return Pin.UNKNOWN if None in keys else Pin.NO
    return pin_of(source, first.values[keys.index("$match")], scope)


def _pin_of_documents(source: Source, documents: ast.expr | None, scope: Scope) -> Pin:
    if isinstance(documents, ast.Name):
        values = source.bindings(scope, documents.id, documents)
        if len(values) != 1 or values[0] is None or _mutated(source, scope, documents):
            return Pin.UNKNOWN
        documents = values[0]
    if documents is None:
        return Pin.NO
    if isinstance(documents, ast.List | ast.Tuple):
        if not documents.elts:
            return Pin.UNKNOWN
        return _weakest(pin_of(source, d, scope) for d in documents.elts)
    if isinstance(documents, ast.ListComp | ast.GeneratorExp):
        return pin_of(source, documents.elt, scope)
    return Pin.UNKNOWN


def _weakest(pins: Iterator[Pin] | list[Pin]) -> Pin:
    """All must pin: NO beats UNKNOWN beats YES."""
    found = set(pins)
    for pin in (Pin.NO, Pin.UNKNOWN):
        if pin in found:
            return pin
    return Pin.YES


def _strongest(pins: list[Pin]) -> Pin:
    """One pinning item is enough (``$and``)."""
    for pin in (Pin.YES, Pin.UNKNOWN):
        if pin in pins:
            return pin
    return Pin.NO


def _shown(collection: str | None) -> str:
    return repr(collection) if collection is not None else "a collection"
