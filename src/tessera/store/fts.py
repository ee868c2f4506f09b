"""A text index's table: SQLite FTS5, holding each document's terms and their scores.

The table ``i<id>`` has one row per document that has indexed words, under the
document's row id: ``terms`` (the terms `text.analyze` makes, space separated, so the
FTS5 ``ascii`` tokenizer only splits them again) and ``scores`` (the terms' scores, read
back for the documents a search finds). FTS5 answers the terms, ORed, minus the negated
ones; phrases and case or diacritic sensitivity are checked on the documents it returns.
"""

import sqlite3
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from tessera.store import deadlines, documents, text
from tessera.store.catalog import CollectionInfo, IndexInfo

__all__ = ["add", "remove", "replace", "rows"]


def add(conn: sqlite3.Connection, index: IndexInfo, rid: int, doc: Mapping[str, Any]) -> None:
    """Index `doc`, stored under row id `rid` (a document without indexed words is left out)."""
    assert index.text is not None
    analyzed = text.analyze(index.text, doc)
    if analyzed.scores:
        conn.execute(
            f"INSERT INTO {index.table} (rowid, terms, scores) VALUES (?, ?, ?)",
            (rid, analyzed.text, orjson.dumps(analyzed.scores)),
        )


def remove(conn: sqlite3.Connection, index: IndexInfo, rid: int) -> None:
    conn.execute(f"DELETE FROM {index.table} WHERE rowid = ?", (rid,))


def replace(
    conn: sqlite3.Connection,
    index: IndexInfo,
    rid: int,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
) -> None:
    """Re-index a changed document, unless its indexed strings and language stayed."""
    spec = index.text
    assert spec is not None
    if spec.language_of(old) == spec.language_of(new) and list(spec.strings(old)) == list(
        spec.strings(new)
    ):
        return
    remove(conn, index, rid)
    add(conn, index, rid, new)


def rows(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    index: IndexInfo,
    search: text.Search,
    within: tuple[str, list[Any]] | None = None,
) -> Iterator[tuple[int, dict[str, Any], int, float]]:
    """(rid, document, BSON size, score) of each document the index finds for `search`,
    in row id order; `within` (a statement selecting row ids, and its arguments) limits
    them to those rows, as FTS5 reads them."""
    query = search.fts_query()
    if query is None:
        return
    sql = (
        f"SELECT d.rid, d.doc, t.scores FROM {index.table} AS t "
        f"JOIN {coll.table} AS d ON d.rid = t.rowid WHERE {index.table} MATCH ?"
    )
    args: list[Any] = [query]
    if within is not None:
        sql += f" AND t.rowid IN ({within[0]})"
        args.extend(within[1])
    wanted = search.score_terms()
    with deadlines.interruptible(conn):
        cur = conn.execute(f"{sql} ORDER BY t.rowid", args)
        for rid, data, scores in deadlines.checked(cur, 16):
            held = orjson.loads(scores)
            score = sum(held.get(term, 0.0) for term in wanted)
            yield rid, documents.decode(data), len(data), score
