"""The stages that reshape each document: `$project`, `$addFields`/`$set`, `$unset`,
`$replaceRoot` and `$replaceWith`.

A projection or an added-fields spec parses into a field tree (field name -> include,
exclude, a compiled expression, or a nested tree), which each document is then walked
against once.
"""

from collections.abc import Mapping
from typing import Any

from tessera.store.aggregation.expressions import (
    check_field_name,
    compile_expression,
    failure,
    is_number,
    type_name,
)
from tessera.store.aggregation.pipeline import Documents, Run
from tessera.store.bounds.deadlines import checked
from tessera.store.values.paths import MISSING

_INCLUDE = "include"
_EXCLUDE = "exclude"


class _Computed:
    """A field whose value is an expression, compiled once for the stage."""

    __slots__ = ("evaluate",)

    def __init__(self, expr: Any) -> None:
        self.evaluate = compile_expression(expr)


# A field tree: field name -> _INCLUDE, _EXCLUDE, _Computed or a nested tree.
_Tree = dict[str, Any]


def is_expression_object(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and next(iter(value)).startswith("$")


def _field_tree(stage: str, spec: Mapping[str, Any], flags: bool) -> _Tree:
    """Parse a `$project` (`flags`: 0/1 mean exclude/include) or `$addFields` spec."""
    tree: _Tree = {}
    for path, value in spec.items():
        if not isinstance(path, str) or not path:
            raise failure(40352, f"{stage}: field paths must be non-empty strings, not {path!r}")
        parts = path.split(".")
        for part in parts:
            check_field_name(part)
        if isinstance(value, Mapping) and not is_expression_object(value):
            if not value:
                if flags:
                    message = "An empty sub-projection is not a valid value."
                    raise failure(51270, f"{message} Found empty object at path {path}")
                node: Any = _Computed({})
            else:
                node = _field_tree(stage, value, flags)
        elif flags and (isinstance(value, bool) or is_number(value)):
            node = _INCLUDE if value else _EXCLUDE
        else:
            node = _Computed(value)
        _insert(tree, parts, node, path)
    return tree


def _insert(tree: _Tree, parts: list[str], node: Any, path: str) -> None:
    for part in parts[:-1]:
        child = tree.setdefault(part, {})
        if not isinstance(child, dict):
            raise failure(31250, f"Invalid specification: path collision at {path}")
        tree = child
    last = parts[-1]
    if last in tree:
        existing = tree[last]
        if isinstance(existing, dict) and isinstance(node, dict):
            for key, value in node.items():
                _insert(existing, [key], value, f"{path}.{key}")
            return
        raise failure(31250, f"Invalid specification: path collision at {path}")
    tree[last] = node


def _tree_kinds(tree: _Tree, top: bool = True) -> set[str]:
    kinds = set()
    for name, node in tree.items():
        if isinstance(node, dict):
            kinds |= _tree_kinds(node, top=False)
        elif isinstance(node, _Computed):
            kinds.add("computed")
        elif not (top and name == "_id"):
            kinds.add(node)
    return kinds


_INVALID_PROJECT = "Invalid $project :: caused by ::"


def _first_path(tree: _Tree, kind: str) -> str:
    """The dotted path of the first non-`_id` field of `kind` in `tree`, for messages."""
    for name, node in tree.items():
        if node == kind and name != "_id":
            return name
        if isinstance(node, dict) and kind in _tree_kinds(node, top=False):
            return f"{name}.{_first_path(node, kind)}"
    return ""


def project_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(15969, "$project specification must be an object")
    if not arg:
        raise failure(
            51272, f"{_INVALID_PROJECT} projection specification must have at least one field"
        )
    tree = _field_tree("$project", arg, flags=True)
    kinds = _tree_kinds(tree)
    if _EXCLUDE in kinds:
        if _INCLUDE in kinds:
            path = _first_path(tree, _EXCLUDE)
            message = (
                f"{_INVALID_PROJECT} Cannot do exclusion on field {path} in inclusion projection"
            )
            raise failure(31254, message)
        if "computed" in kinds:
            message = (
                f"{_INVALID_PROJECT} Cannot use expression other than $meta in exclusion projection"
            )
            raise failure(31252, message)
        return [_exclude(doc, tree) for doc in checked(docs)]
    if not kinds and tree.get("_id") == _EXCLUDE:
        return [_exclude(doc, tree) for doc in checked(docs)]
    tree.setdefault("_id", _INCLUDE)
    if tree["_id"] == _EXCLUDE:
        del tree["_id"]
    if "computed" in kinds:
        run.footprint.forget()
    return [_id_first(_include(doc, tree, run, doc)) for doc in checked(docs)]


def _id_first(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with `_id` leading, where MongoDB puts it even when `$project` computes it."""
    if "_id" not in doc or next(iter(doc)) == "_id":
        return doc
    return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


def _include(
    doc: Mapping[str, Any], tree: _Tree, run: Run, root: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        node = tree.get(name)
        if node is _INCLUDE:
            out[name] = value
        elif isinstance(node, dict):
            projected = _include_value(value, node, run, root)
            if projected is not MISSING:
                out[name] = projected
    for name, node in tree.items():
        if isinstance(node, _Computed):
            value = node.evaluate(root, run.variables)
            if value is not MISSING:
                out[name] = value
        elif isinstance(node, dict) and name not in doc and "computed" in _tree_kinds(node, False):
            out[name] = _include({}, node, run, root)
    return out


def _include_value(value: Any, tree: _Tree, run: Run, root: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return _include(value, tree, run, root)
    if isinstance(value, list):
        out = [_include_value(item, tree, run, root) for item in value]
        return [item for item in out if item is not MISSING]
    if "computed" in _tree_kinds(tree, False):
        return _include({}, tree, run, root)
    return MISSING


def _exclude(doc: Mapping[str, Any], tree: _Tree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        node = tree.get(name)
        if node is _EXCLUDE:
            continue
        out[name] = _exclude_value(value, node) if isinstance(node, dict) else value
    return out


def _exclude_value(value: Any, tree: _Tree) -> Any:
    if isinstance(value, Mapping):
        return _exclude(value, tree)
    if isinstance(value, list):
        return [_exclude_value(item, tree) for item in value]
    return value


def unset_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    fields = [arg] if isinstance(arg, str) else arg
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise failure(
            31002, "$unset specification must be a string or an array containing only string values"
        )
    tree = _field_tree("$unset", dict.fromkeys(fields, 0), flags=True)
    return [_exclude(doc, tree) for doc in checked(docs)]


def add_fields_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    if not isinstance(arg, Mapping):
        raise failure(40272, "$addFields specification stage must be an object")
    tree = _field_tree("$addFields", arg, flags=False)
    run.footprint.forget()
    return [_set_fields(doc, tree, run, doc) for doc in checked(docs)]


def _set_fields(
    doc: Mapping[str, Any], tree: _Tree, run: Run, root: Mapping[str, Any]
) -> dict[str, Any]:
    out = dict(doc)
    for name, node in tree.items():
        if isinstance(node, _Computed):
            value = node.evaluate(root, run.variables)
        else:
            value = _set_value(doc.get(name, MISSING), node, run, root)
        if value is MISSING:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def _set_value(value: Any, tree: _Tree, run: Run, root: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return _set_fields(value, tree, run, root)
    if isinstance(value, list):
        return [_set_value(item, tree, run, root) for item in value]
    return _set_fields({}, tree, run, root)


def _new_root(docs: Documents, expr: Any, run: Run) -> Documents:
    run.footprint.forget()
    out = []
    for doc in checked(docs):
        value = run.evaluate(expr, doc)
        if not isinstance(value, Mapping):
            shown = "missing" if value is MISSING else repr(value)
            raise failure(
                40228,
                f"'newRoot' expression must evaluate to an object, but resulting value was: "
                f"{shown}. Type of resulting value: '{type_name(value)}'. Input document: {doc!r}",
            )
        out.append(dict(value))
    return out


def replace_root_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    if not isinstance(arg, Mapping) or "newRoot" not in arg:
        raise failure(40231, "no newRoot specified for the $replaceRoot stage")
    for key in arg:
        if key != "newRoot":
            raise failure(40415, f"BSON field '$replaceRoot.{key}' is an unknown field.")
    return _new_root(docs, arg["newRoot"], run)


def replace_with_stage(docs: Documents, arg: Any, run: Run) -> Documents:
    return _new_root(docs, arg, run)
