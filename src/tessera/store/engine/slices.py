"""Slices of the writer's time, so that one caller's large write cannot hold the writer.

Every write runs on the one writer thread, a job at a time: one update_many over 50,000
documents held it for a minute, and every other caller's writes waited. A write of many
documents (update_many, delete_many, insert_many, bulk_write; see `many` and `bulk`)
therefore runs as a sequence of write jobs, each working for about `SLICE_SECONDS` (at
least one document or request) and committing on its own. The writes other callers
queue meanwhile run between two slices: they wait at most one slice, not the whole
write. As in MongoDB, such a write is atomic per document (per request of a bulk
write), not as a whole: its results are those of one job, but an error part way leaves
the slices before it done, as MongoDB leaves the documents it changed before the error.
"""

from time import monotonic

__all__ = ["INSERT_CHUNK", "SLICE_SECONDS", "Slice"]

#: The writer's time a slice takes before it hands over. Measured (2-core VM, 50,000
#: documents, another caller inserting one document at random moments): that caller
#: waits at most about one slice (max 12, 15, 25 and 52-60 ms at 5, 10, 20 and 50 ms),
#: against the whole write unsliced (0.4-3.6 s here, a minute in the review). Each slice
#: costs the large write about 1 ms outside its work (a commit with its fsync, a trip
#: through the event loop): 20 % of a 5 ms slice, 10 % at 10 ms, 5 % at 20 ms, 2 % at 50
#: ms. 20 ms keeps both small; on a disk slower to fsync, shorter slices cost more.
SLICE_SECONDS = 0.02
#: Documents an insert_many slice prepares and stores in one batch of statements; it
#: stops sooner when the slice's time runs out, and looks at the clock between batches.
#: Storing a batch takes about as long again as preparing it, so without this bound a
#: slice of small documents ran to 40 ms; with 500 it stays near 25 ms (1,000: 29 ms).
INSERT_CHUNK = 500


class Slice:
    """The time one slice of a many-document write has, from its start."""

    __slots__ = ("ends",)

    def __init__(self) -> None:
        self.ends = monotonic() + SLICE_SECONDS

    def over(self) -> bool:
        """Whether the slice should hand the writer over now."""
        return monotonic() >= self.ends
