"""update_many and delete_many, in slices of the writer's time (see `slices`).

The first slice is the whole write as one job has always run it: match the filter, then
change the matches in order. A write that fits its slice is therefore exactly what it
was. Past its slice it hands over, and later slices change the rest of what it matched;
if matching alone took the slice, a reader thread lists the matches instead (a snapshot
read, off the writer). A later slice reads each document again and changes it only if
it still matches: other writes may have come in between, as in MongoDB, which yields
between documents too.
"""

import functools
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tessera.store.bounds import deadlines
from tessera.store.bounds.deadlines import Limit, SliceEnded
from tessera.store.engine import reads, writes
from tessera.store.engine.catalog import Catalog, CollectionInfo
from tessera.store.engine.slices import Slice
from tessera.store.update.update import Apply

if TYPE_CHECKING:
    from tessera.store.engine.engine import Engine

__all__ = ["Many", "Progress", "run_many"]


@dataclass(frozen=True)
class Many:
    """An update_many (`change` is the update) or a delete_many (`change` is None)."""

    db: str
    name: str
    filter: Mapping[str, Any]
    change: Any = None
    upsert: bool = False
    array_filters: Sequence[Mapping[str, Any]] | None = None


@dataclass
class Progress:
    """What slices did: documents matched (deleted, for a delete), modified, upserted
    (its `_id`, in a list of one), and the row ids left for the next slices."""

    n: int = 0
    modified: int = 0
    upserted: list[Any] = field(default_factory=list)
    rest: list[int] = field(default_factory=list)
    listed: bool = False  # the matches were listed by a reader, not by the first slice
    next: int = 0  # a later slice: where in `rest` the next one starts


async def run_many(engine: "Engine", many: Many, limit: Limit | None) -> Progress:
    """Run `many` in slices; what it did, as one job would report it."""
    total = await _first(engine, many, limit)
    while total.next < len(total.rest):
        job = functools.partial(next_slice, many=many, rids=total.rest, start=total.next)
        # Committed alone: a job committed with a slice would wait for all of it.
        part = await engine.write(job, limit=limit, alone=True)
        total.n += part.n
        total.modified += part.modified
        total.next = part.next
    if total.listed and many.upsert and not total.n:
        # Nothing matched by the time the slices ran: the upsert, as one job decides it.
        return await engine.write(functools.partial(_whole, many=many), limit=limit)
    return total


async def _first(engine: "Engine", many: Many, limit: Limit | None) -> Progress:
    try:
        return await engine.write(functools.partial(first_slice, many=many), limit=limit)
    except SliceEnded:
        rids = await engine.read(functools.partial(matching, many=many), limit=limit)
        return Progress(rest=rids, listed=True)


def first_slice(conn: sqlite3.Connection, catalog: Catalog, many: Many) -> Progress:
    """The write as one job runs it, until the slice ends: then the matches not changed
    yet are left in `rest`; SliceEnded if matching alone took the slice."""
    part = Slice()
    apply = _compile(many)
    coll = catalog.get(many.db, many.name)
    with deadlines.budget(part.ends):
        found = reads.matches(conn, coll, many.filter)
    if not found:
        if many.upsert and many.change is not None:
            upserted = writes.insert_upsert(
                conn, catalog, many.db, many.name, many.filter, many.change, apply
            )
            return Progress(n=1, upserted=[upserted])
        return Progress()
    assert coll is not None
    progress = Progress()
    for i, (rid, doc) in enumerate(deadlines.checked(found)):
        if i and part.over():
            progress.rest = [rid for rid, _ in found[i:]]
            break
        _change(conn, coll, catalog, many, apply, rid, doc, progress)
    return progress


def next_slice(
    conn: sqlite3.Connection, catalog: Catalog, many: Many, rids: list[int], start: int
) -> Progress:
    """Change the documents of `rids[start:]` that still match, until the slice ends;
    `next` is where the following slice starts."""
    part = Slice()
    apply = _compile(many)
    coll = catalog.get(many.db, many.name)
    progress = Progress(next=len(rids))
    if coll is None:
        return progress  # dropped meanwhile: nothing left to change
    matcher = reads.rechecks(coll, many.filter)
    for i in deadlines.checked(range(start, len(rids))):
        if i > start and part.over():
            progress.next = i
            break
        doc = reads.by_rid(conn, coll, rids[i])
        if doc is not None and matcher(doc):
            _change(conn, coll, catalog, many, apply, rids[i], doc, progress)
    return progress


def matching(conn: sqlite3.Connection, catalog: Catalog, many: Many) -> list[int]:
    """The row ids of what `many` matches, in the order one job would change them."""
    return reads.matching_rids(conn, catalog.get(many.db, many.name), many.filter)


def _whole(conn: sqlite3.Connection, catalog: Catalog, many: Many) -> Progress:
    raw = writes.update(
        conn,
        catalog,
        many.db,
        many.name,
        many.filter,
        many.change,
        multi=True,
        upsert=many.upsert,
        array_filters=many.array_filters,
    )
    upserted = [raw["upserted"]] if "upserted" in raw else []
    return Progress(n=raw["n"], modified=raw["nModified"], upserted=upserted)


def _compile(many: Many) -> Apply | None:
    """The update, compiled and checked before anything is written (None: a delete)."""
    if many.change is None:
        return None
    return writes.compile_change(many.change, many.filter, many.array_filters, False)


def _change(
    conn: sqlite3.Connection,
    coll: CollectionInfo,
    catalog: Catalog,
    many: Many,
    apply: Apply | None,
    rid: int,
    doc: dict[str, Any],
    progress: Progress,
) -> None:
    progress.n += 1
    if many.change is None:
        writes.remove(conn, coll, rid)
    elif writes.modify(conn, coll, catalog, rid, doc, many.change, apply):
        progress.modified += 1
