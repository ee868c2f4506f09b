"""Update documents over plain Python documents: `update` checks an update once and applies
it (field operators, replacements, and update pipelines through aggregation),
`update_arrays` holds the array operators, `update_values` the error codes and stored
copies they share, `positional` what an update's ``$`` stands for, and `upserts` the
document an upsert starts from. It leans on `query`, `aggregation` and `values`, and
knows nothing of SQLite: the engine's writes call it.
"""
