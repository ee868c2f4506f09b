"""``insert_many`` of more values than one operation may hold, sent in parts.

An operation holds at most MAX_FRAME_VALUES values, which bounds what one costs the
server's event loop; a batch of more goes as several ``insert_many`` operations, one after
the other, as PyMongo splits a batch its server would refuse whole. The caller gets one
result, or one ``BulkWriteError`` counting and indexing as for the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bson.errors import InvalidDocument

from tessera.sandbox.frames import MAX_FRAME_VALUES, count_values, encode

# Values left in each part for the operation's own fields (method, collection, options).
_MARGIN = 256

Send = Callable[[list[Any]], Any]


def insert_in_parts(documents: Sequence[Any], ordered: bool, send: Send) -> dict[str, Any]:
    """Insert ``documents`` with ``send`` (one ``insert_many`` of a part, answering its
    result's fields), a part at a time; the fields of the whole batch's result."""
    from pymongo.errors import BulkWriteError

    inserted: list[Any] = []
    errors: list[dict[str, Any]] = []
    failed: dict[str, Any] = {}  # the last failing part's details (its other counts)
    count = offset = 0  # documents inserted, and those before this part
    for part in _parts(documents, MAX_FRAME_VALUES - _MARGIN):
        try:
            ids = send(part)["inserted_ids"]
        except BulkWriteError as exc:
            failed = dict(exc.details or {})
            count += failed.get("nInserted", 0)
            found = failed.get("writeErrors", [])
            errors += [{**e, "index": e.get("index", 0) + offset} for e in found]
            if ordered:
                break
        else:
            inserted += ids
            count += len(ids)
        offset += len(part)
    if errors:
        raise BulkWriteError({**failed, "writeErrors": errors, "nInserted": count})
    return {"inserted_ids": inserted}


def _parts(documents: Sequence[Any], limit: int) -> list[list[Any]]:
    """The documents in runs of at most ``limit`` values each; InvalidDocument, before
    any is sent, for a document of more."""
    parts: list[list[Any]] = []
    run: list[Any] = []
    used = 0
    for index, doc in enumerate(documents):
        size = 1 + count_values(encode(doc), limit)  # the document, and what it holds
        if size > limit:
            raise InvalidDocument(
                f"document {index} of the batch holds more than the {limit} values one "
                "sandbox operation carries: give it fewer (none of the batch was inserted)"
            )
        if run and used + size > limit:
            parts.append(run)
            run, used = [], 0
        run.append(doc)
        used += size
    if run:
        parts.append(run)
    return parts
