"""Where a plugin calls the database: collection methods on ``db[...]`` and its aliases.

A collection is ``db["name"]``, ``db[NAME]``, ``db.get_collection(...)``, ``db.name``, or a
name assigned one of those (in the same function or at module level). Collections reached
through ``db.as_admin(...)`` are an explicit, logged escalation and are not listed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from tessera.check.source import DB_ORIGINS, Scope, Source, dotted

# Methods of a Database, not collections reached by attribute (``db.items``).
_DATABASE_ATTRIBUTES = frozenset(
    {
        "aggregate",
        "as_admin",
        "client",
        "codec_options",
        "command",
        "create_collection",
        "drop_collection",
        "get_collection",
        "list_collection_names",
        "list_collections",
        "name",
        "read_concern",
        "read_preference",
        "validate_collection",
        "watch",
        "with_options",
        "write_concern",
    }
)
FILTERED = frozenset(
    {
        "count_documents",
        "delete_many",
        "delete_one",
        "distinct",
        "find",
        "find_one",
        "find_one_and_delete",
        "find_one_and_replace",
        "find_one_and_update",
        "replace_one",
        "update_many",
        "update_one",
    }
)
INSERTS = frozenset({"insert_one", "insert_many"})
PIPELINES = frozenset({"aggregate"})
UNSCOPABLE = frozenset({"estimated_document_count"})
UNVERIFIABLE = frozenset({"bulk_write"})
METHODS = FILTERED | INSERTS | PIPELINES | UNSCOPABLE | UNVERIFIABLE


@dataclass(frozen=True)
class DbCall:
    """A collection method call: ``collection`` is its name when it can be known."""

    node: ast.Call
    method: str
    collection: str | None
    scope: Scope

    def argument(self, position: int, keyword: str) -> ast.expr | None:
        """The argument passed at ``position`` or as ``keyword=``; None when absent."""
        if len(self.node.args) > position:
            arg = self.node.args[position]
            return None if isinstance(arg, ast.Starred) else arg
        for kw in self.node.keywords:
            if kw.arg == keyword:
                return kw.value
        return None

    @property
    def opaque(self) -> bool:
        """Arguments passed as ``*args`` or ``**kwargs``: nothing can be said about them."""
        return any(isinstance(a, ast.Starred) for a in self.node.args) or any(
            kw.arg is None for kw in self.node.keywords
        )


def db_calls(source: Source) -> Iterator[DbCall]:
    """Every collection method call of the module, in source order."""
    db_names = source.names_for(DB_ORIGINS)
    if not db_names:
        return
    for scope in source.scopes():
        for node in source.walk(scope):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in METHODS:
                continue
            found = _collection(node.func.value, scope, source, db_names, 0)
            if found is not None:
                yield DbCall(node, node.func.attr, found[0], scope)


def _collection(
    expr: ast.expr, scope: Scope, source: Source, db_names: frozenset[str], depth: int
) -> tuple[str | None] | None:
    """``(name,)`` when ``expr`` is a collection (name None if unknown), else None."""
    if _is_db(expr, db_names):
        return None
    if isinstance(expr, ast.Subscript) and _is_db(expr.value, db_names):
        return (source.constant_str(expr.slice, scope),)
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "get_collection"
        and _is_db(expr.func.value, db_names)
    ):
        name = expr.args[0] if expr.args else None
        return (source.constant_str(name, scope) if name is not None else None,)
    if isinstance(expr, ast.Attribute) and _is_db(expr.value, db_names):
        if expr.attr in _DATABASE_ATTRIBUTES or expr.attr.startswith("_"):
            return None
        return (expr.attr,)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and depth < 5:
        # A module function that returns a collection: `def get_collection(): return db[X]`.
        callee = source.functions.get(expr.func.id)
        if callee is not None:
            returned = [n.value for n in source.walk(callee) if isinstance(n, ast.Return)]
            return _one_collection(returned, callee, source, db_names, depth)
    if isinstance(expr, ast.Name) and depth < 5:
        return _one_collection(
            source.bindings(scope, expr.id, expr), scope, source, db_names, depth
        )
    return None


def _one_collection(
    values: list[ast.expr | None],
    scope: Scope,
    source: Source,
    db_names: frozenset[str],
    depth: int,
) -> tuple[str | None] | None:
    """A collection when every value is one: its name if they all agree."""
    resolved = [
        _collection(v, scope, source, db_names, depth + 1) if v is not None else None
        for v in values
    ]
    if not values or any(r is None for r in resolved):
        return None
    names = {r[0] for r in resolved if r is not None}
    return (names.pop() if len(names) == 1 else None,)


def _is_db(expr: ast.expr, db_names: frozenset[str]) -> bool:
    return dotted(expr) in db_names
