"""Control flow, as far as the rules need it: whether a block always ends in ``return`` or
``raise``."""

from __future__ import annotations

import ast


def terminates(body: list[ast.stmt]) -> bool:
    """Whether running ``body`` always ends in ``return`` or ``raise``."""
    return any(_ends(stmt) for stmt in body)


def _ends(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Return | ast.Raise):
        return True
    if isinstance(stmt, ast.If):
        return terminates(stmt.body) and terminates(stmt.orelse)
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return terminates(stmt.body)
    if isinstance(stmt, ast.Try | ast.TryStar):
        handled = all(terminates(h.body) for h in stmt.handlers)
        body = terminates(stmt.body) or terminates(stmt.orelse)
        return terminates(stmt.finalbody) or (body and handled)
    if isinstance(stmt, ast.While):
        forever = isinstance(stmt.test, ast.Constant) and bool(stmt.test.value)
        if forever and not _breaks(stmt.body):
            return True
    if isinstance(stmt, ast.While | ast.For | ast.AsyncFor):
        return terminates(stmt.orelse) and not _breaks(stmt.body)
    if isinstance(stmt, ast.Match):
        catch_all = any(
            isinstance(case.pattern, ast.MatchAs)
            and case.pattern.pattern is None
            and not case.guard
            for case in stmt.cases
        )
        return catch_all and all(terminates(case.body) for case in stmt.cases)
    return False


def _breaks(body: list[ast.stmt]) -> bool:
    """A ``break`` that leaves this loop (not one of a nested loop or function)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Break):
            return True
        if isinstance(node, ast.For | ast.AsyncFor | ast.While):
            # A break in a nested loop's body leaves that loop; one in its else leaves ours.
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False
