"""Reading documents through a plan: index ranges or a scan, re-checked, sorted, sliced.

These functions take a SQLite connection and run on whichever thread owns it: a reader
thread, the writer thread (for the read half of an update), or the event loop for point
reads.
"""

import contextlib
import heapq
import itertools
import sqlite3
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

import bson

from tessera.store.bounds import deadlines
from tessera.store.bounds.limits import BLOCKING_BYTES, sort_error
from tessera.store.engine import documents, fts
from tessera.store.engine.catalog import ID_INDEX, CollectionInfo
from tessera.store.engine.planner import Plan, id_lookup, plan_query
from tessera.store.query import text
from tessera.store.query.filters import Matcher, compile_filter
from tessera.store.query.sorting import sort_key
from tessera.store.query.text import Scored
from tessera.store.values.paths import MISSING

__all__ = [
    "by_id",
    "by_rid",
    "count",
    "filter_of",
    "find",
    "matches",
    "matching_rids",
    "rechecks",
    "residual_match",
    "rows",
    "text_rows",
]

Row = tuple[int, dict[str, Any]]
SizedRow = tuple[int, dict[str, Any], int]  # with the document's BSON size
# Sorting with a limit keeps this many rows at least before it prunes to the limit.
_PRUNE_ROWS = 1024
# A scan reads the clock every this many rows, for the work its consumer does on each
# (matching, sorting); SQLite's progress handler covers the statement itself.
_CHECK_ROWS = 16
# Many rows fetched at once are decoded this many at a time, the clock read in between
# (bson decodes 256 small documents in about 0.3 ms).
_DECODE_ROWS = 256


def rows(
    conn: sqlite3.Connection, coll: CollectionInfo, plan: Plan
) -> Generator[SizedRow, None, None]:
    """(rid, document, BSON size) for every candidate of `plan`, each document once.

    Close it when stopping on an error (`contextlib.closing`): until then its statement
    holds the connection's read snapshot, and the connection's next reads see no newer
    commit. Stops with the running job's time (see `deadlines`).
    """
    if plan.text is not None:
        yield from text_rows(conn, coll, plan)
        return
    with deadlines.interruptible(conn):
        if plan.index is None:
            with contextlib.closing(
                conn.execute(f"SELECT rid, doc FROM {coll.table} ORDER BY rid")
            ) as cur:
                for rid, data in deadlines.checked(cur, _CHECK_ROWS):
                    yield rid, documents.decode(data), len(data)
            return
        seen: set[int] | None = set() if plan.index.multikey or len(plan.ranges) > 1 else None
        for low, high in reversed(plan.ranges) if plan.reverse else plan.ranges:
            sql, args = _range_sql(coll, plan, low, high)
            with contextlib.closing(conn.execute(sql, args)) as cur:
                for rid, data in deadlines.checked(cur, _CHECK_ROWS):
                    if seen is not None:
                        if rid in seen:
                            continue
                        seen.add(rid)
                    yield rid, documents.decode(data), len(data)


def text_rows(
    conn: sqlite3.Connection, coll: CollectionInfo, plan: Plan, after: int | None = None
) -> Generator[SizedRow, None, None]:
    """A text plan's candidates in row id order (past row `after`), each document
    carrying its score (see `text.Scored`)."""
    assert plan.text is not None
    within = None
    if plan.text.within is not None:
        # The rows of the other conditions' index ranges, as one statement FTS5 joins.
        parts = [
            _range_sql(coll, plan.text.within, lo, hi, docs=False)
            for lo, hi in plan.text.within.ranges
        ]
        within = (
            " UNION ALL ".join(f"SELECT * FROM ({sql})" for sql, _ in parts),
            [arg for _, args in parts for arg in args],
        )
    found = fts.rows(conn, coll, plan.text.index, plan.text.search, within, after)
    for rid, doc, size, score in found:
        yield rid, Scored(doc, score), size


def rechecks(coll: CollectionInfo, filter: Mapping[str, Any]) -> Matcher:
    """The compiled filter for documents read by row id, outside any plan: a ``$text``
    is then decided from the document's own terms, as the index would hold them."""
    plan = plan_query(coll, filter)
    if plan.text is None:
        return compile_filter(filter)
    spec, search, rest = plan.text.index.text, plan.text.search, filter_of(plan, filter)
    assert spec is not None
    return lambda doc: rest(doc) and search.holds(text.analyze(spec, doc).scores)


def filter_of(plan: Plan, filter: Mapping[str, Any]) -> Matcher:
    """The compiled filter that checks a candidate of `plan`: for a text plan, the rest
    of the filter and what the text index leaves to check (see `text.Search.residual`)."""
    if plan.text is None:
        return compile_filter(filter)
    rest = compile_filter(plan.text.rest)
    spec, search = plan.text.index.text, plan.text.search
    assert spec is not None
    # The rest first: a scoped filter's user_id is then tested before anything else.
    return lambda doc: rest(doc) and search.residual(spec, doc)


def _range_sql(
    coll: CollectionInfo, plan: Plan, low: bytes | None, high: bytes | None, docs: bool = True
) -> tuple[str, list[Any]]:
    """The statement reading one index range of `plan` in order: (rid, doc) rows, or
    only the rids (`docs=False`), which the index alone gives."""
    assert plan.index is not None
    if plan.index is ID_INDEX:
        sql = f"SELECT rid{', doc' if docs else ''} FROM {coll.table} WHERE 1"
        column = "id"
    elif docs:
        sql = (
            f"SELECT d.rid, d.doc FROM {plan.index.table} AS i "
            f"JOIN {coll.table} AS d ON d.rid = i.rid WHERE 1"
        )
        column = "i.key"
    else:
        sql = f"SELECT i.rid FROM {plan.index.table} AS i WHERE 1"
        column = "i.key"
    where, args = key_bounds(column, low, high)
    return f"{sql}{where} ORDER BY {column}{' DESC' if plan.reverse else ''}", args


def key_bounds(column: str, low: bytes | None, high: bytes | None) -> tuple[str, list[Any]]:
    """The SQL conditions keeping ``column`` in an index range ``[low, high)`` (None: open),
    to follow a ``WHERE 1``, and their arguments."""
    sql, args = "", []
    if low is not None:
        sql += f" AND {column} >= ?"
        args.append(low)
    if high is not None:
        sql += f" AND {column} < ?"
        args.append(high)
    return sql, args


def _exact_slice(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    plan: Plan,
    skip: int,
    limit: int,
    sizes: list[int] | None,
) -> list[Row]:
    """The rows of a plan that decides the filter alone: SQLite does skip and limit."""
    sql, args = _range_sql(coll, plan, *plan.ranges[0])
    with deadlines.interruptible(conn):
        found = conn.execute(f"{sql} LIMIT ? OFFSET ?", [*args, limit or -1, skip]).fetchall()
    docs = _decode_all(found)
    if sizes is not None:
        sizes.extend(len(data) for _, data in found)
    return [(rid, doc) for (rid, _), doc in zip(found, docs, strict=True)]


def _decode_all(found: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    """The documents of (rid, BSON) rows; many are decoded a few hundred at a time, with
    the running job's time checked in between."""
    if len(found) <= _DECODE_ROWS:
        return bson.decode_all(b"".join(data for _, data in found))
    docs: list[dict[str, Any]] = []
    for start in deadlines.checked(range(0, len(found), _DECODE_ROWS)):
        chunk = found[start : start + _DECODE_ROWS]
        docs.extend(bson.decode_all(b"".join(data for _, data in chunk)))
    return docs


def by_id(conn: sqlite3.Connection, coll: CollectionInfo | None, key: bytes) -> Row | None:
    """The document whose `_id` key is `key` (see `planner.exact_id_key`), if any."""
    row = _by_id(conn, coll, key)
    return None if row is None else (row[0], row[1])


def residual_match(
    doc: Mapping[str, Any], others: Sequence[tuple[str, Any]], filter: Mapping[str, Any]
) -> bool:
    """Whether the document an `_id` lookup found matches the rest of `filter`, the plain
    equalities `planner.id_lookup` set apart: a point read needs no plan and no compiled
    filter. A stored value of the clause's own type compares with ``==``; any other (an
    array, an Int64, a float) is left to the matcher, which knows MongoDB's rules."""
    for name, value in others:
        found = doc.get(name, MISSING)
        if type(found) is not type(value):
            return compile_filter(filter)(doc)
        if found != value:
            return False
    return True


def by_rid(conn: sqlite3.Connection, coll: CollectionInfo, rid: int) -> dict[str, Any] | None:
    """The document stored under row id `rid`, if it is still there."""
    row = conn.execute(f"SELECT doc FROM {coll.table} WHERE rid = ?", (rid,)).fetchone()
    return None if row is None else documents.decode(row[0])


def _by_id(conn: sqlite3.Connection, coll: CollectionInfo | None, key: bytes) -> SizedRow | None:
    if coll is None:
        return None
    row = conn.execute(f"SELECT rid, doc FROM {coll.table} WHERE id = ?", (key,)).fetchone()
    return None if row is None else (row[0], documents.decode(row[1]), len(row[1]))


def matches(
    conn: sqlite3.Connection,
    coll: CollectionInfo | None,
    filter: Mapping[str, Any] | None,
    *,
    sort: Sequence[tuple[str, int]] | None = None,
    skip: int = 0,
    limit: int = 0,
    plan: Plan | None = None,
    sizes: list[int] | None = None,
) -> list[Row]:
    """The matching (rid, document) rows in `sort` order, after `skip`, at most `limit`.

    `sizes`, if given, gets the BSON size of each row returned. A sort no index gives
    holds at most `limits.BLOCKING_BYTES` of documents, or fails with MongoDB's error.
    """
    filter = filter or {}
    lookup = id_lookup(filter)
    if lookup is not None:
        key, others = lookup
        row = _by_id(conn, coll, key)
        if row is None or skip or (others and not residual_match(row[1], others, filter)):
            return []
        return _strip([row], sizes)
    if coll is None:
        plan_query(coll, filter)  # $text needs a text index even on a missing collection
        compile_filter(filter)  # a bad filter is an error even on a missing collection
        return []
    plan = plan or plan_query(coll, filter, sort)
    if decides_alone(plan, sort):
        return _exact_slice(conn, coll, plan, skip, limit, sizes)
    matcher = filter_of(plan, filter)
    end = skip + limit if limit else None
    with contextlib.closing(rows(conn, coll, plan)) as candidates:
        if sort and not plan.sorted:
            matching = (row for row in candidates if matcher(row[1]))
            ordered = _sort_rows(matching, _row_key(sort_key(list(sort))), skip + limit)
            return _strip(ordered[skip:end], sizes)
        if sizes is not None:
            sized = (row for row in candidates if matcher(row[1]))
            return _strip(list(itertools.islice(sized, skip, end)), sizes)
        found = ((rid, doc) for rid, doc, _ in candidates if matcher(doc))
        return list(itertools.islice(found, skip, end))


def _sort_rows(
    found: Iterable[SizedRow], order: Callable[[SizedRow], Any], keep: int
) -> list[SizedRow]:
    """`found` sorted by `order`, only the first `keep` rows if `keep` (0: all).

    The rows held may total `limits.BLOCKING_BYTES`, as MongoDB bounds a blocking sort:
    with a limit, the rows beyond it are dropped whenever enough have gathered, and the
    sort fails only if the rows it must keep are over the limit.
    """
    held: list[SizedRow] = []
    used = 0
    for row in found:
        held.append(row)
        used += row[2]
        if used > BLOCKING_BYTES or (keep and len(held) >= max(2 * keep, _PRUNE_ROWS)):
            if not keep:
                raise sort_error()
            held = heapq.nsmallest(keep, held, key=order)
            used = sum(size for _, _, size in held)
            if used > BLOCKING_BYTES:
                raise sort_error()
    return heapq.nsmallest(keep, held, key=order) if keep else sorted(held, key=order)


def matching_rids(
    conn: sqlite3.Connection, coll: CollectionInfo | None, filter: Mapping[str, Any]
) -> list[int]:
    """The row ids of the matching documents, in `matches` order: from the index alone,
    with no document read, when its range decides the filter."""
    if coll is None or id_lookup(filter) is not None:
        return [rid for rid, _ in matches(conn, coll, filter)]
    plan = plan_query(coll, filter, None)
    if plan.exact and plan.index is not None and not plan.index.multikey and len(plan.ranges) == 1:
        sql, args = _range_sql(coll, plan, *plan.ranges[0], docs=False)
        with deadlines.interruptible(conn):
            return [rid for (rid,) in conn.execute(sql, args)]
    return [rid for rid, _ in matches(conn, coll, filter, plan=plan)]


def _strip(found: list[SizedRow], sizes: list[int] | None) -> list[Row]:
    if sizes is not None:
        sizes.extend(size for _, _, size in found)
    return [(rid, doc) for rid, doc, _ in found]


def find(
    conn: sqlite3.Connection,
    coll: CollectionInfo | None,
    filter: Mapping[str, Any] | None,
    *,
    sort: Sequence[tuple[str, int]] | None = None,
    skip: int = 0,
    limit: int = 0,
    plan: Plan | None = None,
    sizes: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The matching documents, as `matches` orders and slices them (and sizes them)."""
    found = matches(conn, coll, filter, sort=sort, skip=skip, limit=limit, plan=plan, sizes=sizes)
    return [doc for _, doc in found]


def count(
    conn: sqlite3.Connection,
    coll: CollectionInfo | None,
    filter: Mapping[str, Any] | None,
    *,
    skip: int = 0,
    limit: int = 0,
) -> int:
    """How many documents match; from the index alone when its ranges decide the filter."""
    filter = filter or {}
    if coll is None:
        plan_query(coll, filter)
        compile_filter(filter)
        return 0
    plan = plan_query(coll, filter)
    matcher = filter_of(plan, filter)
    if plan.index is None and not filter:
        total = conn.execute(f"SELECT COUNT(*) FROM {coll.table}").fetchone()[0]
    elif plan.exact and plan.index is not None and len(plan.ranges) == 1:
        with deadlines.interruptible(conn):
            total = _count_range(conn, coll, plan)
    elif plan.text is not None and not plan.text.rest and plan.text.search.index_decides:
        total = fts.count(conn, plan.text.index, plan.text.search)
    else:
        with contextlib.closing(rows(conn, coll, plan)) as candidates:
            total = sum(1 for _, doc, _ in candidates if matcher(doc))
    total = max(0, total - skip)
    return min(total, limit) if limit else total


def _count_range(conn: sqlite3.Connection, coll: CollectionInfo, plan: Plan) -> int:
    assert plan.index is not None
    low, high = plan.ranges[0]
    if plan.index is ID_INDEX:
        table, column, what = coll.table, "id", "COUNT(*)"
    else:
        table, column = plan.index.table or "", "key"
        what = "COUNT(DISTINCT rid)" if plan.index.multikey else "COUNT(*)"
    sql = f"SELECT {what} FROM {table} WHERE 1"
    args: list[bytes] = []
    if low is not None:
        sql += f" AND {column} >= ?"
        args.append(low)
    if high is not None:
        sql += f" AND {column} < ?"
        args.append(high)
    return int(conn.execute(sql, args).fetchone()[0])


def _row_key(key: Callable[[Any], Any]) -> Callable[[SizedRow], Any]:
    return lambda row: key(row[1])


def decides_alone(plan: Plan, sort: Any) -> bool:
    """Whether the plan's single index range decides the filter (plain equalities), each
    row once, in the order asked: its rows are the answer, with no filter to run."""
    return (
        plan.exact
        and plan.index is not None
        and not plan.index.multikey
        and len(plan.ranges) == 1
        and (plan.sorted or not sort)
    )
