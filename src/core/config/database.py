"""``db``: the calling app's database (PyMongo async interface)."""

from tessera.services.database import db

__all__ = ["db"]
