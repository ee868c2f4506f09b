"""The query language over plain Python documents: filters compiled into predicates
(`filters`, with ``$regex`` in `query_regex`, the bit operators in `bitwise` and the
time-limited regular expressions of `patterns`), projections (`projection`), sort
specifications and keys (`sorting`) and text search semantics (`text`). It knows nothing
of SQLite or of the API and leans on `values`; `filters` imports aggregation's
expressions for ``$expr``, ``$exists`` and ``$type`` inside the functions that use them,
since aggregation's ``$match`` compiles filters.
"""
