"""One parsed plugin module and the static questions the rules ask of it.

Scopes are a module or a function; names resolve within their scope first, then at module
level, and only through plain assignments: anything cleverer counts as unknown, so the
rules stay conservative instead of guessing.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field

from tessera.check.findings import Finding

Function = ast.FunctionDef | ast.AsyncFunctionDef
Scope = Function | ast.Module
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_BROAD = frozenset({"Exception", "BaseException"})
# Exceptions of libraries the contract names, whose bases the checker cannot import safely.
_KNOWN_BASES = {"InvalidId": ("BSONError", "Exception"), "BSONError": ("Exception",)}
DB_ORIGIN = "core.config.database.db"
OBJECTID_ORIGINS = frozenset({"bson.ObjectId", "bson.objectid.ObjectId"})


def dotted(expr: ast.expr | None) -> str | None:
    """``a.b.c`` for a name or attribute chain, else None."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        head = dotted(expr.value)
        return f"{head}.{expr.attr}" if head else None
    return None


@dataclass
class Source:
    """A plugin module: its path as shown in findings, its tree and module-level names."""

    path: str
    tree: ast.Module
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    imported: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, path: str, text: str) -> Source:
        """Parse ``text``; raises SyntaxError as ``ast.parse`` does."""
        source = cls(path, ast.parse(text, filename=path))
        for node in ast.walk(source.tree):
            for child in ast.iter_child_nodes(node):
                source.parents[child] = node
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    source.imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.partition(".")[0]
                    source.imported[local] = alias.name if alias.asname else local
        for stmt in source.tree.body:
            if isinstance(stmt, Function):
                source.functions[stmt.name] = stmt
            elif isinstance(stmt, ast.ClassDef):
                source.classes[stmt.name] = stmt
        return source

    def finding(self, node: ast.AST, rule: str, message: str) -> Finding:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        return Finding(self.path, line, col, rule, message)

    def names_for(self, origins: frozenset[str]) -> frozenset[str]:
        """Local names bound by importing one of ``origins`` (``db``, ``ObjectId``...)."""
        return frozenset(name for name, origin in self.imported.items() if origin in origins)

    def scopes(self) -> Iterator[Scope]:
        """The module and every function in it, nested ones included."""
        yield self.tree
        for node in ast.walk(self.tree):
            if isinstance(node, Function):
                yield node

    def scope_of(self, node: ast.AST) -> Scope:
        parent = self.parents.get(node)
        while parent is not None and not isinstance(parent, Function):
            parent = self.parents.get(parent)
        return parent if parent is not None else self.tree

    def walk(self, scope: Scope) -> Iterator[ast.AST]:
        """The nodes of a scope in source order, not entering nested functions or classes."""
        body: list[ast.AST] = list(scope.body)
        if isinstance(scope, Function):
            body = [*scope.args.defaults, *scope.args.kw_defaults, *body]
        stack = list(reversed([n for n in body if n is not None]))
        while stack:
            node = stack.pop()
            yield node
            if isinstance(node, _NESTED):
                continue
            stack.extend(reversed(list(ast.iter_child_nodes(node))))

    def bindings(self, scope: Scope, name: str) -> list[ast.expr | None]:
        """The values bound to ``name`` in ``scope`` (then at module level); None stands for
        a binding whose value is unknown (a parameter, a loop target, an unpacking...)."""
        found: list[ast.expr | None] = []
        if isinstance(scope, Function):
            params = scope.args
            every = [*params.posonlyargs, *params.args, *params.kwonlyargs]
            every += [a for a in (params.vararg, params.kwarg) if a is not None]
            found += [None for arg in every if arg.arg == name]
        for node in self.walk(scope):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        found.append(node.value)
                    elif _binds(target, name):
                        found.append(None)
            elif isinstance(node, ast.AnnAssign | ast.NamedExpr | ast.AugAssign):
                if _binds(node.target, name):
                    plain = not isinstance(node, ast.AugAssign)
                    found.append(node.value if plain else None)
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                if _binds(node.target, name):
                    found.append(None)
            elif isinstance(node, ast.withitem) and _binds(node.optional_vars, name):
                found.append(None)
        if not found and isinstance(scope, Function):
            return self.bindings(self.tree, name)
        return found

    def constant_str(self, expr: ast.expr, scope: Scope, depth: int = 0) -> str | None:
        """The string an expression always holds: a literal or a name bound only to one."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name) and depth < 5:
            values = {
                self.constant_str(v, scope, depth + 1) if v is not None else None
                for v in self.bindings(scope, expr.id)
            }
            if len(values) == 1:
                return values.pop()
        return None

    def exception_names(self, name: str, depth: int = 0) -> set[str]:
        """``name`` and the names of its base classes, as far as they can be known."""
        names = {name}
        if isinstance(getattr(builtins, name, None), type):
            return names | {base.__name__ for base in getattr(builtins, name).__mro__}
        bases: tuple[str, ...] = _KNOWN_BASES.get(name, ())
        if name in self.classes:
            bases = tuple(filter(None, (dotted(b) for b in self.classes[name].bases)))
        for base in bases:
            if depth < 10:
                names |= self.exception_names(base.rpartition(".")[2], depth + 1)
        return names

    def caught(self, node: ast.AST, exception: str | None) -> bool:
        """Whether a ``try`` around ``node`` in its function catches ``exception`` (a class
        name; None when unknown, which only a broad ``except`` catches)."""
        return any(catches(h, self, exception) for h in self.handlers_around(node))

    def handlers_around(self, node: ast.AST) -> Iterator[ast.ExceptHandler]:
        """The ``except`` clauses whose ``try`` body holds ``node``, innermost first."""
        child, parent = node, self.parents.get(node)
        while parent is not None and not isinstance(parent, _NESTED):
            if isinstance(parent, ast.Try | ast.TryStar) and any(s is child for s in parent.body):
                yield from parent.handlers
            child, parent = parent, self.parents.get(parent)


def catches(handler: ast.ExceptHandler, source: Source, exception: str | None) -> bool:
    """Whether one ``except`` clause catches the named exception class."""
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    caught = {name.rpartition(".")[2] for name in filter(None, map(dotted, kinds))}
    if caught & _BROAD:
        return True
    return exception is not None and bool(caught & source.exception_names(exception))


def _binds(target: ast.AST | None, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target or ast.Pass()))
