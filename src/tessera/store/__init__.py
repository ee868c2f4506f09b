"""The document store: an embedded engine on SQLite, or MongoDB, behind PyMongo's async API."""

from tessera.store.client import Client, open_client

__all__ = ["Client", "open_client"]
