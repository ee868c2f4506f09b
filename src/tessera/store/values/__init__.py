"""BSON values as MongoDB reads and orders them: dotted paths through documents and arrays
(`paths`) and one comparison order for every type (`ordering`), so that filters, sorts,
``$group`` and index keys cannot disagree. Every other room leans on these two; they lean
on nothing else in the store.
"""
