"""What one operation may spend before it fails as MongoDB fails it: memory (`limits`:
blocking sorts, accumulators, ``$range``, 16 MB documents) and time (`deadlines`: the
operation's ``maxTimeMS`` and the caller's deadline, checked in Python loops and by
SQLite's progress handler). Aggregation, the engine and the API all check them; they lean
on nothing else in the store.
"""
