"""Comparison, boolean and conditional operators, and `$let`/`$literal`."""

from collections.abc import Callable, Mapping
from typing import Any

from tessera.store.aggregation.expressions.core import (
    Scope,
    arity_error,
    check_variable_name,
    compare_values,
    failure,
    named_args,
    nullish,
    operator,
    special,
    truthy,
)


def _comparison(name: str, test: Callable[[int], bool | int]) -> None:
    @operator(name, 2)
    def op(a: Any, b: Any) -> Any:
        return test(compare_values(a, b))


_comparison("$eq", lambda c: c == 0)
_comparison("$ne", lambda c: c != 0)
_comparison("$gt", lambda c: c > 0)
_comparison("$gte", lambda c: c >= 0)
_comparison("$lt", lambda c: c < 0)
_comparison("$lte", lambda c: c <= 0)
_comparison("$cmp", lambda c: c)


def _args(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else [raw]


@special("$and")
def _and(raw: Any, scope: Scope) -> bool:
    return all(truthy(scope.eval(e)) for e in _args(raw))


@special("$or")
def _or(raw: Any, scope: Scope) -> bool:
    return any(truthy(scope.eval(e)) for e in _args(raw))


@operator("$not", 1)
def _not(value: Any) -> bool:
    return not truthy(value)


@special("$cond")
def _cond(raw: Any, scope: Scope) -> Any:
    if isinstance(raw, list):
        if len(raw) != 3:
            raise arity_error("$cond", 3, len(raw))
        condition, then, otherwise = raw
    else:
        if not isinstance(raw, Mapping):
            raise arity_error("$cond", 3, 1)
        for key in raw:
            if key not in ("if", "then", "else"):
                raise failure(17083, f"Unrecognized parameter to $cond: {key}")
        for key, code in (("if", 17080), ("then", 17081), ("else", 17082)):
            if key not in raw:
                raise failure(code, f"Missing '{key}' parameter to $cond")
        condition, then, otherwise = raw["if"], raw["then"], raw["else"]
    return scope.eval(then if truthy(scope.eval(condition)) else otherwise)


@special("$ifNull")
def _if_null(raw: Any, scope: Scope) -> Any:
    args = _args(raw)
    if len(args) < 2:
        raise failure(1, "$ifNull needs at least two arguments")
    for expr in args[:-1]:
        value = scope.eval(expr)
        if not nullish(value):
            return value
    return scope.eval(args[-1])


@special("$switch")
def _switch(raw: Any, scope: Scope) -> Any:
    spec = named_args("$switch", raw, ("branches",), ("default",))
    branches = spec["branches"]
    if not isinstance(branches, list):
        raise failure(40061, "$switch expected an array for 'branches'")
    for branch in branches:
        if not isinstance(branch, Mapping) or "case" not in branch or "then" not in branch:
            raise failure(40064, "$switch requires each branch to have a 'case' and a 'then'")
        if truthy(scope.eval(branch["case"])):
            return scope.eval(branch["then"])
    if "default" not in spec:
        raise failure(
            40066,
            "$switch could not find a matching branch for an input, and no default was specified.",
        )
    return scope.eval(spec["default"])


@special("$literal")
def _literal(raw: Any, scope: Scope) -> Any:
    return raw


@special("$let")
def _let(raw: Any, scope: Scope) -> Any:
    spec = named_args("$let", raw, ("vars", "in"))
    if not isinstance(spec["vars"], Mapping):
        raise failure(10065, "invalid parameter: expected an object (vars)")
    names = {name: scope.eval(expr) for name, expr in spec["vars"].items()}
    for name in names:
        check_variable_name(name)
    return scope.bind(**names).eval(spec["in"])
