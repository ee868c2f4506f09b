"""Reading documents through a plan: index ranges or a scan, re-checked, sorted, sliced.

These functions take a SQLite connection and run on whichever thread owns it: a reader
thread, the writer thread (for the read half of an update), or the event loop for point
reads.
"""

import heapq
import itertools
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import bson

from tessera.store import documents
from tessera.store.catalog import ID_INDEX, CollectionInfo
from tessera.store.planner import Plan, exact_id_key, plan_query
from tessera.store.query import compile_filter
from tessera.store.sorting import sort_key

__all__ = ["by_id", "count", "find", "matches", "rows"]

Row = tuple[int, dict[str, Any]]


def rows(conn: sqlite3.Connection, coll: CollectionInfo, plan: Plan) -> Iterator[Row]:
    """(rid, document) for every candidate of `plan`, each document once."""
    if plan.index is None:
        for rid, data in conn.execute(f"SELECT rid, doc FROM {coll.table} ORDER BY rid"):
            yield rid, documents.decode(data)
        return
    seen: set[int] | None = set() if plan.index.multikey or len(plan.ranges) > 1 else None
    for low, high in reversed(plan.ranges) if plan.reverse else plan.ranges:
        sql, args = _range_sql(coll, plan, low, high)
        for rid, data in conn.execute(sql, args):
            if seen is not None:
                if rid in seen:
                    continue
                seen.add(rid)
            yield rid, documents.decode(data)


def _range_sql(
    coll: CollectionInfo, plan: Plan, low: bytes | None, high: bytes | None
) -> tuple[str, list[Any]]:
    assert plan.index is not None
    if plan.index is ID_INDEX:
        sql = f"SELECT rid, doc FROM {coll.table} WHERE 1"
        column = "id"
    else:
        sql = (
            f"SELECT d.rid, d.doc FROM {plan.index.table} AS i "
            f"JOIN {coll.table} AS d ON d.rid = i.rid WHERE 1"
        )
        column = "i.key"
    args: list[Any] = []
    if low is not None:
        sql += f" AND {column} >= ?"
        args.append(low)
    if high is not None:
        sql += f" AND {column} < ?"
        args.append(high)
    return f"{sql} ORDER BY {column}{' DESC' if plan.reverse else ''}", args


def _exact_slice(
    conn: sqlite3.Connection, coll: CollectionInfo, plan: Plan, skip: int, limit: int
) -> list[Row]:
    """The rows of a plan that decides the filter alone: SQLite does skip and limit."""
    sql, args = _range_sql(coll, plan, *plan.ranges[0])
    found = conn.execute(f"{sql} LIMIT ? OFFSET ?", [*args, limit or -1, skip]).fetchall()
    docs = bson.decode_all(b"".join(data for _, data in found))
    return [(rid, doc) for (rid, _), doc in zip(found, docs, strict=True)]


def by_id(conn: sqlite3.Connection, coll: CollectionInfo | None, key: bytes) -> Row | None:
    """The document whose `_id` key is `key` (see `planner.exact_id_key`), if any."""
    if coll is None:
        return None
    row = conn.execute(f"SELECT rid, doc FROM {coll.table} WHERE id = ?", (key,)).fetchone()
    return None if row is None else (row[0], documents.decode(row[1]))


def matches(
    conn: sqlite3.Connection,
    coll: CollectionInfo | None,
    filter: Mapping[str, Any] | None,
    *,
    sort: Sequence[tuple[str, int]] | None = None,
    skip: int = 0,
    limit: int = 0,
    plan: Plan | None = None,
) -> list[Row]:
    """The matching (rid, document) rows in `sort` order, after `skip`, at most `limit`."""
    filter = filter or {}
    key = exact_id_key(filter)
    if key is not None:
        row = by_id(conn, coll, key)
        return [] if row is None or skip else [row]
    if coll is None:
        compile_filter(filter)  # a bad filter is an error even on a missing collection
        return []
    plan = plan or plan_query(coll, filter, sort)
    # An exact plan's filter is plain equalities that the index range decides alone.
    if (
        plan.exact
        and plan.index is not None
        and not plan.index.multikey
        and len(plan.ranges) == 1
        and (plan.sorted or not sort)
    ):
        return _exact_slice(conn, coll, plan, skip, limit)
    matcher = compile_filter(filter)
    found = ((rid, doc) for rid, doc in rows(conn, coll, plan) if matcher(doc))
    if sort and not plan.sorted:
        order = _row_key(sort_key(list(sort)))
        ordered = (
            heapq.nsmallest(skip + limit, found, key=order) if limit else sorted(found, key=order)
        )
        return ordered[skip : skip + limit] if limit else ordered[skip:]
    return list(itertools.islice(found, skip, skip + limit if limit else None))


def find(
    conn: sqlite3.Connection,
    coll: CollectionInfo | None,
    filter: Mapping[str, Any] | None,
    *,
    sort: Sequence[tuple[str, int]] | None = None,
    skip: int = 0,
    limit: int = 0,
    plan: Plan | None = None,
) -> list[dict[str, Any]]:
    """The matching documents, as `matches` orders and slices them."""
    found = matches(conn, coll, filter, sort=sort, skip=skip, limit=limit, plan=plan)
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
    matcher = compile_filter(filter)
    if coll is None:
        return 0
    plan = plan_query(coll, filter)
    if plan.index is None and not filter:
        total = conn.execute(f"SELECT COUNT(*) FROM {coll.table}").fetchone()[0]
    elif plan.exact and plan.index is not None and len(plan.ranges) == 1:
        total = _count_range(conn, coll, plan)
    else:
        total = sum(1 for _, doc in rows(conn, coll, plan) if matcher(doc))
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


def _row_key(key: Callable[[Any], Any]) -> Callable[[Row], Any]:
    return lambda row: key(row[1])
