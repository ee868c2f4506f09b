"""One parsed plugin module and the static questions the rules ask of it.

Scopes are the module, functions and lambdas; a name resolves in its scope first, then in
the enclosing ones, and only through plain assignments that can flow to the use: anything
cleverer counts as unknown, so the rules warn instead of guessing.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field

from tessera.check.findings import Finding
from tessera.check.flow import terminates

Function = ast.FunctionDef | ast.AsyncFunctionDef
Scope = Function | ast.Lambda | ast.Module
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_BROAD = frozenset({"Exception", "BaseException"})
# Exceptions of libraries the contract names, whose bases the checker cannot import safely.
_KNOWN_BASES = {"InvalidId": ("BSONError", "Exception"), "BSONError": ("Exception",)}
DB_ORIGINS = frozenset({"core.config.database.db", "mozaiks_infra.config.database.db"})
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
    _nodes: dict[int, list[ast.AST]] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, path: str, text: str) -> Source:
        """Parse ``text``; raises SyntaxError as ``ast.parse`` does."""
        source = cls(path, ast.parse(text, filename=path))
        for node in ast.walk(source.tree):
            for child in ast.iter_child_nodes(node):
                source.parents[child] = node
            if isinstance(node, ast.ImportFrom):
                # Relative imports keep their dots: ".helpers.execute" is no core name.
                module = "." * node.level + (node.module or "")
                for alias in node.names:
                    source.imported[alias.asname or alias.name] = f"{module}.{alias.name}"
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
        """How the module spells the imported objects ``origins`` (dotted paths such as
        ``core.config.database.db``): ``db``, ``database.db``, ``core.config.database.db``..."""
        return frozenset(
            name + target[len(origin) :]
            for name, origin in self.imported.items()
            for target in origins
            if target == origin or target.startswith(origin + ".")
        )

    def scopes(self) -> Iterator[Scope]:
        """The module and every function (and lambda) in it, nested ones included."""
        yield self.tree
        for node in ast.walk(self.tree):
            if isinstance(node, Function | ast.Lambda):
                yield node

    def scope_of(self, node: ast.AST) -> Scope:
        parent = self.parents.get(node)
        while parent is not None and not isinstance(parent, Function | ast.Lambda):
            parent = self.parents.get(parent)
        return parent if parent is not None else self.tree

    def walk(self, scope: Scope) -> list[ast.AST]:
        """The nodes of a scope in source order, not entering nested functions or classes."""
        key = id(scope)
        if key not in self._nodes:
            body = [scope.body] if isinstance(scope, ast.Lambda) else scope.body
            stack: list[ast.AST] = list(reversed(body))
            nodes = self._nodes[key] = []
            while stack:
                node = stack.pop()
                nodes.append(node)
                if not isinstance(node, _NESTED):
                    stack.extend(reversed(list(ast.iter_child_nodes(node))))
        return self._nodes[key]

    def bindings(
        self, scope: Scope, name: str, use: ast.AST | None = None
    ) -> list[ast.expr | None]:
        """The values bound to ``name`` in ``scope`` (then in the enclosing scopes); None
        stands for a binding whose value is unknown (a parameter, a loop target...). With
        ``use``, only the bindings in ``scope`` that can flow to ``use`` count."""
        found: list[ast.expr | None] = []
        if not isinstance(scope, ast.Module):
            params = scope.args
            every = [*params.posonlyargs, *params.args, *params.kwonlyargs]
            every += [a for a in (params.vararg, params.kwarg) if a is not None]
            found += [None for arg in every if arg.arg == name]
        for node in self.walk(scope):
            values = _bound(node, name)
            if values and (use is None or self.reaches(node, use)):
                found += values
        if not found and not isinstance(scope, ast.Module):
            return self.bindings(self.scope_of(scope), name)
        return found

    def reaches(self, node: ast.AST, use: ast.AST) -> bool:
        """Whether ``node`` can run before ``use`` and flow on to it: it comes first, and
        no block holding it but not ``use`` always ends in ``return`` or ``raise`` (the
        ``if action == ...: ... return`` chains of plugins)."""
        if getattr(node, "lineno", 0) > getattr(use, "lineno", 0):
            return False
        around = {id(use)}
        parent = self.parents.get(use)
        while parent is not None:
            around.add(id(parent))
            parent = self.parents.get(parent)
        child, parent = node, self.parents.get(node)
        while parent is not None and id(parent) not in around:
            for block in _blocks(parent):
                if any(s is child for s in block) and terminates(block):
                    return False
            child, parent = parent, self.parents.get(parent)
        return True

    def constant_str(self, expr: ast.expr, scope: Scope, depth: int = 0) -> str | None:
        """The string an expression always holds: a literal or a name bound only to one."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name) and depth < 5:
            values = {
                self.constant_str(v, scope, depth + 1) if v is not None else None
                for v in self.bindings(scope, expr.id, expr)
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

    def caught_where_used(self, func: Function, exception: str | None, depth: int = 0) -> bool:
        """Whether every use of the module function ``func`` sits in a ``try`` that catches
        ``exception``: directly, through a module-level dict or list of handlers, or in a
        function itself used only so (helpers that ``execute`` calls inside its try)."""
        if depth > 5 or self.functions.get(func.name) is not func:
            return False
        uses = self._uses(func.name)
        return bool(uses) and all(self._use_caught(u, exception, depth) for u in uses)

    def _uses(self, name: str) -> list[ast.Name]:
        return [
            n
            for n in ast.walk(self.tree)
            if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
        ]

    def _use_caught(self, use: ast.AST, exception: str | None, depth: int) -> bool:
        if self.caught(use, exception):
            return True
        scope = self.scope_of(use)
        if isinstance(scope, ast.Module):
            # HANDLERS = {"get": handle_get}: where HANDLERS is used counts instead.
            statement = use
            while self.parents.get(statement) is not self.tree:
                statement = self.parents[statement]
            if not isinstance(statement, ast.Assign) or depth > 5:
                return False
            names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            uses = [u for name in names for u in self._uses(name)]
            return bool(uses) and all(self._use_caught(u, exception, depth + 1) for u in uses)
        if isinstance(scope, Function):
            return self.caught_where_used(scope, exception, depth + 1)
        return False

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
    caught = {
        source.imported.get(name, name).rpartition(".")[2]
        for name in filter(None, map(dotted, kinds))
    }
    if caught & _BROAD:
        return True
    return exception is not None and bool(caught & source.exception_names(exception))


def _bound(node: ast.AST, name: str) -> list[ast.expr | None]:
    """The values ``node`` binds to ``name``: None for each binding of unknown value."""
    if isinstance(node, ast.Assign):
        return [
            node.value if isinstance(t, ast.Name) else None for t in node.targets if _binds(t, name)
        ]
    if isinstance(node, ast.AnnAssign | ast.NamedExpr) and _binds(node.target, name):
        return [node.value]
    if isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.comprehension):
        return [None] if _binds(node.target, name) else []
    if isinstance(node, ast.withitem):
        return [None] if _binds(node.optional_vars, name) else []
    return []


def _blocks(node: ast.AST) -> list[list[ast.stmt]]:
    """The statement lists directly inside a compound statement."""
    fields = ("body", "orelse", "finalbody")
    blocks = [getattr(node, f) for f in fields if isinstance(getattr(node, f, None), list)]
    return [b for b in blocks if all(isinstance(s, ast.stmt) for s in b)]


def _binds(target: ast.AST | None, name: str) -> bool:
    """Whether an assignment target binds ``name`` (``name[...] = `` does not)."""
    if isinstance(target, ast.Name):
        return target.id == name
    if isinstance(target, ast.Tuple | ast.List):
        return any(_binds(t, name) for t in target.elts)
    if isinstance(target, ast.Starred):
        return _binds(target.value, name)
    return False
