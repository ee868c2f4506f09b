"""Who owns a written document: inserts and replacements carry the caller's ``user_id``,
and no update may hand a document to someone else.

Each check returns the problem as a sentence, or None when the write is fine.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from tessera.isolation.scope import SERVER_CODE_PROBLEM, runs_server_code

FIELD = "user_id"
# Pipeline-update stages that set named fields and leave the others alone.
_FIELD_STAGES = frozenset({"$set", "$addFields"})


def document_problem(document: Any, user_id: str) -> str | None:
    """A document to insert or a replacement: its ``user_id``, if any, must be the caller's."""
    if not isinstance(document, Mapping) or FIELD not in document:
        return None
    owner = document[FIELD]
    if type(owner) is str and owner == user_id:
        return None
    return (
        f"the document's user_id {owner!r} is not the caller's; leave user_id out "
        "(the runtime sets it) or set it to data['user_id']"
    )


def claim(document: Any, user_id: str) -> None:
    """Give a document without ``user_id`` the caller's (in place, as PyMongo adds ``_id``)."""
    if isinstance(document, MutableMapping) and FIELD not in document:
        document[FIELD] = user_id


def update_problem(update: Any, user_id: str) -> str | None:
    """An update document or pipeline may not change ``user_id``."""
    if isinstance(update, list | tuple):
        return _pipeline_update_problem(update)
    if not isinstance(update, Mapping):
        return None  # the store refuses it with its own error
    if runs_server_code(update):
        return SERVER_CODE_PROBLEM
    for operator, fields in update.items():
        if not isinstance(fields, Mapping):
            continue
        for path, value in fields.items():
            targets = [path, value] if operator == "$rename" else [path]
            if not any(_touches_owner(t) for t in targets):
                continue
            keeps_owner = operator in ("$set", "$setOnInsert") and path == FIELD
            if not (keeps_owner and type(value) is str and value == user_id):
                return f"the update may not change user_id ({operator} on {path!r})"
    return None


def _pipeline_update_problem(stages: Any) -> str | None:
    if runs_server_code(stages):
        return SERVER_CODE_PROBLEM
    for stage in stages:
        if not isinstance(stage, Mapping) or len(stage) != 1:
            return None  # malformed: the store refuses it
        ((name, arg),) = stage.items()
        if name in _FIELD_STAGES and isinstance(arg, Mapping):
            if any(_touches_owner(path) for path in arg):
                return f"the update pipeline may not change user_id ({name})"
        elif name == "$unset":
            paths = [arg] if isinstance(arg, str) else arg
            if isinstance(paths, list) and any(_touches_owner(p) for p in paths):
                return "the update pipeline may not remove user_id ($unset)"
        else:
            return (
                f"the update pipeline stage {name} may rewrite user_id; use $set/$unset on "
                "other fields"
            )
    return None


def _touches_owner(path: Any) -> bool:
    return isinstance(path, str) and (path == FIELD or path.startswith(FIELD + "."))
