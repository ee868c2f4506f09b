"""A text index's table: SQLite FTS5, holding each document's terms and their scores.

The table ``i<id>`` has one row per document that has indexed words, under the
document's row id: ``terms`` (the terms `text.analyze` makes, space separated, so the
FTS5 ``ascii`` tokenizer only splits them again) and ``scores`` (the terms' scores, read
back for the documents a search finds). FTS5 answers the terms, ORed, minus the negated
ones; phrases and case or diacritic sensitivity are checked on the documents it returns.
"""

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from tessera.store.bounds import deadlines
from tessera.store.engine import documents
from tessera.store.engine.catalog import CollectionInfo, IndexInfo
from tessera.store.query import text

__all__ = ["WITHIN_ROWS", "add", "add_many", "count", "remove", "replace", "rows"]

#: Rows of the other conditions' index range a text search checks itself (see `rows`).
WITHIN_ROWS = 5000
_DOC_CHUNK = 64


def add(conn: sqlite3.Connection, index: IndexInfo, rid: int, doc: Mapping[str, Any]) -> None:
    """Index `doc`, stored under row id `rid` (a document without indexed words is left out)."""
    add_many(conn, index, [(rid, doc)])


def add_many(
    conn: sqlite3.Connection, index: IndexInfo, docs: Iterable[tuple[int, Mapping[str, Any]]]
) -> None:
    """Index each (row id, document) of `docs`, in one statement run many times."""
    spec = index.text
    assert spec is not None

    def rows() -> Iterator[tuple[int, str, bytes]]:
        for rid, doc in docs:
            analyzed = text.analyze(spec, doc)
            if analyzed.scores:
                yield rid, analyzed.text, orjson.dumps(analyzed.scores)

    conn.executemany(f"INSERT INTO {index.table} (rowid, terms, scores) VALUES (?, ?, ?)", rows())


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


def count(conn: sqlite3.Connection, index: IndexInfo, search: text.Search) -> int:
    """How many documents hold a searched term and no negated one, from FTS5 alone."""
    query = search.fts_query()
    if query is None:
        return 0
    with deadlines.interruptible(conn):
        sql = f"SELECT count(*) FROM {index.table} WHERE {index.table} MATCH ?"
        return int(conn.execute(sql, (query,)).fetchone()[0])


def rows(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    index: IndexInfo,
    search: text.Search,
    within: tuple[str, list[Any]] | None = None,
    after: int | None = None,
) -> Iterator[tuple[int, dict[str, Any], int, float]]:
    """(rid, document, BSON size, score) of each document the index finds for `search`,
    in row id order, past row `after` if given (a cursor's next batch); `within` (a
    statement selecting row ids, and its arguments) limits them to those rows.

    Up to `WITHIN_ROWS` rows within (one user's documents, say), their terms are read by
    row id and checked here: that costs those rows, where FTS5 would read every document
    of every user holding a common word. Past that, FTS5 answers and the rows filter it.
    """
    query = search.fts_query()
    if query is None:
        return
    wanted = search.score_terms()
    with deadlines.interruptible(conn):
        if within is not None:
            sql, args = within
            rids = [rid for (rid,) in conn.execute(f"{sql} LIMIT ?", [*args, WITHIN_ROWS + 1])]
            if len(rids) <= WITHIN_ROWS:
                rids = rids if after is None else [rid for rid in rids if rid > after]
                yield from _rows_within(conn, coll, index, search, rids)
                return
        sql = (
            f"SELECT d.rid, d.doc, t.scores FROM {index.table} AS t "
            f"JOIN {coll.table} AS d ON d.rid = t.rowid WHERE {index.table} MATCH ?"
        )
        args = [query]
        if after is not None:
            sql += " AND t.rowid > ?"
            args.append(after)
        if within is not None:
            sql += f" AND t.rowid IN ({within[0]})"
            args.extend(within[1])
        cur = conn.execute(f"{sql} ORDER BY t.rowid", args)
        for rid, data, scores in deadlines.checked(cur, 16):
            held = orjson.loads(scores)
            yield rid, documents.decode(data), len(data), sum(held.get(t, 0.0) for t in wanted)


def _rows_within(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    index: IndexInfo,
    search: text.Search,
    rids: list[int],
) -> Iterator[tuple[int, dict[str, Any], int, float]]:
    """The rows of `rids` that hold the search's terms, their documents read
    `_DOC_CHUNK` at a time, so a read that stops early (a limit) reads few."""
    wanted = search.score_terms()
    # FTS5's own content table (id, c0: terms, c1: scores) is a plain rowid table: read
    # there, a row costs about half a lookup through the FTS5 table.
    terms = conn.execute(
        f"SELECT id, c1 FROM {index.table}_content WHERE id IN (SELECT value FROM json_each(?)) "
        "ORDER BY id",
        (orjson.dumps(rids).decode(),),
    )
    found: dict[int, float] = {}
    for rid, scores in deadlines.checked(terms, 64):
        held = orjson.loads(scores)
        if search.holds(held):
            found[rid] = sum(held.get(t, 0.0) for t in wanted)
            if len(found) >= _DOC_CHUNK:
                yield from _scored_docs(conn, coll, found)
                found = {}
    yield from _scored_docs(conn, coll, found)


def _scored_docs(
    conn: sqlite3.Connection, coll: CollectionInfo, scores: dict[int, float]
) -> Iterator[tuple[int, dict[str, Any], int, float]]:
    docs = conn.execute(
        f"SELECT rid, doc FROM {coll.table} WHERE rid IN (SELECT value FROM json_each(?)) "
        "ORDER BY rid",
        (orjson.dumps(list(scores)).decode(),),
    )
    for rid, data in docs.fetchall():
        yield rid, documents.decode(data), len(data), scores[rid]
