"""External sorting, for a blocking sort that opted in with ``allowDiskUse``.

Documents are sorted in runs of at most `RUN_BYTES` of BSON; each run past the first
goes to a temporary file, and the runs are merged as they are read. Memory then holds
one run while sorting and one document per run while merging, whatever the result's
size. The files are unlinked once open, so nothing is left behind, even after a crash.
"""

import heapq
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import bson

__all__ = ["RUN_BYTES", "external_sort"]

#: The BSON bytes one sorted run holds in memory before it is written out.
RUN_BYTES = 16 * 1024 * 1024
_LENGTH = struct.Struct("<i")


def external_sort(
    rows: Iterable[tuple[dict[str, Any], int]], key: Callable[[dict[str, Any]], Any]
) -> Iterator[tuple[dict[str, Any], int]]:
    """(document, BSON size) pairs of `rows`, ordered by `key`; every row is read before
    this returns. Ties keep the order they came in (``heapq.merge`` prefers earlier runs)."""
    runs: list[IO[bytes]] = []
    held: list[tuple[dict[str, Any], int]] = []
    used = 0
    for row in rows:
        held.append(row)
        used += row[1]
        if used >= RUN_BYTES:
            runs.append(_written(sorted(held, key=lambda r: key(r[0]))))
            held, used = [], 0
    last = sorted(held, key=lambda r: key(r[0]))
    if not runs:
        return iter(last)
    merged = heapq.merge(*(_read(run) for run in runs), iter(last), key=lambda r: key(r[0]))
    return iter(merged)


def _written(run: list[tuple[dict[str, Any], int]]) -> IO[bytes]:
    """`run` in a temporary file, read back from its start."""
    # Not a `with`: the merge reads the file later, and `_read` closes it.
    out = tempfile.TemporaryFile(prefix="tessera-sort-")  # noqa: SIM115
    for doc, _ in run:
        out.write(bson.encode(doc))
    out.seek(0)
    return out


def _read(run: IO[bytes]) -> Iterator[tuple[dict[str, Any], int]]:
    with run:
        while header := run.read(4):
            (size,) = _LENGTH.unpack(header)
            yield bson.decode(header + run.read(size - 4)), size
