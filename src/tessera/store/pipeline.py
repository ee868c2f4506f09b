"""What the aggregation stages share: the run context, and helpers to key a `$sort`
and to copy a document with one path changed."""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tessera.store.expressions import evaluate, failure
from tessera.store.paths import MISSING
from tessera.store.sorting import normalize_sort, sort_key

Resolve = Callable[[str], Iterable[dict[str, Any]]]
Documents = list[dict[str, Any]]


class Run:
    """What every stage of one pipeline run shares: other collections and variables."""

    __slots__ = ("cache", "resolve", "variables")

    def __init__(
        self, resolve: Resolve, variables: Mapping[str, Any], cache: dict[str, Documents]
    ) -> None:
        self.resolve = resolve
        self.variables = variables
        self.cache = cache

    def collection(self, name: Any) -> Documents:
        """The documents of collection `name`, read once per run."""
        if not isinstance(name, str) or not name:
            raise failure(2, f"collection name must be a non-empty string, not {name!r}")
        if name not in self.cache:
            self.cache[name] = list(self.resolve(name))
        return self.cache[name]

    def evaluate(self, expr: Any, doc: Mapping[str, Any]) -> Any:
        """The value of `expr` for `doc`, with this run's variables."""
        return evaluate(expr, doc, self.variables)

    def with_variables(self, variables: Mapping[str, Any]) -> "Run":
        """This run with `variables` added (as `$lookup` binds its ``let``)."""
        return Run(self.resolve, {**self.variables, **variables}, self.cache)


def sort_spec_key(arg: Any) -> Callable[[Mapping[str, Any]], Any]:
    """The sort key of a `$sort` specification, checked as the `$sort` stage checks it."""
    if not isinstance(arg, Mapping):
        raise failure(15973, "the $sort key specification must be an object")
    if not arg:
        raise failure(15976, "$sort stage must have at least one sort key")
    return sort_key(normalize_sort(arg))


def with_value(doc: Mapping[str, Any], parts: list[str], value: Any) -> dict[str, Any]:
    """A copy of `doc` with `value` at `parts` (MISSING removes it), copying only that path."""
    out = dict(doc)
    head = parts[0]
    if len(parts) == 1:
        if value is MISSING:
            out.pop(head, None)
        else:
            out[head] = value
        return out
    child = out.get(head)
    out[head] = with_value(child if isinstance(child, Mapping) else {}, parts[1:], value)
    return out
