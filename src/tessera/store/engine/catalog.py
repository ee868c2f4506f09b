"""The catalog: which databases, collections and indexes the file holds, and their tables.

The catalog lives in two small SQLite tables and is loaded whole on open (a few rows per
collection), so opening a large file reads nothing else. Each collection is a table
``c<id>`` of (rid, `_id` key, BSON document); each secondary index a table ``i<id>`` of
(key, rid), whose key comes from `keys.encode_key`.
"""

import copy
import functools
import itertools
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import OperationFailure, WriteError

from tessera.store.engine import keys, ttl
from tessera.store.query.text import TextSpec
from tessera.store.values.paths import MISSING, path_values, split_path

__all__ = [
    "ID_INDEX",
    "Catalog",
    "CollectionInfo",
    "IndexInfo",
    "index_entries",
    "is_text_key",
    "make_index",
    "normalize_index_keys",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tessera_collections (
    id INTEGER PRIMARY KEY,
    db TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (db, name)
);
CREATE TABLE IF NOT EXISTS tessera_indexes (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    is_unique INTEGER NOT NULL,
    is_sparse INTEGER NOT NULL,
    multikey INTEGER NOT NULL DEFAULT 0,
    options TEXT NOT NULL DEFAULT '{}',
    UNIQUE (collection_id, name)
);
"""

_NULL = (None,)
_EMPTY = (keys.EMPTY_ARRAY,)

# Index options accepted and reported back by list_indexes, but not enforced.
_PASSIVE_OPTIONS = {"expireAfterSeconds", "background"}


@dataclass
class IndexInfo:
    """One index: its fields with directions, flags, and table (None for ``_id_``)."""

    name: str
    fields: tuple[tuple[str, int], ...]
    unique: bool
    sparse: bool
    multikey: bool = False
    id: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    #: A text index's fields and languages (its `fields` are empty: no key to plan on).
    text: TextSpec | None = None

    @property
    def table(self) -> str | None:
        return None if self.name == "_id_" else f"i{self.id}"

    @functools.cached_property
    def directions(self) -> tuple[int, ...]:
        return tuple(direction for _, direction in self.fields)

    @functools.cached_property
    def top_level_names(self) -> tuple[str, ...] | None:
        """The field names when none is a dotted path (`index_entries`' fast path)."""
        names = tuple(name for name, _ in self.fields)
        return None if any("." in name for name in names) else names

    @property
    def key_pattern(self) -> dict[str, Any]:
        return dict(_TEXT_KEY) if self.text is not None else dict(self.fields)

    def describe(self) -> dict[str, Any]:
        """The index as ``list_indexes`` reports it."""
        out: dict[str, Any] = {"v": 2, "key": self.key_pattern, "name": self.name}
        if self.unique:
            out["unique"] = True
        if self.sparse:
            out["sparse"] = True
        out.update(self.options)
        return out


# How MongoDB shows any text index's key.
_TEXT_KEY = (("_fts", "text"), ("_ftsx", 1))

ID_INDEX = IndexInfo("_id_", (("_id", 1),), unique=True, sparse=False)


@dataclass
class CollectionInfo:
    """One collection: its id, table and secondary indexes by name."""

    id: int
    db: str
    name: str
    indexes: dict[str, IndexInfo] = field(default_factory=dict)
    #: The planner's plans for query shapes seen on this collection (see planner.py);
    #: whatever changes the indexes in place clears them.
    plans: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def table(self) -> str:
        return f"c{self.id}"

    def all_indexes(self) -> list[IndexInfo]:
        return [ID_INDEX, *self.indexes.values()]


class Catalog:
    """Collections by (database, name). The writer thread owns one; readers get copies."""

    def __init__(self, collections: dict[tuple[str, str], CollectionInfo]) -> None:
        self.collections = collections
        self.version = 0  # bumped by every change, so the writer knows when to publish
        # The readers' copy: a new multikey flag reaches it before the commit, because a
        # reader planning with a stale "not multikey" could miss documents.
        self.shadow: Catalog | None = None

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> "Catalog":
        colls: dict[tuple[str, str], CollectionInfo] = {}
        by_id: dict[int, CollectionInfo] = {}
        for cid, db, name in conn.execute("SELECT id, db, name FROM tessera_collections"):
            info = CollectionInfo(cid, db, name)
            colls[(db, name)] = info
            by_id[cid] = info
        rows = conn.execute(
            "SELECT id, collection_id, name, spec, is_unique, is_sparse, multikey, options "
            "FROM tessera_indexes ORDER BY id"
        )
        for iid, cid, name, spec, unique, sparse, multikey, options in rows:
            pairs = [tuple(pair) for pair in json.loads(spec)]
            opts = json.loads(options)
            if tuple(pairs) == _TEXT_KEY:
                by_id[cid].indexes[name] = _text_index(name, opts, iid)
                continue
            fields = tuple((f, int(d)) for f, d in pairs)
            by_id[cid].indexes[name] = IndexInfo(
                name, fields, bool(unique), bool(sparse), bool(multikey), iid, opts
            )
        return cls(colls)

    @staticmethod
    def create_schema(conn: sqlite3.Connection) -> None:
        conn.executescript(_SCHEMA)

    def copy(self) -> "Catalog":
        # Each collection's remembered plans become an empty dict, rather than copied.
        memo: dict[int, Any] = {id(info.plans): {} for info in self.collections.values()}
        return Catalog(copy.deepcopy(self.collections, memo))

    def get(self, db: str, name: str) -> CollectionInfo | None:
        return self.collections.get((db, name))

    def databases(self) -> list[str]:
        return sorted({db for db, _ in self.collections})

    def names(self, db: str) -> list[str]:
        return sorted(name for d, name in self.collections if d == db)

    def create_collection(self, conn: sqlite3.Connection, db: str, name: str) -> CollectionInfo:
        cur = conn.execute("INSERT INTO tessera_collections (db, name) VALUES (?, ?)", (db, name))
        info = CollectionInfo(int(cur.lastrowid or 0), db, name)
        conn.execute(
            f"CREATE TABLE {info.table} (rid INTEGER PRIMARY KEY, id BLOB NOT NULL UNIQUE, "
            "doc BLOB NOT NULL)"
        )
        self.collections[(db, name)] = info
        self.version += 1
        return info

    def drop_collection(self, conn: sqlite3.Connection, info: CollectionInfo) -> None:
        for index in info.indexes.values():
            conn.execute(f"DROP TABLE {index.table}")
        conn.execute("DELETE FROM tessera_indexes WHERE collection_id = ?", (info.id,))
        conn.execute(f"DROP TABLE {info.table}")
        conn.execute("DELETE FROM tessera_collections WHERE id = ?", (info.id,))
        del self.collections[(info.db, info.name)]
        self.version += 1

    def rename_collection(
        self, conn: sqlite3.Connection, info: CollectionInfo, db: str, name: str
    ) -> None:
        conn.execute(
            "UPDATE tessera_collections SET db = ?, name = ? WHERE id = ?", (db, name, info.id)
        )
        del self.collections[(info.db, info.name)]
        info.db, info.name = db, name
        self.collections[(db, name)] = info
        self.version += 1

    def add_index(self, conn: sqlite3.Connection, info: CollectionInfo, index: IndexInfo) -> None:
        cur = conn.execute(
            "INSERT INTO tessera_indexes (collection_id, name, spec, is_unique, is_sparse, "
            "options) VALUES (?, ?, ?, ?, ?, ?)",
            (
                info.id,
                index.name,
                json.dumps([list(f) for f in index.key_pattern.items()]),
                int(index.unique),
                int(index.sparse),
                json.dumps(index.options),
            ),
        )
        index.id = int(cur.lastrowid or 0)
        info.indexes[index.name] = index
        self._indexes_changed(info)
        if index.text is not None:
            # Terms arrive analysed (see fts.py): the tokenizer need only split at spaces
            # (its other separators are ASCII punctuation, which terms hold none of but the
            # underscore and the apostrophe).
            conn.execute(
                f"CREATE VIRTUAL TABLE {index.table} USING fts5(terms, scores UNINDEXED, "
                "tokenize = \"ascii tokenchars '_'''\", detail = 'none')"
            )
            return
        # A unique index keeps one row per key, so SQLite itself refuses a duplicate.
        primary = "key" if index.unique else "key, rid"
        conn.execute(
            f"CREATE TABLE {index.table} (key BLOB NOT NULL, rid INTEGER NOT NULL, "
            f"PRIMARY KEY ({primary})) WITHOUT ROWID"
        )
        conn.execute(f"CREATE INDEX {index.table}_rid ON {index.table} (rid)")

    def drop_index(self, conn: sqlite3.Connection, info: CollectionInfo, index: IndexInfo) -> None:
        conn.execute(f"DROP TABLE {index.table}")
        conn.execute("DELETE FROM tessera_indexes WHERE id = ?", (index.id,))
        del info.indexes[index.name]
        self._indexes_changed(info)

    def _indexes_changed(self, info: CollectionInfo) -> None:
        info.plans.clear()  # planned for the indexes as they were
        self.version += 1

    def mark_multikey(
        self, conn: sqlite3.Connection, info: CollectionInfo, index: IndexInfo
    ) -> None:
        conn.execute("UPDATE tessera_indexes SET multikey = 1 WHERE id = ?", (index.id,))
        index.multikey = True
        self._indexes_changed(info)
        published = self.shadow.get(info.db, info.name) if self.shadow else None
        if published is not None and index.name in published.indexes:
            published.indexes[index.name].multikey = True
            published.plans.clear()


def normalize_index_keys(keys_spec: Any) -> tuple[tuple[str, int], ...]:
    """Index keys given as a name, a list of (name, direction) pairs, or a dict."""
    if isinstance(keys_spec, str):
        pairs: Iterable[Any] = [(keys_spec, 1)]
    elif isinstance(keys_spec, Mapping):
        pairs = keys_spec.items()
    else:
        pairs = [(k, 1) if isinstance(k, str) else k for k in keys_spec]
    out: list[tuple[str, int]] = []
    for pair in pairs:
        name, direction = pair
        if isinstance(direction, bool) or direction not in (1, -1):
            raise OperationFailure(
                f"index direction for {name!r} must be 1 or -1 (got {direction!r}); "
                "text, hashed and geo indexes are not supported by the embedded store",
                code=67,
            )
        out.append((str(name), int(direction)))
    if not out:
        raise OperationFailure("index keys must name at least one field", code=67)
    return tuple(out)


def default_index_name(fields: tuple[tuple[str, Any], ...]) -> str:
    """PyMongo's default name: ``user_id_1_created_at_-1``."""
    return "_".join(f"{name}_{direction}" for name, direction in fields)


def make_index(keys_spec: Any, options: Mapping[str, Any]) -> IndexInfo:
    """An IndexInfo from create_index's arguments; unknown options are refused."""
    opts = dict(options)
    text_fields = _text_fields(keys_spec)
    if text_fields is not None:
        spec = TextSpec.build(text_fields, opts)
        name = opts.pop("name", None) or default_index_name(tuple((f, "text") for f in text_fields))
        opts.pop("sparse", None)  # a text index holds only documents with words anyway
        opts.pop("background", None)
        if opts:
            raise OperationFailure(
                f"text index option(s) {sorted(opts)} not supported by the embedded store", 67
            )
        return _text_index(name, spec.options())
    fields = normalize_index_keys(keys_spec)
    name = opts.pop("name", None) or default_index_name(fields)
    unique = bool(opts.pop("unique", False))
    sparse = bool(opts.pop("sparse", False))
    unknown = set(opts) - _PASSIVE_OPTIONS
    if unknown:
        raise OperationFailure(
            f"index option(s) {sorted(unknown)} not supported by the embedded store", code=67
        )
    ttl.check_ttl_option(fields, opts)
    return IndexInfo(name, fields, unique, sparse, options={k: opts[k] for k in sorted(opts)})


def _text_fields(keys_spec: Any) -> list[str] | None:
    """The fields of a text index's keys, None for keys with no "text" in them."""
    if not is_text_key(keys_spec):
        return None
    pairs = list(keys_spec.items() if isinstance(keys_spec, Mapping) else keys_spec)
    if not all(isinstance(p, list | tuple) and len(p) == 2 and p[1] == "text" for p in pairs):
        raise OperationFailure(
            "compound text indexes (text and other keys) are not supported by the embedded store",
            67,
        )
    fields = [str(name) for name, _ in pairs]
    if "$**" in fields:
        raise OperationFailure("wildcard text indexes are not supported by the embedded store", 67)
    return fields


def is_text_key(keys_spec: Any) -> bool:
    """Whether index keys name a text index (its fields, or MongoDB's ``_fts`` key)."""
    if isinstance(keys_spec, str):
        return False
    pairs = keys_spec.items() if isinstance(keys_spec, Mapping) else keys_spec
    return any(isinstance(p, list | tuple) and len(p) == 2 and p[1] == "text" for p in pairs)


def _text_index(name: str, options: dict[str, Any], iid: int = 0) -> IndexInfo:
    spec = TextSpec.build((), dict(options))
    return IndexInfo(name, (), False, False, False, iid, options, spec)


def index_entries(
    index: IndexInfo, doc: Mapping[str, Any]
) -> tuple[dict[bytes, tuple[Any, ...]], bool]:
    """The keys `doc` puts in `index`, each with the field values it stands for, and
    whether `doc` makes the index multikey (an array on one of its paths).

    An array gives one entry per element (an empty array one `EMPTY_ARRAY` entry); a
    missing field indexes as null, unless the index is sparse and every field is missing.
    """
    names = index.top_level_names
    if names is not None:
        # The common case, once per document written: top-level fields, no array.
        combo: list[Any] = []
        present = False
        for name in names:
            value = doc.get(name, MISSING)
            if value is MISSING:
                value = None
            elif isinstance(value, list):
                break
            else:
                present = True
            combo.append(value)
        else:
            if index.sparse and not present:
                return {}, False
            return {keys.encode_key(combo, index.directions): tuple(combo)}, False
    per_field: list[Sequence[Any]] = []
    array_fields: list[str] = []
    present = False
    for name, _ in index.fields:
        if "." not in name:
            # The common case: a top-level field, read directly.
            value = doc.get(name, MISSING)
            if value is MISSING:
                per_field.append(_NULL)
            elif isinstance(value, list):
                per_field.append(value or _EMPTY)
                array_fields.append(name)
                present = True
            else:
                per_field.append((value,))
                present = True
            continue
        values: list[Any] = []
        found = path_values(doc, split_path(name))
        for value in found:
            if value is MISSING:
                values.append(None)
            elif isinstance(value, list):
                values.extend(value or _EMPTY)
                present = True
            else:
                values.append(value)
                present = True
        if not values:
            values.append(None)
        if len(values) > 1 or any(isinstance(v, list) for v in found):
            array_fields.append(name)
        per_field.append(values)
    if index.sparse and not present:
        return {}, False
    directions = index.directions
    if not array_fields:
        first = tuple(field_values[0] for field_values in per_field)
        return {keys.encode_key(first, directions): first}, False
    roots = {name.split(".", 1)[0] for name in array_fields}
    if len(roots) > 1:
        raise WriteError(
            f"cannot index parallel arrays {sorted(array_fields)} in index {index.name!r}",
            code=171,
        )
    out: dict[bytes, tuple[Any, ...]] = {}
    for entry in itertools.product(*per_field):
        out.setdefault(keys.encode_key(entry, directions), entry)
    return out, True
