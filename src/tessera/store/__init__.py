"""The document store: an embedded engine on SQLite, or MongoDB, behind PyMongo's async API.

Each sub-package is one room, listed here from the bottom up: `values` (paths and BSON
order), `bounds` (memory and time limits), `query` (filters, projections, sorts, text
search), `aggregation` (pipelines and expressions), `update` (update documents), `engine`
(SQLite: storage, indexes, plans, reads, writes) and `api` (PyMongo's client, databases,
collections, cursors). `mongo` is the MongoDB backend.
"""

from tessera.store.api.client import Client, open_client

__all__ = ["Client", "open_client"]
