"""Contract rule 5 and its ``ObjectId`` corollary: client input is checked before use.

Client input is ``data.get(...)`` or ``data[...]`` (``data`` being the entry point's
parameter, or a parameter of that name in any function), minus the keys the runtime injects,
and any name assigned from it. Both rules are warnings, and deliberately narrow: the
contract's own template builds ``ObjectId(item_id)`` unguarded.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tessera.check.dbcalls import db_calls
from tessera.check.findings import Finding
from tessera.check.source import OBJECTID_ORIGINS, Function, Source, dotted

INJECTED = frozenset({"user_id", "app_id", "_context", "_entitlements"})
_TESTS = (ast.If, ast.While, ast.IfExp, ast.Assert)


def check_inputs(source: Source, client: frozenset[str]) -> Iterator[Finding]:
    """Findings for client input used unguarded: in ``ObjectId(...)`` or a database call."""
    calls = list(db_calls(source))
    for scope in source.scopes():
        if not isinstance(scope, Function):
            continue
        args = scope.args
        params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]} & client
        if not params:
            continue
        nodes = list(source.walk(scope))
        yield from _object_ids(source, scope, nodes, params)
        yield from _unchecked(source, nodes, params, [c.node for c in calls if c.scope is scope])


def _object_ids(
    source: Source, scope: Function, nodes: list[ast.AST], params: set[str]
) -> Iterator[Finding]:
    spellings = source.names_for(OBJECTID_ORIGINS)

    def is_object_id(expr: ast.expr) -> bool:
        return dotted(expr) in spellings

    tainted = _tainted(nodes, params)
    checked = [
        (node.lineno, ast.dump(node.args[0]))
        for node in nodes
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "is_valid"
        and is_object_id(node.func.value)
        and node.args
    ]
    for node in nodes:
        if not (isinstance(node, ast.Call) and is_object_id(node.func) and node.args):
            continue
        arg = node.args[0]
        if not _is_client(arg, params, tainted) or source.caught(node, "InvalidId"):
            continue
        if source.caught_where_used(scope, "InvalidId"):
            continue
        if any(line <= node.lineno and text == ast.dump(arg) for line, text in checked):
            continue
        yield source.finding(
            node,
            "objectid-unguarded",
            f"ObjectId({ast.unparse(arg)}) raises InvalidId on a malformed id from the client: "
            f"test ObjectId.is_valid({ast.unparse(arg)}) first, or catch InvalidId, and "
            'return {"error": "invalid id"}',
        )


def _unchecked(
    source: Source, nodes: list[ast.AST], params: set[str], calls: list[ast.Call]
) -> Iterator[Finding]:
    assigned: dict[str, list[tuple[int, str | None]]] = {}
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    key = _required_key(node.value, params)
                    assigned.setdefault(target.id, []).append((node.lineno, key))
    for call in calls:
        used = {
            n.id: n
            for arg in [*call.args, *(kw.value for kw in call.keywords)]
            for n in ast.walk(arg)
            if isinstance(n, ast.Name) and n.id in assigned
        }
        for name, use in used.items():
            # The assignment that reaches the call: the last one above it.
            earlier = [a for a in assigned[name] if a[0] <= call.lineno]
            if not earlier or earlier[-1][1] is None:
                continue
            line, key = earlier[-1]
            if key is not None and not _tested(nodes, name, key, params, line, call.lineno):
                yield source.finding(
                    use,
                    "input-unchecked",
                    f"{name} (data.get({key!r})) reaches the database untested: first "
                    f'`if not {name}: return {{"error": "{key} required"}}` (contract rule 5)',
                )


def _required_key(expr: ast.expr, params: set[str]) -> str | None:
    """The key of ``data.get("key")`` without a default (methods may follow), else None."""
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        receiver = expr.func.value
        if expr.func.attr == "get" and isinstance(receiver, ast.Name) and receiver.id in params:
            if len(expr.args) != 1 or expr.keywords or not isinstance(expr.args[0], ast.Constant):
                return None
            key = expr.args[0].value
            return key if isinstance(key, str) and key not in INJECTED else None
        expr = receiver
    return None


def _tested(
    nodes: list[ast.AST], name: str, key: str, params: set[str], first: int, last: int
) -> bool:
    """Whether a condition before line ``last`` looks at the field: at the name assigned
    on line ``first`` or later, or at the key in ``data`` (``if "key" not in data``)."""
    for node in nodes:
        if isinstance(node, _TESTS):
            tests = [node.test]
        elif isinstance(node, ast.BoolOp):
            tests = node.values[:-1]
        else:
            continue
        if node.lineno > last:
            continue
        for test in tests:
            names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
            keys = {n.value for n in ast.walk(test) if isinstance(n, ast.Constant)}
            if (name in names and node.lineno >= first) or (key in keys and names & params):
                return True
    return False


def _tainted(nodes: list[ast.AST], params: set[str]) -> set[str]:
    """Names assigned from client input, in source order."""
    tainted: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Assign) and _is_client(node.value, params, tainted):
            tainted |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return tainted


def _is_client(expr: ast.expr, params: set[str], tainted: set[str]) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in tainted
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
        return expr.value.id in params and _client_key(expr.slice)
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    if isinstance(func, ast.Attribute):
        if func.attr == "get" and isinstance(func.value, ast.Name) and func.value.id in params:
            return bool(expr.args) and _client_key(expr.args[0])
        return _is_client(func.value, params, tainted)
    if isinstance(func, ast.Name) and func.id == "str" and expr.args:
        return _is_client(expr.args[0], params, tainted)
    return False


def _client_key(key: ast.expr) -> bool:
    return not (isinstance(key, ast.Constant) and key.value in INJECTED)
