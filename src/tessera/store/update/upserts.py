"""The document an upsert inserts starts from its filter's equalities (MongoDB's rule)."""

from collections.abc import Mapping
from typing import Any

from tessera.store.query.filters import is_operator_document
from tessera.store.query.query_regex import is_regex
from tessera.store.update.update_values import NOT_SINGLE_VALUE, Path, stored_copy, write_error
from tessera.store.values.paths import split_path


def upsert_seed(query: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields an upsert's new document starts with: the filter's equalities.

    Top-level fields and those inside ``$and`` that compare with a value (plainly or
    with ``$eq``) are copied; dotted paths make embedded documents.
    """
    seed: dict[str, Any] = {}
    paths: list[Path] = []
    _seed_from(query or {}, seed, paths)
    return seed


def _seed_from(query: Mapping[str, Any], seed: dict[str, Any], paths: list[Path]) -> None:
    for key, value in query.items():
        if key == "$and" and isinstance(value, list):
            for sub in value:
                _seed_from(sub, seed, paths)
            continue
        if key.startswith("$"):
            continue
        if is_operator_document(value):
            if "$eq" not in value:
                continue
            value = value["$eq"]
        elif is_regex(value):
            continue
        parts = split_path(key)
        for other in paths:
            shorter = min(len(other), len(parts))
            if other[:shorter] == parts[:shorter]:
                raise write_error(
                    f"cannot infer query fields to set, path '{key}' is matched twice",
                    NOT_SINGLE_VALUE,
                )
        paths.append(parts)
        container: dict[str, Any] = seed
        for part in parts[:-1]:
            container = container.setdefault(part, {})
        container[parts[-1]] = stored_copy(value)
