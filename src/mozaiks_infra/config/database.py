"""``core.config.database`` under the contract's current name: the same objects."""

from core.config.database import db, settings_collection, users_collection

__all__ = ["db", "settings_collection", "users_collection"]
