"""The embedded engine: one SQLite file, what it holds and how jobs run on it. `engine` runs
writes on one writer thread and reads on reader threads served in turns (`fair_queue`);
`catalog`, `documents`, `keys` and `fts` are the file's tables, BSON documents,
order-preserving index keys and text indexes; `planner`, `reads` and `stream` answer
queries, `spill` sorts past memory, `writes` and `slices` change documents a slice of the
writer's time at a time; `ttl` expires documents and `faults` turns disk errors into
MongoDB's. It leans on `query` and `update` to judge and change documents, and on `values`
and `bounds`. It knows nothing of the API, except that `ttl`'s monitor deletes through the
client it is given.
"""
