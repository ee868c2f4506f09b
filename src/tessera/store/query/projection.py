"""find() projections: which fields of each result document come back.

`compile_projection` parses a projection once into a tree of field names and returns a
function building each projected document. Projected documents share unchanged values
with the source document; callers hand out freshly decoded documents, so nothing leaks.
"""

from collections.abc import Callable, Mapping
from typing import Any

from pymongo.errors import OperationFailure

from tessera.store.query.filters import compile_conditions, compile_filter, is_operator_document
from tessera.store.query.text import score_of
from tessera.store.values.ordering import NUMBER, sort_value, type_rank
from tessera.store.values.paths import split_path

Projector = Callable[[dict[str, Any]], dict[str, Any]]

INCLUSION_IN_EXCLUSION = 31253
EXCLUSION_IN_INCLUSION = 31254
PATH_COLLISION = 31250


def _fail(message: str, code: int = 2) -> OperationFailure:
    return OperationFailure(message, code, {"ok": 0, "errmsg": message, "code": code})


class _Slice:
    """A ``$slice`` on one array field: `skip` may count from the end."""

    __slots__ = ("limit", "skip")

    def __init__(self, spec: Any) -> None:
        if isinstance(spec, list):
            if len(spec) != 2 or not all(_integer(x) for x in spec):
                raise _fail("$slice takes a number or a [skip, limit] pair of numbers", 28724)
            self.skip, self.limit = int(spec[0]), int(spec[1])
            if self.limit <= 0:
                raise _fail(f"$slice limit must be positive, got {self.limit}", 28724)
        elif _integer(spec):
            count = int(spec)
            self.skip, self.limit = (0, count) if count >= 0 else (count, -count)
        else:
            raise _fail("$slice takes a number or a [skip, limit] pair of numbers", 28667)

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        start = self.skip if self.skip >= 0 else max(0, len(value) + self.skip)
        return value[start : start + self.limit]


class _ElemMatch:
    """An ``$elemMatch`` projection: the first array element satisfying the condition."""

    __slots__ = ("test",)

    def __init__(self, spec: Any) -> None:
        if not isinstance(spec, Mapping):
            raise _fail("$elemMatch needs an Object")
        if is_operator_document(spec):
            conditions = compile_conditions(spec)
            self.test: Callable[[Any], bool] = lambda item: all(c.element(item) for c in conditions)
        else:
            matches = compile_filter(spec)
            self.test = lambda item: isinstance(item, Mapping) and matches(item)

    def first(self, value: Any) -> list[Any] | None:
        if not isinstance(value, list):
            return None
        for item in value:
            if self.test(item):
                return [item]
        return None


def _integer(value: Any) -> bool:
    if type_rank(value) != NUMBER or isinstance(value, bool):
        return False
    key = sort_value(value)
    return len(key) == 3 and key[2] == int(key[2])


def _truthy_flag(value: Any) -> bool | None:
    """True for inclusion, False for exclusion, None when `value` is not a flag."""
    if isinstance(value, bool):
        return value
    if type_rank(value) == NUMBER:
        return sort_value(value) != sort_value(0)
    return None


def compile_projection(projection: Mapping[str, Any] | list[str] | None) -> Projector | None:
    """A function projecting one document, or None when every field is returned.

    Raises OperationFailure for a projection MongoDB refuses (mixing inclusion and
    exclusion, a path collision, an unsupported operator).
    """
    if projection is None:
        return None
    if isinstance(projection, (list, tuple)):
        projection = {name: 1 for name in projection}
    if not isinstance(projection, Mapping):
        raise TypeError(
            f"projection must be a dict or a list of field names, not {type(projection)}"
        )
    if not projection:
        return None
    metas = {path: value for path, value in projection.items() if _is_meta(path, value)}
    if metas:
        rest = {path: value for path, value in projection.items() if path not in metas}
        return _with_scores(compile_projection(rest), list(metas))
    tree: dict[str, Any] = {}
    include_id = True
    id_only = False
    inclusive: bool | None = None
    elem_matches: dict[str, _ElemMatch] = {}
    for path, value in projection.items():
        if not isinstance(path, str) or not path or path.startswith("$"):
            raise _fail(f"projection field names must be non-empty and not start with $: {path!r}")
        if path.endswith(".$") or ".$." in path:
            raise _fail(
                f"the positional projection {path!r} is not supported by the embedded store: "
                f"use $elemMatch"
            )
        leaf = _leaf(path, value)
        if path == "_id" and isinstance(leaf, bool):
            include_id = id_only = leaf
            continue
        if isinstance(leaf, _ElemMatch):
            if "." in path:
                raise _fail(f"Cannot use $elemMatch projection on a nested field: {path}", 31275)
            elem_matches[path] = leaf
            leaf = True
        if isinstance(leaf, bool) and path not in elem_matches:
            if inclusive is None:
                inclusive = leaf
            elif inclusive != leaf:
                if inclusive:
                    raise _fail(
                        f"Cannot do exclusion on field {path} in inclusion projection",
                        EXCLUSION_IN_INCLUSION,
                    )
                raise _fail(
                    f"Cannot do inclusion on field {path} in exclusion projection",
                    INCLUSION_IN_EXCLUSION,
                )
        _add(tree, split_path(path), leaf)
    if elem_matches and inclusive is False:
        field = next(iter(elem_matches))
        raise _fail(
            f"Cannot do inclusion on field {field} in exclusion projection",
            INCLUSION_IN_EXCLUSION,
        )
    if inclusive is None and (elem_matches or id_only):
        inclusive = True
    if inclusive:
        if include_id and "_id" not in tree:
            tree = {"_id": True, **tree}
        return _inclusion(tree, elem_matches)
    if not include_id:
        tree["_id"] = False
    return lambda doc: _exclude(doc, tree)


def _is_meta(path: Any, value: Any) -> bool:
    """Whether ``path: value`` asks for metadata; only a top-level text score is known."""
    if not (isinstance(value, Mapping) and "$meta" in value):
        return False
    if dict(value) != {"$meta": "textScore"} or not isinstance(path, str) or "." in path:
        raise _fail(
            f"projection {path!r}: {value!r}: the embedded store knows only a top-level "
            '{"$meta": "textScore"}'
        )
    return True


def _with_scores(project: Projector | None, fields: list[str]) -> Projector:
    """`project`, then the text score set in each of `fields` (as MongoDB adds it last)."""

    def with_scores(doc: dict[str, Any]) -> dict[str, Any]:
        score = score_of(doc)
        out = dict(doc) if project is None else project(doc)
        for field in fields:
            out[field] = score
        return out

    return with_scores


def _leaf(path: str, value: Any) -> bool | _Slice | _ElemMatch:
    flag = _truthy_flag(value)
    if flag is not None:
        return flag
    if isinstance(value, Mapping) and len(value) == 1:
        ((op, arg),) = value.items()
        if op == "$slice":
            return _Slice(arg)
        if op == "$elemMatch":
            return _ElemMatch(arg)
    raise _fail(
        f"projection value {value!r} for {path!r} is not supported by the embedded store: "
        f"use 1, 0, $slice or $elemMatch (or aggregate() for computed fields)"
    )


def _add(tree: dict[str, Any], parts: tuple[str, ...], leaf: Any) -> None:
    node = tree
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise _fail(
                f"Path collision at {'.'.join(parts)} remaining portion "
                f"{'.'.join(parts[depth + 1 :])}",
                PATH_COLLISION,
            )
        node = child
    if parts[-1] in node:
        raise _fail(f"Path collision at {'.'.join(parts)}", PATH_COLLISION)
    node[parts[-1]] = leaf


def _inclusion(tree: dict[str, Any], elem_matches: dict[str, _ElemMatch]) -> Projector:
    def project(doc: dict[str, Any]) -> dict[str, Any]:
        out = _include(doc, tree, elem_matches)
        # MongoDB places $elemMatch results after the other included fields.
        for field, elem_match in elem_matches.items():
            first = elem_match.first(doc.get(field))
            if first is not None:
                out[field] = first
        return out

    return project


def _include(doc: Mapping[str, Any], tree: dict[str, Any], skip: Mapping[str, Any]) -> dict:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        spec = tree.get(key)
        if spec is None or key in skip:
            continue
        if spec is True:
            out[key] = value
        elif isinstance(spec, _Slice):
            out[key] = spec(value)
        elif isinstance(value, (Mapping, list)):
            out[key] = _include_in(value, spec)
    return out


def _include_in(value: Any, tree: dict[str, Any]) -> Any:
    """`value` projected on `tree`; scalars inside arrays are dropped, arrays kept."""
    if isinstance(value, Mapping):
        return _include(value, tree, {})
    return [_include_in(item, tree) for item in value if isinstance(item, (Mapping, list))]


def _exclude(doc: Mapping[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        spec = tree.get(key)
        if spec is None:
            out[key] = value
        elif spec is False:
            continue
        elif isinstance(spec, _Slice):
            out[key] = spec(value)
        else:
            out[key] = _exclude_in(value, spec)
    return out


def _exclude_in(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return _exclude(value, tree)
    if isinstance(value, list):
        return [_exclude_in(item, tree) for item in value]
    return value
