"""What the aggregation stages share: the run context, the limit on nested sub-pipelines,
and helpers to key a `$sort` and to copy a document with one path changed."""

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from tessera.store.aggregation.expressions import evaluate, failure
from tessera.store.bounds.limits import approximate_size
from tessera.store.query.sorting import normalize_sort, sort_key
from tessera.store.values.paths import MISSING

Resolve = Callable[[str], Iterable[dict[str, Any]]]
#: Stages that take each document alone, so a pipeline of them runs a batch at a time.
STREAMING_STAGES = frozenset(
    {"$match", "$project", "$addFields", "$set", "$unset", "$replaceRoot", "$replaceWith"}
)
Documents = list[dict[str, Any]]
#: `$lookup` and `$unionWith` stages that may nest inside one another, as in MongoDB: each
#: runs its sub-pipeline once per document, so nesting them multiplies the work.
MAX_SUB_PIPELINE_DEPTH = 20
_MAX_SUB_PIPELINE_DEPTH_CODE = 232  # MaxSubPipelineDepthExceeded


class Footprint:
    """What a run knows of its documents' size, to enforce the memory limits cheaply.

    `stored` is the BSON size of the documents read, while every document in the run is
    a stored one or a part of one: then no set of them is larger. A stage that computes
    values, multiplies documents or reads another collection sets it to None, and sizes
    are then estimated document by document.
    """

    __slots__ = ("stored",)

    def __init__(self, stored: int | None) -> None:
        self.stored = stored

    def forget(self) -> None:
        """Documents are no longer parts of the stored ones."""
        self.stored = None

    def exceeds(self, docs: Iterable[Mapping[str, Any]], limit: int) -> bool:
        """Whether `docs` together may be larger than `limit` bytes: never while they are
        parts of fewer stored bytes, else by estimate, stopping once over."""
        if self.stored is not None and self.stored <= limit:
            return False
        used = 0
        for doc in docs:
            used += approximate_size(doc)
            if used > limit:
                return True
        return False


class Run:
    """What every stage of one pipeline run shares: other collections, variables, and
    what is known of the documents' size."""

    __slots__ = ("cache", "footprint", "resolve", "variables")

    def __init__(
        self,
        resolve: Resolve,
        variables: Mapping[str, Any],
        cache: dict[str, Documents],
        footprint: Footprint | None = None,
    ) -> None:
        self.resolve = resolve
        self.variables = variables
        self.cache = cache
        self.footprint = footprint or Footprint(None)

    def collection(self, name: Any) -> Documents:
        """The documents of collection `name`, read once per run."""
        if not isinstance(name, str) or not name:
            raise failure(2, f"collection name must be a non-empty string, not {name!r}")
        self.footprint.forget()
        if name not in self.cache:
            self.cache[name] = list(self.resolve(name))
        return self.cache[name]

    def evaluate(self, expr: Any, doc: Mapping[str, Any]) -> Any:
        """The value of `expr` for `doc`, with this run's variables."""
        return evaluate(expr, doc, self.variables)

    def with_variables(self, variables: Mapping[str, Any]) -> "Run":
        """This run with `variables` added (as `$lookup` binds its ``let``)."""
        return Run(self.resolve, {**self.variables, **variables}, self.cache, self.footprint)


def check_sub_pipeline_depth(pipeline: Any) -> None:
    """Refuse `pipeline` when more than `MAX_SUB_PIPELINE_DEPTH` `$lookup` and `$unionWith`
    stages nest inside one another, before anything runs (MongoDB's code 232)."""
    depth = _sub_pipeline_depth(pipeline)
    if depth > MAX_SUB_PIPELINE_DEPTH:
        raise failure(
            _MAX_SUB_PIPELINE_DEPTH_CODE,
            "Maximum number of nested sub-pipelines exceeded. Limit is "
            f"{MAX_SUB_PIPELINE_DEPTH}: the pipeline nests {depth} $lookup and $unionWith "
            "stages inside one another",
        )


def _sub_pipeline_depth(pipeline: Any) -> int:
    """The most `$lookup` and `$unionWith` stages nested inside one another in `pipeline`.
    The input is at most `MAX_ARGUMENT_NESTING` levels deep, so the recursion is bounded."""
    deepest = 0
    for stage in pipeline if isinstance(pipeline, list | tuple) else ():
        for sub, level in _sub_pipelines(stage):
            deepest = max(deepest, level + _sub_pipeline_depth(sub))
    return deepest


def _sub_pipelines(stage: Any) -> Iterator[tuple[Any, int]]:
    """Each sub-pipeline of `stage` and the levels it adds: one for `$lookup` and
    `$unionWith` (even without a pipeline), none for `$facet`'s, as MongoDB counts them."""
    for name, arg in stage.items() if isinstance(stage, Mapping) else ():
        if name in ("$lookup", "$unionWith"):
            yield (arg.get("pipeline") if isinstance(arg, Mapping) else None), 1
        elif name == "$facet" and isinstance(arg, Mapping):
            yield from ((sub, 0) for sub in arg.values())


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
