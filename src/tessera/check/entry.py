"""Contract rules 1 and 2 on the entry point: ``async def execute`` that always answers a
dict and never lets an exception out.

Return paths are followed into module functions whose result ``execute`` returns
(``return await handle_list(...)``); raises are followed into module functions ``execute``
calls directly, minding the ``try`` around each call. A value that cannot be classified is
accepted: only what is certainly not a dict is reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from tessera.check.findings import Finding
from tessera.check.flow import terminates
from tessera.check.source import Function, Source, catches, dotted
from tessera.plugins.loader import ENTRY_POINTS

_ERROR_DICT = 'return a dict such as {"error": "..."}'
_NOT_DICT_NODES = (
    ast.Constant,
    ast.List,
    ast.ListComp,
    ast.Tuple,
    ast.Set,
    ast.SetComp,
    ast.JoinedStr,
    ast.GeneratorExp,
    ast.Compare,
    ast.Lambda,
)


class _Verdict(Enum):
    DICT = "a dict"
    NOT_DICT = "not a dict"
    UNKNOWN = "cannot tell"


@dataclass(frozen=True)
class _Kind:
    """What a returned expression is (and, when not a dict, what it is instead), plus the
    module functions whose result it is: their own returns decide for them."""

    verdict: _Verdict
    shown: str = ""
    callees: tuple[Function, ...] = ()


_UNKNOWN = _Kind(_Verdict.UNKNOWN)


def check_entry(source: Source) -> Iterator[Finding]:
    """Findings on the entry point of a plugin's ``logic.py``."""
    entry = next((source.functions[n] for n in ENTRY_POINTS if n in source.functions), None)
    if entry is None:
        if not any(source.bindings(source.tree, n) or n in source.imported for n in ENTRY_POINTS):
            yield source.finding(
                source.tree,
                "entry-missing",
                "logic.py defines no entry point: add `async def execute(data: dict) -> dict`",
            )
        return
    if not isinstance(entry, ast.AsyncFunctionDef):
        yield source.finding(
            entry,
            "entry-sync",
            f"{entry.name} is a plain def: make it `async def {entry.name}(data: dict) -> dict` "
            "(contract rule 1)",
        )
    yield from _returns(source, entry)
    yield from _raises(source, entry)


def _returns(source: Source, entry: Function) -> Iterator[Finding]:
    queue, seen = [entry], {entry.name}
    while queue:
        func = queue.pop(0)
        label = entry.name if func is entry else f"{func.name} (returned by {entry.name})"
        nodes = list(source.walk(func))
        if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in nodes):
            continue
        for node in nodes:
            if not isinstance(node, ast.Return):
                continue
            if node.value is None:
                yield source.finding(
                    node, "missing-return", f"bare return in {label} answers None: {_ERROR_DICT}"
                )
                continue
            kind = _kind(source, node.value, func, 0)
            if kind.verdict is _Verdict.NOT_DICT:
                yield source.finding(
                    node,
                    "return-not-dict",
                    f"{label} returns {kind.shown} here, not a dict: {_ERROR_DICT}",
                )
            for callee in kind.callees:
                if callee.name not in seen:
                    seen.add(callee.name)
                    queue.append(callee)
        if not terminates(func.body):
            yield source.finding(
                func,
                "missing-return",
                f"{label} can reach its end without returning: end it with "
                f'`return {{"error": "..."}}` (falling off the end answers None)',
            )


def _kind(source: Source, expr: ast.expr, func: Function, depth: int) -> _Kind:
    awaited = isinstance(expr, ast.Await)
    inner = expr.value if isinstance(expr, ast.Await) else expr
    if isinstance(inner, ast.Dict | ast.DictComp):
        return _Kind(_Verdict.DICT)
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
        if inner.func.id == "dict" and "dict" not in source.functions:
            return _Kind(_Verdict.DICT)
        callee = source.functions.get(inner.func.id)
        if callee is not None:
            if isinstance(callee, ast.AsyncFunctionDef) and not awaited:
                return _Kind(_Verdict.NOT_DICT, f"the coroutine of {callee.name}() (add await)")
            return _Kind(_Verdict.UNKNOWN, callees=(callee,))
    if isinstance(inner, ast.Call):
        handlers = _dispatched(source, inner.func, func)
        if any(isinstance(h, ast.AsyncFunctionDef) for h in handlers) and not awaited:
            return _Kind(
                _Verdict.NOT_DICT, f"the coroutine of {ast.unparse(inner.func)}() (add await)"
            )
        if handlers:
            return _Kind(_Verdict.UNKNOWN, callees=handlers)
    if isinstance(inner, _NOT_DICT_NODES):
        return _Kind(_Verdict.NOT_DICT, _describe(inner))
    if isinstance(inner, ast.IfExp):
        branches = [_kind(source, b, func, depth + 1) for b in (inner.body, inner.orelse)]
        callees = tuple(c for b in branches for c in b.callees)
        bad = next((b for b in branches if b.verdict is _Verdict.NOT_DICT), None)
        if bad is not None:
            return _Kind(_Verdict.NOT_DICT, bad.shown, callees)
        return _Kind(_Verdict.UNKNOWN, callees=callees)
    if isinstance(inner, ast.Name) and depth < 5 and not awaited:
        values = source.bindings(func, inner.id, inner)
        kinds = [_kind(source, v, func, depth + 1) if v is not None else _UNKNOWN for v in values]
        if kinds and all(k.verdict is _Verdict.NOT_DICT for k in kinds):
            return _Kind(_Verdict.NOT_DICT, f"{inner.id} (= {kinds[0].shown})")
    return _UNKNOWN


def _dispatched(source: Source, expr: ast.expr, func: Function) -> tuple[Function, ...]:
    """The module functions a dispatch table call may run: ``HANDLERS[action](...)``, or
    ``handler(...)`` after ``handler = HANDLERS.get(action)``, where ``HANDLERS`` is a dict
    literal of module functions."""
    if isinstance(expr, ast.Name):
        values = source.bindings(func, expr.id, expr)
        if len(values) != 1 or values[0] is None:
            return ()
        expr = values[0]
    if isinstance(expr, ast.Subscript):
        table = expr.value
    elif (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == "get"
    ):
        table = expr.func.value
    else:
        return ()
    if isinstance(table, ast.Name):
        values = source.bindings(func, table.id, table)
        table = values[0] if len(values) == 1 and values[0] is not None else table
    if not isinstance(table, ast.Dict):
        return ()
    names = [v.id if isinstance(v, ast.Name) else "" for v in table.values]
    if not names or not all(n in source.functions for n in names):
        return ()
    return tuple(source.functions[n] for n in dict.fromkeys(names))


def _describe(expr: ast.AST) -> str:
    text = ast.unparse(expr)
    return text if len(text) <= 40 else text[:37] + "..."


def _raises(source: Source, entry: Function) -> Iterator[Finding]:
    queue: list[tuple[Function, tuple[ast.ExceptHandler, ...]]] = [(entry, ())]
    seen = {entry.name}
    while queue:
        func, outer = queue.pop(0)
        via = "" if func is entry else f" (through {func.name}, which {entry.name} calls)"
        for node in source.walk(func):
            if isinstance(node, ast.Raise):
                exception = _raised(node)
                if source.caught(node, exception) or any(
                    catches(h, source, exception) for h in outer
                ):
                    continue
                shown = f"raise {exception}" if exception else f"`{_describe(node)}`"
                yield source.finding(
                    node,
                    "raise-escapes",
                    f"{shown} escapes {entry.name}{via}: {_ERROR_DICT} instead "
                    "(contract rule 2: never raise)",
                )
            elif isinstance(node, ast.Call):
                callees = _dispatched(source, node.func, func)
                if isinstance(node.func, ast.Name) and node.func.id in source.functions:
                    callees = (source.functions[node.func.id],)
                for callee in callees:
                    if callee.name not in seen:
                        seen.add(callee.name)
                        queue.append((callee, (*source.handlers_around(node), *outer)))


def _raised(node: ast.Raise) -> str | None:
    """The class name a ``raise`` raises, when written out; None for ``raise`` or a name."""
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    name = dotted(exc)
    if name is None or (isinstance(exc, ast.Name) and not exc.id[:1].isupper()):
        return None
    return name.rpartition(".")[2]
